// BPR-MF (Rendle et al. 2009): implicit matrix factorisation trained with the Bayesian
// Personalised Ranking loss -log sigmoid(x_ui - x_uj) on (user, positive item, sampled negative)
// triples. Each epoch visits every train entry once in a seeded random order and draws one
// negative uniformly from the items the user has no entry for. Updates are lock-free over
// OpenMP threads (Hogwild): with num_threads = 1 a seed fixes the model bit for bit; with more
// the interleaving of updates varies between runs.
//
// Score x_ui = p_u . q_i (+ b_i with item_bias): the item factors are served as a vector space
// (ItemVectors appends b_i and UserVector a 1 so that the inner product is the score).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "recommend/recommender.h"

namespace reco {
namespace recommend {

enum class BprOptimizer {
  kSgd,   // plain SGD with L2 (weight decay on the touched rows)
  kAdam,  // per-row Adam (moments and step count per touched row, L2 in the gradient)
};

// What the per-epoch callback sees.
struct BprEpoch {
  int epoch = 0;         // 1-based
  double loss = 0;       // mean -log sigmoid(x_ui - x_uj) over the epoch's triples (no L2 term)
  double seconds = 0;    // wall time of this epoch
  uint64_t triples = 0;  // triples trained this epoch
};

struct BprOptions {
  uint32_t dim = 64;                            // factors per user and item
  int epochs = 60;                              // passes over the train entries
  BprOptimizer optimizer = BprOptimizer::kSgd;  // how a triple updates the factors
  float learning_rate = 0.05f;                  // SGD step, or Adam's alpha
  float reg = 0.005f;                           // L2 on the factors touched by a triple
  float bias_reg = 0.0f;                        // L2 on item biases
  bool item_bias = true;                        // learn an item bias b_i (a popularity term)
  float init_std = 0.1f;                        // factors start N(0, init_std^2)
  float adam_beta1 = 0.9f;                      // Adam only
  float adam_beta2 = 0.999f;                    // Adam only
  int num_threads = 2;                          // Hogwild threads; 1 = deterministic
  uint64_t seed = 2020;                         // initialisation, visiting order and negatives
  // Called after each epoch (the model can already Score); return false to stop training.
  std::function<bool(const BprEpoch&)> on_epoch;
  // Warm start (incremental retraining): item rows in ItemVectors' layout (num_items x (dim +
  // item_bias)), used instead of random ones where warm_present[i] is set; users start fresh.
  std::vector<float> warm_item_vectors;
  std::vector<uint8_t> warm_present;
};

class BprMf : public Recommender {
 public:
  explicit BprMf(BprOptions options = {}) : options_(std::move(options)) {}
  std::string Name() const override { return "BPR-MF"; }
  Status Fit(const InteractionMatrix& train) override;

  bool ItemVectors(std::vector<float>* vectors, uint32_t* dim) const override;
  bool UserVector(uint32_t user, std::vector<float>* vector) const override;

  // Epochs trained by the last Fit (fewer than options.epochs when the callback stopped it).
  int epochs_trained() const { return epochs_trained_; }
  const BprOptions& options() const { return options_; }

 protected:
  void ScoreUser(uint32_t user, float* scores) const override;

 private:
  BprOptions options_;
  std::vector<float> user_factors_;  // num_users x dim
  std::vector<float> item_factors_;  // num_items x dim
  std::vector<float> item_bias_;     // num_items (zeros without item_bias)
  int epochs_trained_ = 0;
};

}  // namespace recommend
}  // namespace reco
