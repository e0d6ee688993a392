#include "recommend/rerank.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace reco {
namespace recommend {
namespace {

// Min-max scales the finite values to [0, 1]; all equal -> 1; non-finite -> -infinity.
std::vector<float> MinMax(const std::vector<float>& v) {
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (float x : v) {
    if (std::isfinite(x)) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
  }
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) {
      out[i] = -std::numeric_limits<float>::infinity();
    } else {
      out[i] = hi > lo ? (v[i] - lo) / (hi - lo) : 1.0f;
    }
  }
  return out;
}

}  // namespace

Status MmrRerank(const std::vector<ScoredItem>& candidates, const std::vector<float>& vectors,
                 uint32_t dim, const MmrOptions& options, std::vector<ScoredItem>* out) {
  if (!(options.lambda >= 0 && options.lambda <= 1)) {
    return Status::InvalidArgument("MMR lambda: must be in [0, 1], got " +
                                   std::to_string(options.lambda));
  }
  const size_t n = candidates.size();
  if (dim == 0 && n > 0) return Status::InvalidArgument("MMR dim: must be >= 1");
  if (vectors.size() != n * dim) {
    return Status::InvalidArgument("MMR vectors: " + std::to_string(vectors.size()) +
                                   " floats for " + std::to_string(n) + " candidates of dim " +
                                   std::to_string(dim));
  }
  std::vector<float> rel(n);
  for (size_t c = 0; c < n; ++c) rel[c] = candidates[c].score;
  if (options.normalize_scores) rel = MinMax(rel);

  // Unit vectors, so a dot product is the cosine.
  std::vector<float> unit(vectors);
  for (size_t c = 0; c < n; ++c) {
    float* v = unit.data() + c * dim;
    double norm = 0;
    for (uint32_t f = 0; f < dim; ++f) norm += double(v[f]) * v[f];
    const float inv = norm > 0 ? float(1.0 / std::sqrt(norm)) : 0.0f;
    for (uint32_t f = 0; f < dim; ++f) v[f] *= inv;
  }
  const size_t k = std::min<size_t>(options.k, n);
  std::vector<float> max_sim(n, -std::numeric_limits<float>::infinity());
  std::vector<uint8_t> picked(n, 0);
  out->clear();
  for (size_t step = 0; step < k; ++step) {
    size_t best = n;
    float best_value = 0;
    for (size_t c = 0; c < n; ++c) {
      if (picked[c]) continue;
      const float redundancy = step == 0 ? 0.0f : max_sim[c];
      const float value = options.lambda * rel[c] - (1 - options.lambda) * redundancy;
      if (best == n || value > best_value) {
        best = c;
        best_value = value;
      }
    }
    picked[best] = 1;
    out->push_back(candidates[best]);
    const float* b = unit.data() + best * dim;
    for (size_t c = 0; c < n; ++c) {
      if (picked[c]) continue;
      const float* v = unit.data() + c * dim;
      float s = 0;
      for (uint32_t f = 0; f < dim; ++f) s += v[f] * b[f];
      max_sim[c] = std::max(max_sim[c], s);
    }
  }
  return Status::OK();
}

Status BlendScores(const std::vector<float>& scores, const std::vector<float>& popularity,
                   const std::vector<int64_t>& item_times, const BlendOptions& options,
                   std::vector<float>* out) {
  const float wp = options.popularity_weight, wf = options.freshness_weight;
  if (!(wp >= 0 && wp <= 1)) {
    return Status::InvalidArgument("popularity_weight: must be in [0, 1], got " +
                                   std::to_string(wp));
  }
  if (!(wf >= 0 && wf <= 1)) {
    return Status::InvalidArgument("freshness_weight: must be in [0, 1], got " +
                                   std::to_string(wf));
  }
  if (wp > 0 && popularity.size() != scores.size()) {
    return Status::InvalidArgument("popularity: " + std::to_string(popularity.size()) +
                                   " values for " + std::to_string(scores.size()) + " scores");
  }
  if (wf > 0 && item_times.size() != scores.size()) {
    return Status::InvalidArgument("item_times: " + std::to_string(item_times.size()) +
                                   " values for " + std::to_string(scores.size()) + " scores");
  }
  if (wf > 0 && !(options.half_life > 0)) {
    return Status::InvalidArgument("half_life: must be > 0");
  }
  std::vector<float> blended = MinMax(scores);
  if (wp > 0) {
    float max_pop = 0;
    for (float p : popularity) max_pop = std::max(max_pop, p);
    const double denom = std::log1p(double(max_pop));
    for (size_t i = 0; i < blended.size(); ++i) {
      if (denom > 0 && popularity[i] > 0) {
        blended[i] += wp * float(std::log1p(double(popularity[i])) / denom);
      }
    }
  }
  if (wf > 0) {
    for (size_t i = 0; i < blended.size(); ++i) {
      const double age = std::max<double>(0.0, double(options.now - item_times[i]));
      blended[i] += wf * float(std::exp2(-age / options.half_life));
    }
  }
  *out = std::move(blended);
  return Status::OK();
}

}  // namespace recommend
}  // namespace reco
