// Offline evaluation by full ranking: for each user with held-out items, every item outside
// the user's seen set is ranked by the model's score and the top K are compared with the
// held-out items. Metrics follow RecBole's definitions:
//   Recall@K    hits / |held-out|
//   NDCG@K      sum over hits of 1/log2(rank + 1), divided by the ideal for min(|held-out|, K)
//   HR@K        1 when any held-out item is in the top K
//   Precision@K hits / K
//   MRR@K       1 / rank of the first hit (0 without one)
// each averaged over the users with at least one held-out item; Coverage@K is the fraction of
// the catalogue that appears in at least one user's top K. Ties rank the lower item id first.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "recommend/interactions.h"
#include "recommend/recommender.h"
#include "recommend/split.h"

namespace reco {
namespace recommend {

struct EvalOptions {
  uint32_t k = 10;      // cut-off K
  int num_threads = 0;  // OpenMP threads over users; 0 = OpenMP's default
};

struct Metrics {
  uint32_t k = 0;
  double recall = 0, ndcg = 0, hr = 0, precision = 0, mrr = 0;  // means over users
  double coverage = 0;                                          // share of the catalogue
  uint32_t users = 0;  // users evaluated (those with a held-out item)
};

// One user's metrics given the ranked list (best first; only its first k are read) and the
// held-out items (any order, no duplicates).
Metrics RankingMetrics(const std::vector<uint32_t>& ranked, const std::vector<uint32_t>& relevant,
                       uint32_t k);

// The k best items of `scores` (best first; ties: lower id first), skipping the items in
// `exclude` and scores that are NaN or -infinity; fewer than k when fewer remain.
std::vector<uint32_t> TopK(const std::vector<float>& scores, uint32_t k,
                           const std::vector<uint32_t>& exclude = {});

// Ranks, for each user with a row in `held_out`, all items not in the user's `seen` row.
// `model` must be fitted on the same users and items.
Status EvaluateRanking(const Recommender& model, const InteractionMatrix& seen,
                       const InteractionMatrix& held_out, const EvalOptions& options, Metrics* out);

enum class EvalPart {
  kValid,  // held out: valid; excluded: train (for tuning)
  kTest,   // held out: test; excluded: train and valid (the reported figures)
};

Status Evaluate(const Recommender& model, const SplitMatrices& data, EvalPart part,
                const EvalOptions& options, Metrics* out);

struct ModelResult {
  std::string name;
  Status status;  // a failed Fit or evaluation; metrics are then empty
  Metrics metrics;
  double fit_seconds = 0;
  double eval_seconds = 0;
};

// Fits each model on data.train and evaluates it on `part`: one result per model, in order.
std::vector<ModelResult> FitAndEvaluate(const std::vector<Recommender*>& models,
                                        const SplitMatrices& data, EvalPart part,
                                        const EvalOptions& options);

}  // namespace recommend
}  // namespace reco
