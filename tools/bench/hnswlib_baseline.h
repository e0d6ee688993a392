// The hnswlib baseline: Debian's header-only libhnswlib-dev compiled with this target's flags
// (-O3 -march=native, as reco_index's copy). Only hnswlib_baseline.cc includes hnswlib: its
// header defines non-inline functions and variables, which that file renames so they cannot
// clash with reco_index's copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace reco {
namespace bench {

// Inner-product HNSW over normalised vectors (cosine), labels 0..n-1.
class HnswlibIndex {
 public:
  HnswlibIndex(size_t dim, size_t max_elements, size_t m, size_t ef_construction);
  ~HnswlibIndex();
  // Adds vectors 0..n-1 with `threads` threads.
  void Build(const float* data, size_t n, int threads);
  void SetEf(size_t ef);
  // Top-k labels, best first; missing entries are -1.
  void Search(const float* query, size_t k, int64_t* labels) const;
  size_t MemoryBytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bench
}  // namespace reco
