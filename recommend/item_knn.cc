#include "recommend/item_knn.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

namespace reco {
namespace recommend {

Status ItemKnn::Fit(const InteractionMatrix& train) {
  if (train.num_items() == 0) return Status::InvalidArgument("train: no items");
  if (options_.k == 0) return Status::InvalidArgument("ItemKNN k: must be >= 1");
  if (!(options_.shrink >= 0)) return Status::InvalidArgument("ItemKNN shrink: must be >= 0");
  const uint32_t n = train.num_items();
  const InteractionMatrix cols = train.Transposed();  // items x users
  std::vector<float> norm(n, 0.0f);
  for (uint32_t i = 0; i < n; ++i) {
    double s = 0;
    const float* w = cols.RowWeights(i);
    for (size_t p = 0; p < cols.RowSize(i); ++p) s += double(w[p]) * w[p];
    norm[i] = static_cast<float>(std::sqrt(s));
  }

  std::vector<std::vector<std::pair<uint32_t, float>>> neighbours(n);
  const int threads = options_.num_threads > 0 ? options_.num_threads : omp_get_max_threads();
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> dot(n, 0.0f);
    std::vector<uint8_t> mark(n, 0);
    std::vector<uint32_t> touched;
    std::vector<std::pair<uint32_t, float>> cand;
#pragma omp for schedule(dynamic, 16)
    for (int64_t ii = 0; ii < int64_t(n); ++ii) {
      const uint32_t i = static_cast<uint32_t>(ii);
      touched.clear();
      const uint32_t* users = cols.RowItems(i);
      const float* wi = cols.RowWeights(i);
      for (size_t p = 0; p < cols.RowSize(i); ++p) {
        const uint32_t u = users[p];
        const uint32_t* items = train.RowItems(u);
        const float* wu = train.RowWeights(u);
        for (size_t q = 0; q < train.RowSize(u); ++q) {
          if (!mark[items[q]]) {
            mark[items[q]] = 1;
            touched.push_back(items[q]);
          }
          dot[items[q]] += wi[p] * wu[q];
        }
      }
      cand.clear();
      for (uint32_t j : touched) {
        const float d = dot[j];
        dot[j] = 0.0f;
        mark[j] = 0;
        if (j == i || d <= 0) continue;
        cand.emplace_back(j, d / (norm[i] * norm[j] + options_.shrink));
      }
      auto better = [](const std::pair<uint32_t, float>& a, const std::pair<uint32_t, float>& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
      };
      if (cand.size() > options_.k) {
        std::nth_element(cand.begin(), cand.begin() + options_.k, cand.end(), better);
        cand.resize(options_.k);
      }
      std::sort(cand.begin(), cand.end(), better);
      neighbours[i] = cand;
    }
  }
  std::vector<std::vector<std::pair<uint32_t, float>>> influence(n);
  for (uint32_t i = 0; i < n; ++i) {
    for (const auto& [j, s] : neighbours[i]) influence[j].emplace_back(i, s);
  }
  train_ = train;
  neighbours_ = std::move(neighbours);
  influence_ = std::move(influence);
  SetShape(train.num_users(), n);
  return Status::OK();
}

std::vector<std::pair<uint32_t, float>> ItemKnn::Neighbours(uint32_t item) const {
  if (item >= neighbours_.size()) return {};
  return neighbours_[item];
}

void ItemKnn::ScoreUser(uint32_t user, float* scores) const {
  Status st =
      ScoreItems(train_.RowItems(user), train_.RowWeights(user), train_.RowSize(user), scores);
  (void)st;  // never fails for checked input
}

Status ItemKnn::ScoreItems(const uint32_t* items, const float* weights, size_t n,
                           float* scores) const {
  for (size_t p = 0; p < n; ++p) {
    for (const auto& [i, s] : influence_[items[p]]) scores[i] += weights[p] * s;
  }
  return Status::OK();
}

}  // namespace recommend
}  // namespace reco
