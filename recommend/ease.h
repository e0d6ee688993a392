// EASE (Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse Data"): a dense item-item
// weight matrix in closed form,
//   P = (X'X + lambda I)^-1,  B = I - P diagMat(1 / diag(P)),  diag(B) = 0,
// computed with LAPACK (Cholesky spotrf + spotri). The score of item j for a user with row x is
// (x B)_j. Memory is n^2 floats for n items, so Fit refuses catalogues above a limit.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "recommend/recommender.h"

namespace reco {
namespace recommend {

enum class GramMethod {
  kAuto,    // pick by estimated cost
  kSparse,  // accumulate X'X from co-occurring pairs (OpenMP over item rows)
  kDense,   // densify blocks of users and call BLAS ssyrk
};

struct EaseOptions {
  float lambda = 300.0f;                      // L2 regularisation on B; > 0
  size_t max_memory_bytes = size_t(4) << 30;  // refuse when n^2 floats exceed this
  GramMethod gram = GramMethod::kAuto;        // how X'X is computed
  int num_threads = 0;                        // OpenMP threads outside BLAS; 0 = default
};

class Ease : public Recommender {
 public:
  explicit Ease(EaseOptions options = {}) : options_(options) {}
  std::string Name() const override { return "EASE"; }
  // OutOfRange (naming the item count, the bytes needed and the limit) when the matrix would
  // not fit max_memory_bytes; InvalidArgument for lambda <= 0. A refit drops the previous
  // model before it allocates, so memory peaks at one matrix.
  Status Fit(const InteractionMatrix& train) override;

  // The learned weights, n x n row-major: B[i * n + j] is how much item i votes for item j.
  const std::vector<float>& weights() const { return b_; }
  // Bytes Fit needs for n items (the n x n matrix).
  static size_t MemoryBytes(uint32_t num_items) { return size_t(num_items) * num_items * 4; }

 protected:
  void ScoreUser(uint32_t user, float* scores) const override;
  Status ScoreItems(const uint32_t* items, const float* weights, size_t n,
                    float* scores) const override;

 private:
  EaseOptions options_;
  InteractionMatrix train_;
  std::vector<float> b_;
};

}  // namespace recommend
}  // namespace reco
