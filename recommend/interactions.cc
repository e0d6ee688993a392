#include "recommend/interactions.h"

#include <algorithm>
#include <numeric>
#include <string>

namespace reco {
namespace recommend {

Status InteractionMatrix::FromInteractions(uint32_t num_users, uint32_t num_items,
                                           const std::vector<Interaction>& interactions,
                                           const MatrixOptions& options, InteractionMatrix* out) {
  for (size_t k = 0; k < interactions.size(); ++k) {
    const Interaction& x = interactions[k];
    if (x.user >= num_users || x.item >= num_items) {
      return Status::InvalidArgument("interaction " + std::to_string(k) + ": (user " +
                                     std::to_string(x.user) + ", item " + std::to_string(x.item) +
                                     ") outside the " + std::to_string(num_users) + " users x " +
                                     std::to_string(num_items) + " items of the matrix");
    }
  }
  // Order by (user, item, time); the stable sort keeps input order among equal times, so
  // kLast takes the interaction given last.
  std::vector<uint32_t> order(interactions.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    const Interaction& x = interactions[a];
    const Interaction& y = interactions[b];
    if (x.user != y.user) return x.user < y.user;
    if (x.item != y.item) return x.item < y.item;
    return x.time < y.time;
  });

  InteractionMatrix m;
  m.num_users_ = num_users;
  m.num_items_ = num_items;
  m.row_ptr_.assign(static_cast<size_t>(num_users) + 1, 0);
  m.items_.reserve(interactions.size());
  m.weights_.reserve(interactions.size());
  for (size_t k = 0; k < order.size();) {
    const Interaction& first = interactions[order[k]];
    float w = options.binary ? 1.0f : first.value;
    size_t next = k + 1;
    for (; next < order.size(); ++next) {
      const Interaction& x = interactions[order[next]];
      if (x.user != first.user || x.item != first.item) break;
      if (options.binary) continue;
      switch (options.merge) {
        case MergeRule::kSum:
          w += x.value;
          break;
        case MergeRule::kMax:
          w = std::max(w, x.value);
          break;
        case MergeRule::kLast:
          w = x.value;
          break;
      }
    }
    m.items_.push_back(first.item);
    m.weights_.push_back(w);
    ++m.row_ptr_[first.user + 1];
    k = next;
  }
  for (uint32_t u = 0; u < num_users; ++u) m.row_ptr_[u + 1] += m.row_ptr_[u];
  *out = std::move(m);
  return Status::OK();
}

bool InteractionMatrix::Contains(uint32_t user, uint32_t item) const {
  const uint32_t* begin = RowItems(user);
  const uint32_t* end = begin + RowSize(user);
  return std::binary_search(begin, end, item);
}

std::vector<float> InteractionMatrix::ItemCounts() const {
  std::vector<float> counts(num_items_, 0.0f);
  for (uint32_t item : items_) counts[item] += 1.0f;
  return counts;
}

InteractionMatrix InteractionMatrix::Transposed() const {
  InteractionMatrix t;
  t.num_users_ = num_items_;
  t.num_items_ = num_users_;
  t.row_ptr_.assign(static_cast<size_t>(num_items_) + 1, 0);
  for (uint32_t item : items_) ++t.row_ptr_[item + 1];
  for (uint32_t i = 0; i < num_items_; ++i) t.row_ptr_[i + 1] += t.row_ptr_[i];
  t.items_.resize(items_.size());
  t.weights_.resize(weights_.size());
  std::vector<size_t> fill(t.row_ptr_.begin(), t.row_ptr_.end() - 1);
  // Users are visited in ascending order, so each transposed row comes out sorted.
  for (uint32_t u = 0; u < num_users_; ++u) {
    for (size_t p = row_ptr_[u]; p < row_ptr_[u + 1]; ++p) {
      const size_t dst = fill[items_[p]]++;
      t.items_[dst] = u;
      t.weights_[dst] = weights_[p];
    }
  }
  return t;
}

}  // namespace recommend
}  // namespace reco
