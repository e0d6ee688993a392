#include "filter/numeric_column.h"

#include <algorithm>

namespace reco {
namespace filter {

NumericColumn::NumericColumn(size_t block_size, size_t min_rebuild)
    : block_size_(std::max<size_t>(1, block_size)),
      min_rebuild_(std::max<size_t>(1, min_rebuild)) {}

void NumericColumn::Insert(double value, uint64_t id) {
  log_.push_back({{value + 0.0, id}, +1});  // + 0.0 turns -0 into 0
  fresh_.store(false, std::memory_order_relaxed);
  // A log as long as the column is folded in now, so memory stays bounded without queries.
  if (log_.size() > std::max(min_rebuild_, main_.size() + delta_.size())) Fold();
}

void NumericColumn::Erase(double value, uint64_t id) {
  log_.push_back({{value + 0.0, id}, -1});
  fresh_.store(false, std::memory_order_relaxed);
  if (log_.size() > std::max(min_rebuild_, main_.size() + delta_.size())) Fold();
}

void NumericColumn::EnsureFresh() const {
  if (fresh_.load(std::memory_order_acquire)) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (!fresh_.load(std::memory_order_relaxed)) Fold();
}

void NumericColumn::Fold() const {
  // Net change per pair; the order of the changes to one pair does not matter.
  std::sort(log_.begin(), log_.end(),
            [](const Change& a, const Change& b) { return Less(a.entry, b.entry); });
  std::vector<Change> net;
  for (size_t i = 0; i < log_.size();) {
    Change c = log_[i++];
    while (i < log_.size() && !Less(c.entry, log_[i].entry)) c.delta += log_[i++].delta;
    if (c.delta != 0) net.push_back(c);
  }
  if (log_.capacity() > 2 * min_rebuild_) {
    std::vector<Change>().swap(log_);
  } else {
    log_.clear();
  }

  if (net.size() + delta_.size() + dead_count_ > std::max(min_rebuild_, main_.size() / 32)) {
    Rebuild(net);
  } else {
    std::vector<Change> to_delta;
    for (const Change& c : net) {
      const auto it = std::lower_bound(main_.begin(), main_.end(), c.entry, Less);
      if (it == main_.end() || Less(c.entry, *it)) {
        to_delta.push_back(c);
        continue;
      }
      const bool alive = !dead_.contains(c.entry.id);
      const bool after = (alive ? 1 : 0) + c.delta > 0;
      if (alive && !after) {
        dead_.add(c.entry.id);
        ++dead_count_;
      } else if (!alive && after) {
        dead_.remove(c.entry.id);
        --dead_count_;
      }
    }
    std::vector<Entry> merged;
    merged.reserve(delta_.size() + to_delta.size());
    size_t i = 0, j = 0;
    while (i < delta_.size() || j < to_delta.size()) {
      if (j == to_delta.size() || (i < delta_.size() && Less(delta_[i], to_delta[j].entry))) {
        merged.push_back(delta_[i++]);
      } else if (i == delta_.size() || Less(to_delta[j].entry, delta_[i])) {
        if (to_delta[j].delta > 0) merged.push_back(to_delta[j].entry);
        ++j;
      } else {
        if (1 + to_delta[j].delta > 0) merged.push_back(delta_[i]);
        ++i;
        ++j;
      }
    }
    delta_.swap(merged);
  }
  fresh_.store(true, std::memory_order_release);
}

void NumericColumn::Rebuild(const std::vector<Change>& net) const {
  if (dead_count_ > 0) {
    Bitmap dead_copy = dead_;
    const IdSet dead = IdSetBuilder::Make(&dead_copy);
    main_.erase(std::remove_if(main_.begin(), main_.end(),
                               [&dead](const Entry& e) { return dead.Contains(e.id); }),
                main_.end());
  }
  std::vector<Entry> base;
  base.reserve(main_.size() + delta_.size());
  std::merge(main_.begin(), main_.end(), delta_.begin(), delta_.end(), std::back_inserter(base),
             Less);
  std::vector<Entry> next;
  next.reserve(base.size() + net.size());
  size_t i = 0, j = 0;
  while (i < base.size() || j < net.size()) {
    if (j == net.size() || (i < base.size() && Less(base[i], net[j].entry))) {
      next.push_back(base[i++]);
    } else if (i == base.size() || Less(net[j].entry, base[i])) {
      if (net[j].delta > 0) next.push_back(net[j].entry);
      ++j;
    } else {
      if (1 + net[j].delta > 0) next.push_back(base[i]);
      ++i;
      ++j;
    }
  }
  main_.swap(next);
  delta_.clear();
  delta_.shrink_to_fit();
  Bitmap().swap(dead_);
  dead_count_ = 0;

  std::vector<Bitmap> blocks((main_.size() + block_size_ - 1) / block_size_);
  std::vector<uint64_t> ids;
  for (size_t b = 0; b < blocks.size(); ++b) {
    const size_t begin = b * block_size_;
    const size_t end = std::min(main_.size(), begin + block_size_);
    ids.clear();
    for (size_t k = begin; k < end; ++k) ids.push_back(main_[k].id);
    BitmapFromIds(&ids, &blocks[b]);
  }
  blocks_.swap(blocks);
}

void NumericColumn::Collect(double lo, bool lo_included, double hi, bool hi_included,
                            Collector* c) const {
  // Pairs before the range, and pairs not after it: both predicates hold on a prefix.
  const auto before = [&](const Entry& e) { return lo_included ? e.value < lo : e.value <= lo; };
  const auto not_after = [&](const Entry& e) { return hi_included ? e.value <= hi : e.value < hi; };
  const size_t a = std::partition_point(main_.begin(), main_.end(), before) - main_.begin();
  const size_t b = std::partition_point(main_.begin() + a, main_.end(), not_after) - main_.begin();
  if (a < b) {
    const size_t first_block = (a + block_size_ - 1) / block_size_;
    const size_t end_block = b / block_size_;
    if (first_block < end_block) {
      for (size_t k = a; k < first_block * block_size_; ++k) c->main_ids.push_back(main_[k].id);
      for (size_t k = first_block; k < end_block; ++k) c->blocks.push_back(&blocks_[k]);
      for (size_t k = end_block * block_size_; k < b; ++k) c->main_ids.push_back(main_[k].id);
    } else {
      for (size_t k = a; k < b; ++k) c->main_ids.push_back(main_[k].id);
    }
  }
  const auto from = std::partition_point(delta_.begin(), delta_.end(), before);
  const auto to = std::partition_point(from, delta_.end(), not_after);
  for (auto it = from; it != to; ++it) c->delta_ids.push_back(it->id);
}

void NumericColumn::Finish(Collector* c, Bitmap* out) const {
  Bitmap result;
  if (!c->blocks.empty()) {
    UnionOf(c->blocks, &result);
    if (!c->main_ids.empty()) {
      Bitmap edges;
      BitmapFromIds(&c->main_ids, &edges);
      result |= edges;
    }
  } else if (!c->main_ids.empty()) {
    BitmapFromIds(&c->main_ids, &result);
  }
  if (dead_count_ > 0 && !result.isEmpty()) result -= dead_;
  if (!c->delta_ids.empty()) {
    Bitmap delta;
    BitmapFromIds(&c->delta_ids, &delta);
    result |= delta;
  }
  out->swap(result);
}

void NumericColumn::Range(double lo, bool lo_included, double hi, bool hi_included,
                          Bitmap* out) const {
  EnsureFresh();
  Collector c;
  Collect(lo, lo_included, hi, hi_included, &c);
  Finish(&c, out);
}

void NumericColumn::Equal(std::vector<double> values, Bitmap* out) const {
  EnsureFresh();
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  Collector c;
  for (double v : values) Collect(v, true, v, true, &c);
  Finish(&c, out);
}

size_t NumericColumn::MemoryBytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t bytes = sizeof(*this) + main_.capacity() * sizeof(Entry) +
                 delta_.capacity() * sizeof(Entry) + log_.capacity() * sizeof(Change) +
                 BitmapBytes(dead_);
  for (const Bitmap& b : blocks_) bytes += BitmapBytes(b);
  return bytes;
}

}  // namespace filter
}  // namespace reco
