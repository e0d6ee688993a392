#include "tools/bench/hnswlib_baseline.h"

#include <atomic>
#include <thread>
#include <vector>

// hnswlib.h defines functions and variables without `inline` or `static` (cpuid() at global
// scope, hnswlib::InnerProductSIMD16Ext ...), and reco_index compiles its own copy: give this
// copy its own names, namespace included.
#define hnswlib reco_bench_hnswlib
#define cpuid reco_bench_hnswlib_cpuid
#define xgetbv reco_bench_hnswlib_xgetbv
#define AVXCapable reco_bench_hnswlib_AVXCapable
#define AVX512Capable reco_bench_hnswlib_AVX512Capable
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#include <hnswlib/hnswlib.h>
#pragma GCC diagnostic pop
#undef cpuid
#undef xgetbv
#undef AVXCapable
#undef AVX512Capable

namespace reco {
namespace bench {

struct HnswlibIndex::Impl {
  Impl(size_t dim, size_t max_elements, size_t m, size_t ef_construction)
      : dim_(dim),
        space(dim),
        graph(&space, max_elements, m, ef_construction, /*random_seed=*/100) {}
  size_t dim_;
  hnswlib::InnerProductSpace space;
  hnswlib::HierarchicalNSW<float> graph;
};

HnswlibIndex::HnswlibIndex(size_t dim, size_t max_elements, size_t m, size_t ef_construction)
    : impl_(std::make_unique<Impl>(dim, max_elements, m, ef_construction)) {}

HnswlibIndex::~HnswlibIndex() = default;

void HnswlibIndex::Build(const float* data, size_t n, int threads) {
  const size_t dim = impl_->dim_;
  // The first point alone, as hnswlib's Python binding does, so the graph has an entry point.
  size_t start = 0;
  if (impl_->graph.cur_element_count == 0 && n > 0) {
    impl_->graph.addPoint(data, 0);
    start = 1;
  }
  std::atomic<size_t> next{start};
  auto work = [&] {
    for (size_t i = next++; i < n; i = next++) impl_->graph.addPoint(data + i * dim, i);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
}

void HnswlibIndex::SetEf(size_t ef) { impl_->graph.setEf(ef); }

void HnswlibIndex::Search(const float* query, size_t k, int64_t* labels) const {
  auto result = impl_->graph.searchKnn(query, k);
  for (size_t i = k; i > 0; --i) {
    if (result.empty()) {
      labels[i - 1] = -1;
    } else {
      labels[i - 1] = static_cast<int64_t>(result.top().second);
      result.pop();
    }
  }
  // Fewer than k found: shift the found ones to the front.
  size_t missing = 0;
  while (missing < k && labels[missing] == -1) ++missing;
  if (missing > 0) {
    for (size_t i = 0; i + missing < k; ++i) labels[i] = labels[i + missing];
    for (size_t i = k - missing; i < k; ++i) labels[i] = -1;
  }
}

size_t HnswlibIndex::MemoryBytes() const {
  const auto& g = impl_->graph;
  size_t upper = 0;
  for (size_t i = 0; i < g.cur_element_count; ++i) {
    if (g.element_levels_[i] > 0) upper += g.size_links_per_element_ * g.element_levels_[i];
  }
  return g.max_elements_ * g.size_data_per_element_ + upper;
}

}  // namespace bench
}  // namespace reco
