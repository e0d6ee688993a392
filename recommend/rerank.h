// Re-ranking helpers the engine applies to a candidate list: MMR diversification and blending
// of relevance with popularity and freshness.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"

namespace reco {
namespace recommend {

struct ScoredItem {
  uint32_t item = 0;  // the caller's id (dense or internal)
  float score = 0;    // higher is better
};

struct MmrOptions {
  float lambda = 0.7f;           // 1 = relevance only, 0 = diversity only; in [0, 1]
  uint32_t k = 10;               // how many candidates to select
  bool normalize_scores = true;  // min-max scale scores to [0, 1] to compare with cosine
};

// Maximal Marginal Relevance (Carbonell & Goldstein 1998): repeatedly picks the candidate
// maximising lambda * rel(c) - (1 - lambda) * max over picked s of cos(v_c, v_s).
// `vectors` holds one vector per candidate, candidates.size() x dim row-major; a zero vector
// is similar to nothing. `out` gets min(k, candidates) items in pick order with their
// original scores. Ties pick the earlier candidate.
Status MmrRerank(const std::vector<ScoredItem>& candidates, const std::vector<float>& vectors,
                 uint32_t dim, const MmrOptions& options, std::vector<ScoredItem>* out);

struct BlendOptions {
  float popularity_weight = 0.0f;  // weight of the popularity term (in [0, 1])
  float freshness_weight = 0.0f;   // weight of the freshness term (in [0, 1])
  double half_life = 7 * 86400.0;  // freshness halves every half_life, unit of the times
  int64_t now = 0;                 // the present, unit of the times
};

// out[i] = relevance[i] + popularity_weight * pop[i] + freshness_weight * fresh[i], where
//   relevance = scores min-max scaled to [0, 1] over the finite scores,
//   pop       = log(1 + popularity[i]) / log(1 + max popularity)   (counts, >= 0),
//   fresh     = 2^(-max(0, now - item_times[i]) / half_life).
// All vectors are aligned (one entry per candidate or per catalogue item); popularity or
// item_times may be empty when its weight is 0. Non-finite scores stay -infinity.
Status BlendScores(const std::vector<float>& scores, const std::vector<float>& popularity,
                   const std::vector<int64_t>& item_times, const BlendOptions& options,
                   std::vector<float>* out);

}  // namespace recommend
}  // namespace reco
