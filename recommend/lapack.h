// Private: the Fortran BLAS / LAPACK entry points EASE uses (LP64, column-major). Debian's
// libopenblas provides them through liblapack.so.3 / libblas.so.3. The trailing size_t
// arguments are the hidden lengths of the character arguments (gfortran's convention).
#pragma once

#include <cstddef>

extern "C" {
void ssyrk_(const char* uplo, const char* trans, const int* n, const int* k, const float* alpha,
            const float* a, const int* lda, const float* beta, float* c, const int* ldc,
            size_t uplo_len, size_t trans_len);
void spotrf_(const char* uplo, const int* n, float* a, const int* lda, int* info, size_t uplo_len);
void spotri_(const char* uplo, const int* n, float* a, const int* lda, int* info, size_t uplo_len);
}
