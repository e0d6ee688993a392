#include "index/vector_index.h"

#include <faiss/IVFlib.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>
#include <faiss/utils/distances.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

namespace reco {
namespace index {

Status ParseMetric(const std::string& name, Metric* metric) {
  if (name == "cosine")
    *metric = Metric::kCosine;
  else if (name == "ip" || name == "inner_product" || name == "dot")
    *metric = Metric::kInnerProduct;
  else if (name == "l2" || name == "L2" || name == "euclidean")
    *metric = Metric::kL2;
  else
    return Status::InvalidArgument("unknown metric '" + name + "' (use cosine, ip or l2)");
  return Status::OK();
}

const char* MetricName(Metric metric) {
  switch (metric) {
    case Metric::kCosine:
      return "cosine";
    case Metric::kInnerProduct:
      return "ip";
    case Metric::kL2:
      return "l2";
  }
  return "?";
}

namespace {

using faiss_idx = faiss::Index::idx_t;

faiss::MetricType ToFaiss(Metric m) {
  return m == Metric::kL2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
}

// Runs a FAISS call and turns its exceptions into a Status (the one place that catches them).
template <class Fn>
Status Guard(const char* what, Fn&& fn) {
  try {
    fn();
    return Status::OK();
  } catch (const faiss::FaissException& e) {
    return Status::Internal(std::string(what) + ": " + e.what());
  } catch (const std::exception& e) {
    return Status::Internal(std::string(what) + ": " + e.what());
  }
}

// How the FAISS index holds our ids.
enum class Mode {
  kIdMap,   // IndexIDMap2 around an index with sequential ids (Flat, PQ, SQ ...)
  kNative,  // the index stores labels itself and removes them (IVF family)
  kSlots,   // the index cannot remove (HNSW): we map slots to ids and keep tombstones
};

class FaissIndex final : public VectorIndex {
 public:
  explicit FaissIndex(const IndexOptions& options) : options_(options) {}

  Status Init() {
    std::unique_ptr<faiss::Index> index;
    Status st = Guard("index spec", [&] {
      index.reset(faiss::index_factory(static_cast<int>(options_.dim), options_.spec.c_str(),
                                       ToFaiss(options_.metric)));
    });
    if (!st.ok()) {
      return Status::InvalidArgument("FAISS refuses index spec '" + options_.spec + "' for dim " +
                                     std::to_string(options_.dim) + ": " + st.message());
    }
    if (dynamic_cast<faiss::IndexHNSW*>(index.get()) != nullptr) {
      mode_ = Mode::kSlots;
    } else if (faiss::ivflib::try_extract_index_ivf(index.get()) != nullptr) {
      mode_ = Mode::kNative;
    } else {
      mode_ = Mode::kIdMap;
    }
    needs_training_ = !index->is_trained;
    if (needs_training_) {
      train_threshold_ = options_.train_threshold;
      if (train_threshold_ == 0) {
        size_t nlist = 0;
        if (auto* ivf = faiss::ivflib::try_extract_index_ivf(index.get())) nlist = ivf->nlist;
        train_threshold_ = std::max<size_t>(39 * nlist, 1000);
        if (options_.spec.find("PQ") != std::string::npos) {
          train_threshold_ = std::max<size_t>(train_threshold_, 39 * 256);
        }
      }
      staging_ = std::make_unique<faiss::IndexIDMap2>(
          new faiss::IndexFlat(static_cast<int>(options_.dim), ToFaiss(options_.metric)));
      staging_->own_fields = true;
    }
    if (mode_ == Mode::kIdMap) {
      auto map = std::make_unique<faiss::IndexIDMap2>(index.release());
      map->own_fields = true;
      index_ = std::move(map);
    } else {
      index_ = std::move(index);
    }
    return Status::OK();
  }

  Status Add(const uint64_t* ids, const float* vectors, size_t n) override {
    if (n == 0) return Status::OK();
    // Replace ids already present.
    std::vector<uint64_t> existing;
    for (size_t i = 0; i < n; ++i) {
      if (present_.count(ids[i])) existing.push_back(ids[i]);
    }
    RECO_RETURN_IF_ERROR(Remove(existing.data(), existing.size()));
    // Within one call a later duplicate wins: keep the last occurrence of each id.
    std::vector<size_t> order;
    order.reserve(n);
    {
      std::unordered_set<uint64_t> seen;
      for (size_t i = n; i-- > 0;) {
        if (seen.insert(ids[i]).second) order.push_back(i);
      }
      std::reverse(order.begin(), order.end());
    }
    const size_t d = options_.dim;
    std::vector<float> x(order.size() * d);
    std::vector<faiss_idx> labels(order.size());
    for (size_t j = 0; j < order.size(); ++j) {
      std::copy(vectors + order[j] * d, vectors + (order[j] + 1) * d, x.begin() + j * d);
      labels[j] = static_cast<faiss_idx>(ids[order[j]]);
      for (size_t c = 0; c < d; ++c) {
        if (!std::isfinite(x[j * d + c])) {
          return Status::InvalidArgument("vector for id " + std::to_string(ids[order[j]]) +
                                         " has a NaN or infinite component at " +
                                         std::to_string(c));
        }
      }
    }
    if (options_.metric == Metric::kCosine) {
      faiss::fvec_renorm_L2(d, order.size(), x.data());
    }
    const faiss_idx m = static_cast<faiss_idx>(order.size());
    if (staging_) {
      RECO_RETURN_IF_ERROR(Guard("adding to staging index",
                                 [&] { staging_->add_with_ids(m, x.data(), labels.data()); }));
      for (auto l : labels) present_.insert(static_cast<uint64_t>(l));
      if (present_.size() >= train_threshold_) return TrainFromStaging();
      return Status::OK();
    }
    RECO_RETURN_IF_ERROR(AddToIndex(x.data(), labels.data(), m));
    for (auto l : labels) present_.insert(static_cast<uint64_t>(l));
    return Status::OK();
  }

  Status Remove(const uint64_t* ids, size_t n) override {
    std::vector<faiss_idx> labels;
    for (size_t i = 0; i < n; ++i) {
      if (present_.erase(ids[i])) labels.push_back(static_cast<faiss_idx>(ids[i]));
    }
    if (labels.empty()) return Status::OK();
    faiss::IDSelectorBatch sel(labels.size(), labels.data());
    if (staging_) return Guard("removing from staging index", [&] { staging_->remove_ids(sel); });
    if (mode_ == Mode::kSlots) {
      for (auto l : labels) {
        auto it = slot_of_.find(static_cast<uint64_t>(l));
        dead_[it->second] = true;
        slot_of_.erase(it);
        ++tombstones_;
      }
      return Status::OK();
    }
    return Guard("removing from index", [&] { index_->remove_ids(sel); });
  }

  Status Search(const float* query, size_t k, std::vector<Neighbor>* out) const override {
    out->clear();
    if (k == 0) return Status::InvalidArgument("k must be at least 1");
    const size_t d = options_.dim;
    std::vector<float> q(query, query + d);
    for (size_t c = 0; c < d; ++c) {
      if (!std::isfinite(q[c])) {
        return Status::InvalidArgument("query vector has a NaN or infinite component at " +
                                       std::to_string(c));
      }
    }
    if (present_.empty()) return Status::OK();
    if (options_.metric == Metric::kCosine) faiss::fvec_renorm_L2(d, 1, q.data());
    const faiss::Index* index = staging_ ? staging_.get() : index_.get();
    // HNSW skips tombstones after the search, so it asks for that many more.
    size_t want = std::min(k, present_.size());
    size_t fetch = mode_ == Mode::kSlots && !staging_
                       ? std::min<size_t>(want + tombstones_, static_cast<size_t>(index->ntotal))
                       : want;
    std::vector<float> dist(fetch);
    std::vector<faiss_idx> labels(fetch);
    RECO_RETURN_IF_ERROR(Guard("searching", [&] {
      index->search(1, q.data(), static_cast<faiss_idx>(fetch), dist.data(), labels.data());
    }));
    const bool l2 = options_.metric == Metric::kL2;
    for (size_t i = 0; i < fetch && out->size() < want; ++i) {
      if (labels[i] < 0) continue;
      uint64_t id = static_cast<uint64_t>(labels[i]);
      if (mode_ == Mode::kSlots && !staging_) {
        if (dead_[id]) continue;
        id = slot_ids_[id];
      }
      out->push_back({id, l2 ? -dist[i] : dist[i]});
    }
    if (out->size() < want && mode_ == Mode::kSlots && !staging_) {
      // So many tombstones that the graph search came back short: answer exactly instead.
      return ExactOverLiveSlots(q.data(), want, out);
    }
    return Status::OK();
  }

  bool Contains(uint64_t id) const override { return present_.count(id) != 0; }
  size_t size() const override { return present_.size(); }

  IndexStats Stats() const override {
    IndexStats s;
    s.vectors = present_.size();
    s.tombstones = tombstones_;
    s.trained = !staging_;
    return s;
  }

  const IndexOptions& options() const override { return options_; }

 private:
  Status AddToIndex(const float* x, const faiss_idx* labels, faiss_idx n) {
    if (mode_ == Mode::kSlots) {
      std::vector<faiss_idx> slots(n);
      for (faiss_idx i = 0; i < n; ++i) {
        slots[i] = static_cast<faiss_idx>(slot_ids_.size());
        slot_of_[static_cast<uint64_t>(labels[i])] = slot_ids_.size();
        slot_ids_.push_back(static_cast<uint64_t>(labels[i]));
        dead_.push_back(false);
      }
      return Guard("adding to HNSW index", [&] { index_->add(n, x); });
    }
    return Guard("adding to index", [&] { index_->add_with_ids(n, x, labels); });
  }

  Status ExactOverLiveSlots(const float* q, size_t want, std::vector<Neighbor>* out) const {
    const auto* hnsw = static_cast<const faiss::IndexHNSW*>(index_.get());
    const size_t d = options_.dim;
    std::vector<float> v(d);
    std::vector<Neighbor> all;
    all.reserve(present_.size());
    Status st = Guard("exact search over HNSW storage", [&] {
      for (size_t slot = 0; slot < slot_ids_.size(); ++slot) {
        if (dead_[slot]) continue;
        hnsw->storage->reconstruct(static_cast<faiss_idx>(slot), v.data());
        float score = 0;
        if (options_.metric == Metric::kL2) {
          score = -faiss::fvec_L2sqr(q, v.data(), d);
        } else {
          score = faiss::fvec_inner_product(q, v.data(), d);
        }
        all.push_back({slot_ids_[slot], score});
      }
    });
    RECO_RETURN_IF_ERROR(st);
    size_t n = std::min(want, all.size());
    std::partial_sort(all.begin(), all.begin() + n, all.end(),
                      [](const Neighbor& a, const Neighbor& b) { return a.score > b.score; });
    all.resize(n);
    *out = std::move(all);
    return Status::OK();
  }

  // Trains the real index on everything staged so far, moves it over, drops the staging.
  Status TrainFromStaging() {
    auto* flat = static_cast<faiss::IndexFlat*>(staging_->index);
    const faiss_idx n = staging_->ntotal;
    const float* x = flat->get_xb();
    RECO_RETURN_IF_ERROR(Guard("training index", [&] { index_->train(n, x); }));
    RECO_RETURN_IF_ERROR(AddToIndex(x, staging_->id_map.data(), n));
    staging_.reset();
    return Status::OK();
  }

  IndexOptions options_;
  Mode mode_ = Mode::kIdMap;
  std::unique_ptr<faiss::Index> index_;
  bool needs_training_ = false;
  size_t train_threshold_ = 0;
  std::unique_ptr<faiss::IndexIDMap2> staging_;  // exact answers until trained
  std::unordered_set<uint64_t> present_;         // live ids
  // Slot mode (HNSW): slot -> id, id -> slot, removed slots.
  std::vector<uint64_t> slot_ids_;
  std::unordered_map<uint64_t, size_t> slot_of_;
  std::vector<bool> dead_;
  size_t tombstones_ = 0;
};

}  // namespace

Status VectorIndex::Create(const IndexOptions& options, std::unique_ptr<VectorIndex>* out) {
  if (options.dim == 0) return Status::InvalidArgument("index dim must be at least 1");
  if (options.spec.empty()) return Status::InvalidArgument("index spec is empty");
  auto index = std::make_unique<FaissIndex>(options);
  RECO_RETURN_IF_ERROR(index->Init());
  *out = std::move(index);
  return Status::OK();
}

}  // namespace index
}  // namespace reco
