// Internal to reco_filter: the index of one number attribute, answering ranges over the
// values with a bitmap of ids.
//
// Live (value, id) pairs are kept in `main_`, sorted, with one bitmap per block of
// `block_size` consecutive pairs: a range is two binary searches, the union of the blocks it
// covers whole, and the ids of at most two partial blocks. Changes are cheap: Insert/Erase
// append to a log. The next query (or a long log) folds the log into two small side
// structures, `dead_` (ids whose pair in main_ was erased) and `delta_` (sorted live pairs not
// in main_), which every query merges into its answer; once those hold
// max(min_rebuild, live / 32) changes, main_ and its blocks are rebuilt.
//
// Thread-safety: as AttributeIndex. Const methods may run concurrently: the first to find the
// log non-empty folds it in under mu_ (the mutable members below change only there, or in
// mutations, which have exclusive access).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "filter/bitmap.h"

namespace reco {
namespace filter {

class NumericColumn {
 public:
  NumericColumn(size_t block_size, size_t min_rebuild);

  // `value` is not NaN.
  void Insert(double value, uint64_t id);
  void Erase(double value, uint64_t id);

  // *out = the ids whose value lies between lo and hi (each bound included or not).
  void Range(double lo, bool lo_included, double hi, bool hi_included, Bitmap* out) const;
  // *out = the ids whose value is one of `values`.
  void Equal(std::vector<double> values, Bitmap* out) const;

  size_t MemoryBytes() const;

 private:
  struct Entry {
    double value;
    uint64_t id;
  };
  struct Change {
    Entry entry;
    int delta;  // +1 inserted, -1 erased; summed per entry when folded
  };
  // Where a query's ids come from; merged by Finish().
  struct Collector {
    std::vector<uint64_t> main_ids;     // from main_, before removing dead_
    std::vector<const Bitmap*> blocks;  // whole blocks of main_, before removing dead_
    std::vector<uint64_t> delta_ids;    // from delta_ (live)
  };

  static bool Less(const Entry& a, const Entry& b) {
    return a.value < b.value || (a.value == b.value && a.id < b.id);
  }

  void EnsureFresh() const;
  void Fold() const;  // folds log_ into dead_/delta_, or rebuilds; needs mu_ or exclusivity
  void Rebuild(const std::vector<Change>& net) const;
  void Collect(double lo, bool lo_included, double hi, bool hi_included, Collector* c) const;
  void Finish(Collector* c, Bitmap* out) const;

  const size_t block_size_;
  const size_t min_rebuild_;

  mutable std::mutex mu_;
  mutable std::atomic<bool> fresh_{true};  // log_ is empty
  mutable std::vector<Entry> main_;        // sorted by (value, id), one pair per id
  mutable std::vector<Bitmap> blocks_;     // ids of main_[i * block_size_, (i+1) * block_size_)
  mutable Bitmap dead_;                    // ids whose pair in main_ is erased
  mutable size_t dead_count_ = 0;
  mutable std::vector<Entry> delta_;  // sorted live pairs not in main_
  mutable std::vector<Change> log_;   // changes not yet folded in
};

}  // namespace filter
}  // namespace reco
