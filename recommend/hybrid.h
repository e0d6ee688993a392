// Hybrid: a weighted blend of other Recommenders by standardised scores. For each user, each
// part's scores over all items are turned into z-scores (mean and standard deviation over the
// part's finite scores), and the blend is sum over parts of weight_p * z_p:
//   z_p(j) = (s_p(j) - mean_p) / std_p,  and z_p(j) = 0 for every item when std_p = 0,
// so that parts on different scales (cosines, EASE votes, BPR logits) mix by rank-ish
// position rather than raw magnitude. An item that a weighted part scores NaN or -infinity
// (= never recommend) is -infinity in the blend. Parts with weight 0 are not scored at all, so
// weights {1, 0} rank exactly as part 0 does.
//
// TuneHybridWeight picks one part's weight on the valid part of a split, so that the test
// figures of the tuned hybrid are untouched by the tuning.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "recommend/evaluation.h"
#include "recommend/recommender.h"
#include "recommend/split.h"

namespace reco {
namespace recommend {

struct HybridPart {
  Recommender* model = nullptr;  // not owned: must outlive the Hybrid (or its last use)
  float weight = 1.0f;           // >= 0, finite
};

struct HybridOptions {
  std::string name = "hybrid";  // what Name() answers
  // Fit fits every part on the matrix; false: the parts are already fitted (on the same users
  // and items) and Fit only checks their shape, so models fitted for their own figures are
  // blended without a second training.
  bool fit_parts = true;
};

class Hybrid : public Recommender {
 public:
  explicit Hybrid(std::vector<HybridPart> parts, HybridOptions options = {})
      : parts_(std::move(parts)), options_(std::move(options)) {}

  std::string Name() const override { return options_.name; }
  void set_name(std::string name) { options_.name = std::move(name); }

  // InvalidArgument without parts, for a null part or a bad weight (negative, non-finite, or
  // all zero); FailedPrecondition (fit_parts false) for a part that is not fitted on train's
  // shape; a part's own Fit error, prefixed with its name.
  Status Fit(const InteractionMatrix& train) override;

  // Replaces the weights (one per part; same checks as Fit). Cheap: no refit. Like Fit, it
  // needs exclusive access.
  Status SetWeights(const std::vector<float>& weights);
  std::vector<float> weights() const;
  size_t num_parts() const { return parts_.size(); }
  const HybridOptions& options() const { return options_; }

  // Standardises scores in place as above: finite values become z-scores (0 when their
  // spread is 0), NaN and -infinity become -infinity, +infinity stays.
  static void Standardize(float* scores, size_t n);

 protected:
  // A part's failure (only when a part was refitted after the Hybrid's Fit) makes every
  // score NaN, which ranking skips.
  void ScoreUser(uint32_t user, float* scores) const override;
  // Every weighted part must support ad-hoc histories (else its FailedPrecondition).
  Status ScoreItems(const uint32_t* items, const float* weights, size_t n,
                    float* scores) const override;

 private:
  static Status CheckWeights(const std::vector<float>& weights);
  // Adds weight * Standardize(part_scores) into scores.
  static void Accumulate(std::vector<float>* part_scores, float weight, float* scores);

  std::vector<HybridPart> parts_;
  HybridOptions options_;
};

struct HybridTuneOptions {
  // Candidate weights of the tuned part; the other parts share 1 - w in proportion to their
  // current weights (equally when those are all 0). Each in [0, 1].
  std::vector<float> grid = {0.0f, 0.05f, 0.1f, 0.2f, 0.3f, 0.5f};
  size_t part = 1;   // which part's weight is tuned
  bool fit = true;   // fit the hybrid on data.train first; false: it is fitted on it already
  EvalOptions eval;  // k of NDCG@k, threads
};

struct HybridTuneResult {
  float weight = 0;                // the chosen weight of the tuned part
  std::vector<float> grid;         // the weights tried, in order
  std::vector<double> valid_ndcg;  // NDCG@k on data.valid for each
  Metrics valid;                   // all valid metrics of the chosen weight
};

// Evaluates the hybrid on EvalPart::kValid for each grid weight and keeps the one with the
// best NDCG@k (ties: the earlier in the grid). The hybrid is left fitted with the chosen
// weights, ready for Evaluate(..., EvalPart::kTest, ...). InvalidArgument for an empty grid, a
// weight outside [0, 1] or a part out of range (or a hybrid of one part).
Status TuneHybridWeight(Hybrid* hybrid, const SplitMatrices& data, const HybridTuneOptions& options,
                        HybridTuneResult* out);

}  // namespace recommend
}  // namespace reco
