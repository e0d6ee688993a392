#include "recommend/ease.h"

#include <omp.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <new>
#include <string>

#include "recommend/lapack.h"

namespace reco {
namespace recommend {
namespace {

std::string GiB(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f GiB", bytes / double(1 << 30));
  return buf;
}

// G (n x n, full, symmetric) = X'X from co-occurring pairs: row i of G sums, over the users
// of item i, their weight on i times their row. Each thread owns whole rows of G.
void SparseGram(const InteractionMatrix& x, int threads, float* g) {
  const int64_t n = x.num_items();
  const InteractionMatrix cols = x.Transposed();
#pragma omp parallel for schedule(dynamic, 8) num_threads(threads)
  for (int64_t i = 0; i < n; ++i) {
    float* row = g + i * n;
    const uint32_t* users = cols.RowItems(uint32_t(i));
    const float* wi = cols.RowWeights(uint32_t(i));
    for (size_t p = 0; p < cols.RowSize(uint32_t(i)); ++p) {
      const uint32_t u = users[p];
      const uint32_t* items = x.RowItems(u);
      const float* wu = x.RowWeights(u);
      const float w = wi[p];
      for (size_t q = 0; q < x.RowSize(u); ++q) row[items[q]] += w * wu[q];
    }
  }
}

// G = X'X with BLAS: blocks of users densified (block x n, row-major, which BLAS reads as the
// column-major n x block matrix X_b') and accumulated with ssyrk into the upper triangle
// (column-major) of G.
void DenseGram(const InteractionMatrix& x, float* g) {
  const int n = int(x.num_items());
  const int block = 256;
  std::vector<float> dense(size_t(block) * n);
  const char uplo = 'U', trans = 'N';
  for (uint32_t start = 0; start < x.num_users(); start += block) {
    const int rows = int(std::min<uint32_t>(block, x.num_users() - start));
    std::fill(dense.begin(), dense.begin() + size_t(rows) * n, 0.0f);
    for (int r = 0; r < rows; ++r) {
      const uint32_t u = start + r;
      for (size_t q = 0; q < x.RowSize(u); ++q) {
        dense[size_t(r) * n + x.RowItems(u)[q]] = x.RowWeights(u)[q];
      }
    }
    const float alpha = 1.0f, beta = 1.0f;
    ssyrk_(&uplo, &trans, &n, &rows, &alpha, dense.data(), &n, &beta, g, &n, 1, 1);
  }
}

}  // namespace

Status Ease::Fit(const InteractionMatrix& train) {
  const uint32_t n = train.num_items();
  if (n == 0) return Status::InvalidArgument("train: no items");
  if (!(options_.lambda > 0)) {
    return Status::InvalidArgument("EASE lambda: must be > 0, got " +
                                   std::to_string(options_.lambda));
  }
  const size_t bytes = MemoryBytes(n);
  if (bytes > options_.max_memory_bytes || n > uint32_t(INT_MAX)) {
    return Status::OutOfRange("EASE needs an n x n float matrix: " + std::to_string(n) +
                              " items need " + GiB(double(bytes)) + ", above max_memory_bytes (" +
                              GiB(double(options_.max_memory_bytes)) +
                              "); raise the limit or use a factor model (BPR-MF)");
  }
  const int threads = options_.num_threads > 0 ? options_.num_threads : omp_get_max_threads();

  // Drop the previous model first, so that memory peaks at one n x n matrix.
  std::vector<float>().swap(b_);
  train_ = InteractionMatrix();
  SetShape(0, 0);
  std::vector<float> p;
  try {
    p.assign(size_t(n) * n, 0.0f);
  } catch (const std::bad_alloc&) {
    return Status::OutOfRange("EASE: cannot allocate " + GiB(double(bytes)) + " for " +
                              std::to_string(n) + " items");
  }
  GramMethod method = options_.gram;
  if (method == GramMethod::kAuto) {
    // Pairs touched by the sparse pass vs. multiply-adds of ssyrk (which runs ~30x faster
    // per operation).
    double pairs = 0;
    for (uint32_t u = 0; u < train.num_users(); ++u)
      pairs += double(train.RowSize(u)) * train.RowSize(u);
    const double dense = double(train.num_users()) * n * n / 2;
    method = pairs * 30 < dense ? GramMethod::kSparse : GramMethod::kDense;
  }
  if (method == GramMethod::kSparse) {
    SparseGram(train, threads, p.data());
  } else {
    DenseGram(train, p.data());
  }
  for (uint32_t i = 0; i < n; ++i) p[size_t(i) * n + i] += options_.lambda;

  // Cholesky factor and inverse; both read and write the upper triangle (column-major), which
  // both Gram paths fill.
  const int nn = int(n);
  const char uplo = 'U';
  int info = 0;
  spotrf_(&uplo, &nn, p.data(), &nn, &info, 1);
  if (info != 0) {
    return Status::Internal("EASE: Cholesky factorisation failed (spotrf info " +
                            std::to_string(info) +
                            "); X'X + lambda I is not positive definite "
                            "in float precision, raise lambda");
  }
  spotri_(&uplo, &nn, p.data(), &nn, &info, 1);
  if (info != 0) {
    return Status::Internal("EASE: inverse failed (spotri info " + std::to_string(info) + ")");
  }
  // Mirror the upper triangle (column-major: element (r, c), r <= c, at c * n + r) and form
  // B[i][j] = -P[i][j] / P[j][j], B[i][i] = 0 in place.
  float* a = p.data();
  const int64_t n64 = n;
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads)
  for (int64_t c = 0; c < n64; ++c) {
    for (int64_t r = c + 1; r < n64; ++r) a[c * n64 + r] = a[r * n64 + c];
  }
  std::vector<float> diag(n);
  for (uint32_t j = 0; j < n; ++j) diag[j] = a[size_t(j) * n + j];
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t i = 0; i < n64; ++i) {
    float* row = a + i * n64;
    for (int64_t j = 0; j < n64; ++j) row[j] = -row[j] / diag[j];
    row[i] = 0.0f;
  }
  train_ = train;
  b_ = std::move(p);
  SetShape(train.num_users(), n);
  return Status::OK();
}

void Ease::ScoreUser(uint32_t user, float* scores) const {
  Status st =
      ScoreItems(train_.RowItems(user), train_.RowWeights(user), train_.RowSize(user), scores);
  (void)st;  // never fails for checked input
}

Status Ease::ScoreItems(const uint32_t* items, const float* weights, size_t count,
                        float* scores) const {
  const size_t n = num_items();
  for (size_t p = 0; p < count; ++p) {
    const float* row = b_.data() + size_t(items[p]) * n;
    const float w = weights[p];
    for (size_t j = 0; j < n; ++j) scores[j] += w * row[j];
  }
  return Status::OK();
}

}  // namespace recommend
}  // namespace reco
