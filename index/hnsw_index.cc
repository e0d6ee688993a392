// HNSW on hnswlib (header-only, compiled with the project's flags: ANCHORS.md measured
// Debian's SSE-only FAISS HNSW 2.6x slower). Removal marks a tombstone (hnswlib keeps the
// node in the graph for navigation); searches are reco's own best-first walk over hnswlib's
// graph so that they can take a per-query ef and an id filter, and they never return a
// tombstone or an id outside the filter.
#include <hnswlib/hnswlib.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <queue>
#include <unordered_set>

#include "index/index_internal.h"

namespace reco {
namespace index {
namespace {

using hnswlib::labeltype;
using hnswlib::tableint;
using Graph = hnswlib::HierarchicalNSW<float>;

constexpr size_t kInitialCapacity = 1024;
// Filters matching fewer ids than this (or than 2% of the graph) are answered exactly.
constexpr size_t kExactFilterMin = 2048;

class HnswIndex final : public VectorIndex {
 public:
  HnswIndex(const IndexOptions& options, uint32_t m) : o_(options), m_(m), d_(options.dim) {
    if (o_.metric == Metric::kL2) {
      space_ = std::make_unique<hnswlib::L2Space>(d_);
    } else {
      space_ = std::make_unique<hnswlib::InnerProductSpace>(d_);
    }
  }

  Status Init(size_t capacity) {
    return internal::Guard("creating HNSW graph", [&] {
      graph_ = std::make_unique<Graph>(space_.get(), std::max(capacity, kInitialCapacity), m_,
                                       o_.ef_construction, /*random_seed=*/100);
    });
  }

  Status Add(const uint64_t* ids, const float* vectors, size_t n) override {
    if (n == 0) return Status::OK();
    RECO_RETURN_IF_ERROR(internal::CheckFinite(vectors, n * d_, "vector"));
    // Last occurrence of each id wins; hnswlib must not see one label twice concurrently.
    std::vector<size_t> order;
    {
      std::unordered_set<uint64_t> seen;
      for (size_t i = n; i-- > 0;) {
        if (seen.insert(ids[i]).second) order.push_back(i);
      }
    }
    std::vector<float> x(order.size() * d_);
    for (size_t j = 0; j < order.size(); ++j) {
      std::memcpy(&x[j * d_], vectors + order[j] * d_, d_ * sizeof(float));
    }
    if (o_.metric == Metric::kCosine) internal::NormalizeRows(x.data(), order.size(), d_);
    size_t fresh = 0;
    for (size_t j : order) fresh += live_.count(ids[j]) ? 0 : 1;
    size_t needed = graph_->cur_element_count + fresh;
    if (needed > graph_->max_elements_) {
      RECO_RETURN_IF_ERROR(internal::Guard("growing HNSW graph", [&] {
        graph_->resizeIndex(std::max(needed, graph_->max_elements_ * 2));
      }));
    }
    // hnswlib supports concurrent inserts of distinct labels.
    std::string error;
    const int threads = order.size() >= 64 ? 2 : 1;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 16)
    for (size_t j = 0; j < order.size(); ++j) {
      try {
        graph_->addPoint(&x[j * d_], static_cast<labeltype>(ids[order[j]]));
      } catch (const std::exception& e) {
#pragma omp critical
        error = e.what();
      }
    }
    for (size_t j : order) {
      if (!live_.insert(ids[j]).second) continue;
      if (dead_.erase(ids[j])) --tombstones_;  // a removed id came back: hnswlib revived it
    }
    if (!error.empty()) return Status::Internal("adding to HNSW graph: " + error);
    return Status::OK();
  }

  Status Remove(const uint64_t* ids, size_t n) override {
    for (size_t i = 0; i < n; ++i) {
      if (!live_.erase(ids[i])) continue;
      RECO_RETURN_IF_ERROR(internal::Guard(
          "removing from HNSW graph", [&] { graph_->markDelete(static_cast<labeltype>(ids[i])); }));
      dead_.insert(ids[i]);
      ++tombstones_;
    }
    return Status::OK();
  }

  Status Search(const float* query, size_t k, const SearchParams& params, const IdFilter* filter,
                std::vector<Neighbor>* out) const override {
    out->clear();
    if (k == 0) return Status::InvalidArgument("k must be at least 1");
    RECO_RETURN_IF_ERROR(internal::CheckFinite(query, d_, "query vector"));
    std::vector<float> q(query, query + d_);
    if (o_.metric == Metric::kCosine) internal::NormalizeRows(q.data(), 1, d_);
    if (live_.empty()) return Status::OK();
    const size_t want = std::min(k, filter ? filter->Count() : live_.size());
    if (want == 0) return Status::OK();

    if (filter != nullptr && filter->Count() < std::max(kExactFilterMin, live_.size() / 50)) {
      return ExactOver(q.data(), k, *filter, out);
    }
    size_t ef = std::max<size_t>(params.ef ? params.ef : o_.ef_search, k);
    internal::TopK top(k);
    Walk(q.data(), ef, filter, &top);
    *out = top.Take();
    if (out->size() < want) {
      // The walk came back short (heavy tombstones or a sparse filter): answer exactly.
      if (filter != nullptr) return ExactOver(q.data(), k, *filter, out);
      return ExactOverLive(q.data(), k, out);
    }
    return Status::OK();
  }

  bool Contains(uint64_t id) const override { return live_.count(id) != 0; }
  size_t size() const override { return live_.size(); }

  IndexStats Stats() const override {
    IndexStats s;
    s.backend = "hnswlib";
    s.vectors = live_.size();
    s.tombstones = tombstones_;
    size_t links = 0;
    for (size_t i = 0; i < graph_->cur_element_count; ++i) {
      links += graph_->element_levels_[i] > 0
                   ? graph_->size_links_per_element_ * graph_->element_levels_[i] + 1
                   : 0;
    }
    s.memory_bytes = graph_->max_elements_ * (graph_->size_data_per_element_ + sizeof(void*) +
                                              sizeof(int) + sizeof(uint16_t)) +
                     links + graph_->label_lookup_.size() * 32 + live_.size() * 32;
    return s;
  }

  const IndexOptions& options() const override { return o_; }

  bool NeedsRebuild() const override {
    size_t total = live_.size() + tombstones_;
    return tombstones_ > 1000 && tombstones_ > o_.rebuild_tombstone_ratio * total;
  }

  Status Save(const std::string& path) const override {
    internal::OutFile out;
    RECO_RETURN_IF_ERROR(out.Open(path));
    internal::WriteHeader(&out, internal::Backend::kHnswlib, o_);
    const Graph& g = *graph_;
    out.Pod<uint64_t>(g.cur_element_count);
    out.Pod<uint64_t>(g.M_);
    out.Pod<uint64_t>(g.ef_construction_);
    out.Pod<uint64_t>(g.size_data_per_element_);
    out.Pod<int32_t>(g.maxlevel_);
    out.Pod<uint32_t>(g.enterpoint_node_);
    out.Write(g.data_level0_memory_, g.cur_element_count * g.size_data_per_element_);
    for (size_t i = 0; i < g.cur_element_count; ++i) {
      int32_t level = g.element_levels_[i];
      out.Pod(level);
      if (level > 0) out.Write(g.linkLists_[i], g.size_links_per_element_ * level);
    }
    return out.Close();
  }

  Status ReadPayload(internal::InFile* in) {
    uint64_t count, m, efc, per_element;
    int32_t maxlevel;
    uint32_t enter;
    if (!in->Pod(&count) || !in->Pod(&m) || !in->Pod(&efc) || !in->Pod(&per_element) ||
        !in->Pod(&maxlevel) || !in->Pod(&enter) || m != m_ ||
        count > in->remaining() / std::max<uint64_t>(per_element, 1)) {
      return Status::Corruption("HNSW graph header does not decode");
    }
    RECO_RETURN_IF_ERROR(Init(count + count / 4));
    Graph& g = *graph_;
    if (per_element != g.size_data_per_element_) {
      return Status::Corruption("HNSW graph was written with another element layout");
    }
    if (!in->Read(g.data_level0_memory_, count * per_element)) {
      return Status::Corruption("HNSW graph base layer is short");
    }
    for (size_t i = 0; i < count; ++i) {
      int32_t level;
      if (!in->Pod(&level) || level < 0 || level > 64) return Status::Corruption("HNSW level");
      g.element_levels_[i] = level;
      g.linkLists_[i] = nullptr;
      if (level > 0) {
        size_t bytes = g.size_links_per_element_ * level;
        g.linkLists_[i] = static_cast<char*>(std::malloc(bytes + 1));
        if (g.linkLists_[i] == nullptr) return Status::Internal("out of memory loading HNSW");
        if (!in->Read(g.linkLists_[i], bytes)) return Status::Corruption("HNSW links are short");
      }
    }
    g.cur_element_count = count;
    g.maxlevel_ = maxlevel;
    g.enterpoint_node_ = enter;
    g.ef_construction_ = efc;
    for (size_t i = 0; i < count; ++i) {
      tableint t = static_cast<tableint>(i);
      uint64_t label = g.getExternalLabel(t);
      g.label_lookup_[label] = t;
      if (g.isMarkedDeleted(t)) {
        ++g.num_deleted_;
        dead_.insert(label);
        ++tombstones_;
      } else {
        live_.insert(label);
      }
    }
    return Status::OK();
  }

 private:
  float ScoreOf(float dist) const { return o_.metric == Metric::kL2 ? -dist : 1.0f - dist; }

  // Best-first search: greedy descent through the upper layers, then a beam of width ef on
  // layer 0. Tombstones and filtered-out nodes are walked through but never returned.
  void Walk(const float* q, size_t ef, const IdFilter* filter, internal::TopK* top) const {
    const Graph& g = *graph_;
    auto dist = [&](tableint id) {
      return g.fstdistfunc_(q, g.getDataByInternalId(id), g.dist_func_param_);
    };
    tableint cur = g.enterpoint_node_;
    float cur_dist = dist(cur);
    for (int level = g.maxlevel_; level > 0; --level) {
      bool changed = true;
      while (changed) {
        changed = false;
        const unsigned int* links = g.get_linklist(cur, level);
        int n = g.getListCount(const_cast<unsigned int*>(links));
        const tableint* nb = reinterpret_cast<const tableint*>(links + 1);
        for (int i = 0; i < n; ++i) {
          float d = dist(nb[i]);
          if (d < cur_dist) {
            cur_dist = d;
            cur = nb[i];
            changed = true;
          }
        }
      }
    }
    hnswlib::VisitedList* visited = g.visited_list_pool_->getFreeVisitedList();
    hnswlib::vl_type* mark = visited->mass;
    hnswlib::vl_type tag = visited->curV;
    using Entry = std::pair<float, tableint>;
    std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> candidates;  // nearest
    std::priority_queue<Entry> results;  // farthest on top, only admissible nodes
    auto admissible = [&](tableint id) {
      if (g.isMarkedDeleted(id)) return false;
      return filter == nullptr || filter->Contains(g.getExternalLabel(id));
    };
    float bound = std::numeric_limits<float>::max();
    candidates.emplace(cur_dist, cur);
    mark[cur] = tag;
    if (admissible(cur)) {
      results.emplace(cur_dist, cur);
      if (results.size() >= ef) bound = results.top().first;
    }
    while (!candidates.empty()) {
      auto [d, node] = candidates.top();
      if (d > bound && results.size() >= ef) break;
      candidates.pop();
      const unsigned int* links = g.get_linklist0(node);
      int n = g.getListCount(const_cast<unsigned int*>(links));
      const tableint* nb = reinterpret_cast<const tableint*>(links + 1);
      for (int i = 0; i < n; ++i) {
        tableint next = nb[i];
        if (mark[next] == tag) continue;
        mark[next] = tag;
        float dn = dist(next);
        if (results.size() < ef || dn < bound) {
          candidates.emplace(dn, next);
          if (admissible(next)) {
            results.emplace(dn, next);
            if (results.size() > ef) results.pop();
            if (results.size() >= ef) bound = results.top().first;
          }
        }
      }
    }
    g.visited_list_pool_->releaseVisitedList(visited);
    while (!results.empty()) {
      top->Push(ScoreOf(results.top().first), g.getExternalLabel(results.top().second));
      results.pop();
    }
  }

  const float* VectorOf(uint64_t id) const {
    auto it = graph_->label_lookup_.find(static_cast<labeltype>(id));
    if (it == graph_->label_lookup_.end()) return nullptr;
    return reinterpret_cast<const float*>(graph_->getDataByInternalId(it->second));
  }

  float Distance(const float* q, const float* v) const {
    return graph_->fstdistfunc_(q, v, graph_->dist_func_param_);
  }

  Status ExactOver(const float* q, size_t k, const IdFilter& filter,
                   std::vector<Neighbor>* out) const {
    internal::TopK top(k);
    filter.ForEach([&](uint64_t id) {
      if (!live_.count(id)) return;
      if (const float* v = VectorOf(id)) top.Push(ScoreOf(Distance(q, v)), id);
    });
    *out = top.Take();
    return Status::OK();
  }

  Status ExactOverLive(const float* q, size_t k, std::vector<Neighbor>* out) const {
    internal::TopK top(k);
    for (uint64_t id : live_) {
      if (const float* v = VectorOf(id)) top.Push(ScoreOf(Distance(q, v)), id);
    }
    *out = top.Take();
    return Status::OK();
  }

  IndexOptions o_;
  uint32_t m_;
  size_t d_;
  std::unique_ptr<hnswlib::SpaceInterface<float>> space_;
  std::unique_ptr<Graph> graph_;
  std::unordered_set<uint64_t> live_;
  std::unordered_set<uint64_t> dead_;
  size_t tombstones_ = 0;
};

}  // namespace

Status CreateHnswIndex(const IndexOptions& options, uint32_t m, std::unique_ptr<VectorIndex>* out) {
  auto index = std::make_unique<HnswIndex>(options, m);
  RECO_RETURN_IF_ERROR(index->Init(kInitialCapacity));
  *out = std::move(index);
  return Status::OK();
}

Status LoadHnswIndex(const IndexOptions& options, uint32_t m, internal::InFile* in,
                     std::unique_ptr<VectorIndex>* out) {
  auto index = std::make_unique<HnswIndex>(options, m);
  RECO_RETURN_IF_ERROR(index->ReadPayload(in));
  *out = std::move(index);
  return Status::OK();
}

}  // namespace index
}  // namespace reco
