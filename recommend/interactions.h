// reco::recommend — in-memory collaborative filtering over user-item interactions: data,
// splits, models, offline evaluation and re-ranking (ARCHITECTURE.md "Recommendation and
// analytics"). Pure algorithms: no storage, no sockets; the engine feeds events in.
//
// This header: interactions over dense ids and the CSR user x item matrix the models train on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/status.h"

namespace reco {
namespace recommend {

// One event reduced to what the models need. Ids are dense: user < num_users,
// item < num_items (the engine maps external ids to dense ones).
struct Interaction {
  uint32_t user = 0;
  uint32_t item = 0;
  float value = 1.0f;  // event weight (rating, type weight ...); > 0 for a positive signal
  int64_t time = 0;    // event time, any monotonic unit (unix seconds for MovieLens)
};

// How several interactions of one (user, item) become one matrix entry.
enum class MergeRule {
  kSum,   // weights add up (repeat views count more)
  kMax,   // the strongest event wins
  kLast,  // the value of the latest event (ties: the one given last)
};

struct MatrixOptions {
  bool binary = true;                 // implicit feedback: every entry weighs 1, values ignored
  MergeRule merge = MergeRule::kSum;  // duplicates of one (user, item), when !binary
};

// Users x items, compressed sparse rows: an entry per (user, item) that has interactions,
// with its weight. Columns within a row are sorted ascending and unique. Immutable once built;
// concurrent reads are safe.
class InteractionMatrix {
 public:
  InteractionMatrix() = default;

  // Builds the matrix; an id outside [0, num_users) x [0, num_items) is InvalidArgument
  // naming the interaction. Merges duplicates by `options.merge`.
  static Status FromInteractions(uint32_t num_users, uint32_t num_items,
                                 const std::vector<Interaction>& interactions,
                                 const MatrixOptions& options, InteractionMatrix* out);

  uint32_t num_users() const { return num_users_; }
  uint32_t num_items() const { return num_items_; }
  size_t nnz() const { return items_.size(); }

  // Row `user`: RowSize(user) items and weights starting at RowItems(user)/RowWeights(user).
  size_t RowSize(uint32_t user) const { return row_ptr_[user + 1] - row_ptr_[user]; }
  const uint32_t* RowItems(uint32_t user) const { return items_.data() + row_ptr_[user]; }
  const float* RowWeights(uint32_t user) const { return weights_.data() + row_ptr_[user]; }
  // True when (user, item) has an entry (binary search in the sorted row).
  bool Contains(uint32_t user, uint32_t item) const;

  // Per-item number of users with an entry (popularity), size num_items.
  std::vector<float> ItemCounts() const;
  // The transpose (items x users): column access for item-item models.
  InteractionMatrix Transposed() const;

 private:
  uint32_t num_users_ = 0;
  uint32_t num_items_ = 0;
  std::vector<size_t> row_ptr_ = {0};  // num_users + 1 offsets into items_/weights_
  std::vector<uint32_t> items_;
  std::vector<float> weights_;
};

}  // namespace recommend
}  // namespace reco
