#include "recommend/hybrid.h"

#include <cmath>
#include <limits>
#include <string>
#include <utility>

namespace reco {
namespace recommend {

Status Hybrid::CheckWeights(const std::vector<float>& weights) {
  double sum = 0;
  for (size_t p = 0; p < weights.size(); ++p) {
    if (!(weights[p] >= 0) || !std::isfinite(weights[p])) {
      return Status::InvalidArgument("hybrid weight of part " + std::to_string(p) +
                                     ": must be finite and >= 0, got " +
                                     std::to_string(weights[p]));
    }
    sum += weights[p];
  }
  if (!(sum > 0)) return Status::InvalidArgument("hybrid weights: all are 0");
  return Status::OK();
}

std::vector<float> Hybrid::weights() const {
  std::vector<float> w;
  for (const HybridPart& p : parts_) w.push_back(p.weight);
  return w;
}

Status Hybrid::SetWeights(const std::vector<float>& weights) {
  if (weights.size() != parts_.size()) {
    return Status::InvalidArgument("hybrid weights: " + std::to_string(weights.size()) + " for " +
                                   std::to_string(parts_.size()) + " parts");
  }
  RECO_RETURN_IF_ERROR(CheckWeights(weights));
  for (size_t p = 0; p < parts_.size(); ++p) parts_[p].weight = weights[p];
  return Status::OK();
}

Status Hybrid::Fit(const InteractionMatrix& train) {
  if (parts_.empty()) return Status::InvalidArgument(Name() + ": no parts");
  for (size_t p = 0; p < parts_.size(); ++p) {
    if (parts_[p].model == nullptr) {
      return Status::InvalidArgument(Name() + ": part " + std::to_string(p) + " is null");
    }
  }
  RECO_RETURN_IF_ERROR(CheckWeights(weights()));
  SetShape(0, 0);
  for (const HybridPart& part : parts_) {
    Recommender* m = part.model;
    if (options_.fit_parts) {
      RECO_RETURN_IF_ERROR(m->Fit(train).WithContext(Name() + " part " + m->Name()));
    } else if (!m->fitted() || m->num_users() != train.num_users() ||
               m->num_items() != train.num_items()) {
      return Status::FailedPrecondition(
          Name() + " part " + m->Name() + ": not fitted on the matrix's shape (" +
          std::to_string(train.num_users()) + " x " + std::to_string(train.num_items()) +
          "; the part has " + std::to_string(m->num_users()) + " x " +
          std::to_string(m->num_items()) + ")");
    }
  }
  SetShape(train.num_users(), train.num_items());
  return Status::OK();
}

void Hybrid::Standardize(float* scores, size_t n) {
  double sum = 0;
  size_t count = 0;
  for (size_t j = 0; j < n; ++j) {
    if (std::isfinite(scores[j])) {
      sum += scores[j];
      ++count;
    }
  }
  const double mean = count > 0 ? sum / double(count) : 0.0;
  double sq = 0;
  for (size_t j = 0; j < n; ++j) {
    if (std::isfinite(scores[j])) sq += (scores[j] - mean) * (scores[j] - mean);
  }
  const double sd = count > 0 ? std::sqrt(sq / double(count)) : 0.0;
  const double inv = sd > 0 && std::isfinite(sd) ? 1.0 / sd : 0.0;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (size_t j = 0; j < n; ++j) {
    const float s = scores[j];
    if (std::isfinite(s)) {
      scores[j] = float((s - mean) * inv);
    } else if (std::isnan(s) || s < 0) {
      scores[j] = neg_inf;
    }  // +infinity stays
  }
}

void Hybrid::Accumulate(std::vector<float>* part_scores, float weight, float* scores) {
  Standardize(part_scores->data(), part_scores->size());
  const float* z = part_scores->data();
  for (size_t j = 0; j < part_scores->size(); ++j) scores[j] += weight * z[j];
}

void Hybrid::ScoreUser(uint32_t user, float* scores) const {
  std::vector<float> part_scores;
  for (const HybridPart& part : parts_) {
    if (part.weight == 0) continue;
    if (!part.model->Score(user, &part_scores).ok() || part_scores.size() != num_items()) {
      for (uint32_t j = 0; j < num_items(); ++j) scores[j] = std::nanf("");
      return;
    }
    Accumulate(&part_scores, part.weight, scores);
  }
}

Status Hybrid::ScoreItems(const uint32_t* items, const float* weights, size_t n,
                          float* scores) const {
  const std::vector<uint32_t> item_list(items, items + n);
  const std::vector<float> weight_list(weights, weights + n);
  std::vector<float> part_scores;
  for (const HybridPart& part : parts_) {
    if (part.weight == 0) continue;
    RECO_RETURN_IF_ERROR(part.model->ScoreHistory(item_list, weight_list, &part_scores)
                             .WithContext(Name() + " part " + part.model->Name()));
    if (part_scores.size() != num_items()) {
      return Status::FailedPrecondition(Name() + " part " + part.model->Name() +
                                        ": refitted on another shape since the hybrid's Fit");
    }
    Accumulate(&part_scores, part.weight, scores);
  }
  return Status::OK();
}

Status TuneHybridWeight(Hybrid* hybrid, const SplitMatrices& data, const HybridTuneOptions& options,
                        HybridTuneResult* out) {
  const size_t parts = hybrid->num_parts();
  if (parts < 2) return Status::InvalidArgument("TuneHybridWeight: the hybrid needs 2+ parts");
  if (options.part >= parts) {
    return Status::InvalidArgument("TuneHybridWeight: part " + std::to_string(options.part) +
                                   " of a hybrid of " + std::to_string(parts) + " parts");
  }
  if (options.grid.empty()) return Status::InvalidArgument("TuneHybridWeight: empty grid");
  for (float w : options.grid) {
    if (!(w >= 0 && w <= 1)) {
      return Status::InvalidArgument("TuneHybridWeight: grid weight " + std::to_string(w) +
                                     " is outside [0, 1]");
    }
  }
  if (options.fit) {
    RECO_RETURN_IF_ERROR(hybrid->Fit(data.train));
  } else if (!hybrid->fitted() || hybrid->num_users() != data.train.num_users() ||
             hybrid->num_items() != data.train.num_items()) {
    return Status::FailedPrecondition("TuneHybridWeight: " + hybrid->Name() +
                                      " is not fitted on data.train");
  }

  // The other parts keep their proportions and share 1 - w.
  const std::vector<float> base = hybrid->weights();
  double others = 0;
  for (size_t p = 0; p < parts; ++p) {
    if (p != options.part) others += base[p];
  }
  auto weights_for = [&](float w) {
    std::vector<float> ws(parts);
    for (size_t p = 0; p < parts; ++p) {
      if (p == options.part) {
        ws[p] = w;
      } else {
        const double share = others > 0 ? base[p] / others : 1.0 / double(parts - 1);
        ws[p] = float((1.0 - w) * share);
      }
    }
    return ws;
  };

  HybridTuneResult result;
  result.grid = options.grid;
  double best = -1;
  for (float w : options.grid) {
    Status st = hybrid->SetWeights(weights_for(w));
    Metrics m;
    if (st.ok()) st = Evaluate(*hybrid, data, EvalPart::kValid, options.eval, &m);
    if (!st.ok()) {
      (void)hybrid->SetWeights(base);  // leave the weights as they were
      return st.WithContext("TuneHybridWeight at weight " + std::to_string(w));
    }
    result.valid_ndcg.push_back(m.ndcg);
    if (m.ndcg > best) {
      best = m.ndcg;
      result.weight = w;
      result.valid = m;
    }
  }
  RECO_RETURN_IF_ERROR(hybrid->SetWeights(weights_for(result.weight)));
  *out = std::move(result);
  return Status::OK();
}

}  // namespace recommend
}  // namespace reco
