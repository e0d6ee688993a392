// Internal to reco_filter (not a public header): the one place that includes roaring.
// Bitmap is roaring's Roaring64Map; the helpers below take the fast 32-bit paths roaring
// offers when ids fit in 32 bits (the engine's dense internal ids always do in practice).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <roaring/roaring64map.hh>

#include "filter/filter.h"

namespace reco {
namespace filter {

// Roaring64Map declares a copy assignment and so has no move operations: a "move" copies.
// Hand bitmaps over with swap() (the helpers here write through out-parameters for that).
using Bitmap = Roaring64Map;

// *out = the set of `ids` (any order, duplicates allowed); sorts *ids in place.
void BitmapFromIds(std::vector<uint64_t>* ids, Bitmap* out);

// *out = the union of `inputs` (none: the empty set).
void UnionOf(const std::vector<const Bitmap*>& inputs, Bitmap* out);

size_t BitmapBytes(const Bitmap& b);  // memory, approximately

// The ids of one string or tag value. Most values of a high-cardinality attribute (a SKU, a
// title) belong to one item, and a roaring bitmap of one id costs ~250 bytes, so a lone id is
// kept inline until a second one arrives.
class Posting {
 public:
  void Add(uint64_t id);
  void Remove(uint64_t id);
  bool empty() const { return !has_one_ && many_ == nullptr; }
  // Hands this posting's ids to a union: a lone id to *ids, a bitmap to *bitmaps.
  void AddTo(std::vector<uint64_t>* ids, std::vector<const Bitmap*>* bitmaps) const;
  size_t MemoryBytes() const;

 private:
  uint64_t one_ = 0;
  bool has_one_ = false;
  std::unique_ptr<Bitmap> many_;  // two ids or more
};

struct IdSet::Rep {
  explicit Rep(Bitmap* b);  // takes *b's contents (leaves it empty)

  // The bit array over [0, max_id + 1), built on first use; null when the set is too sparse
  // for one to pay off.
  const uint64_t* DenseBits() const;

  Bitmap bitmap;
  size_t count = 0;
  uint64_t max_id = 0;
  bool dense_ok = false;  // whether DenseBits() builds an array

 private:
  mutable std::once_flag dense_once_;
  mutable std::unique_ptr<uint64_t[]> dense_;
};

// Makes IdSets from bitmaps (IdSet's constructor from a Rep is private).
struct IdSetBuilder {
  static IdSet Make(Bitmap* bitmap);  // takes *bitmap's contents
};

}  // namespace filter
}  // namespace reco
