// FAISS backend: IVF, PQ, SQ and FAISS's own HNSW variants, from a factory string.
// Indexes that need training answer exactly from a Flat staging buffer until they hold
// enough vectors; then NeedsRebuild() asks the engine to build a trained copy in the
// background (or Add trains inline when options.train_threshold is reached in a rebuild).
#include <faiss/IVFlib.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <unordered_map>
#include <unordered_set>

#include "index/flat_index.h"

namespace reco {
namespace index {
namespace {

using faiss_idx = faiss::Index::idx_t;

faiss::MetricType ToFaiss(Metric m) {
  return m == Metric::kL2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
}

// How the FAISS index holds our ids.
enum class Mode : uint32_t {
  kIdMap = 0,   // IndexIDMap2 around an index with sequential ids (PQ, SQ, LSH ...)
  kNative = 1,  // the index stores labels itself and removes them (IVF family)
  kSlots = 2,   // the index cannot remove (HNSW): we map slots to ids and keep tombstones
};

// A filter as FAISS sees it (IVF searches call it with our ids as labels).
class FilterSelector : public faiss::IDSelector {
 public:
  explicit FilterSelector(const IdFilter* filter) : filter_(filter) {}
  bool is_member(faiss_idx id) const override {
    return filter_->Contains(static_cast<uint64_t>(id));
  }

 private:
  const IdFilter* filter_;
};

class Writer : public faiss::IOWriter {
 public:
  explicit Writer(internal::OutFile* out) : out_(out) {}
  size_t operator()(const void* ptr, size_t size, size_t nitems) override {
    out_->Write(ptr, size * nitems);
    return nitems;
  }

 private:
  internal::OutFile* out_;
};

class Reader : public faiss::IOReader {
 public:
  explicit Reader(internal::InFile* in) : in_(in) {}
  size_t operator()(void* ptr, size_t size, size_t nitems) override {
    if (size == 0 || nitems == 0) return nitems;
    size_t can = std::min<uint64_t>(nitems, in_->remaining() / size);
    return in_->Read(ptr, can * size) ? can : 0;
  }

 private:
  internal::InFile* in_;
};

class FaissIndex final : public VectorIndex {
 public:
  explicit FaissIndex(const IndexOptions& options) : o_(options), d_(options.dim) {}

  // Makes the (empty, maybe untrained) FAISS index for the spec.
  Status Init() {
    std::unique_ptr<faiss::Index> index;
    Status st = internal::Guard("index spec", [&] {
      index.reset(faiss::index_factory(static_cast<int>(d_), o_.spec.c_str(), ToFaiss(o_.metric)));
    });
    if (!st.ok()) {
      return Status::InvalidArgument("FAISS refuses index spec '" + o_.spec + "' for dim " +
                                     std::to_string(d_) + ": " + st.message());
    }
    if (dynamic_cast<faiss::IndexHNSW*>(index.get()) != nullptr) {
      mode_ = Mode::kSlots;
    } else if (auto* ivf = faiss::ivflib::try_extract_index_ivf(index.get())) {
      mode_ = Mode::kNative;
      // A hash-table direct map lets us reconstruct by id (exact filtered search) and
      // still remove ids.
      RECO_RETURN_IF_ERROR(internal::Guard(
          "IVF direct map", [&] { ivf->set_direct_map_type(faiss::DirectMap::Hashtable); }));
    } else {
      mode_ = Mode::kIdMap;
    }
    if (!index->is_trained) {
      train_threshold_ = o_.train_threshold;
      if (train_threshold_ == 0) {
        size_t nlist = 0;
        if (auto* ivf = faiss::ivflib::try_extract_index_ivf(index.get())) nlist = ivf->nlist;
        train_threshold_ = std::max<size_t>(39 * nlist, 1000);
        if (o_.spec.find("PQ") != std::string::npos) {
          train_threshold_ = std::max<size_t>(train_threshold_, 39 * 256);
        }
      }
      size_t nlist = 0;
      if (auto* ivf = faiss::ivflib::try_extract_index_ivf(index.get())) nlist = ivf->nlist;
      retrain_cap_ = 256 * std::max<size_t>(nlist, 256);
      IndexOptions flat = o_;
      flat.spec = "Flat";
      staging_ = std::make_unique<internal::FlatIndex>(flat);
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
    RECO_RETURN_IF_ERROR(internal::CheckFinite(vectors, n * d_, "vector"));
    if (staging_) {
      RECO_RETURN_IF_ERROR(staging_->Add(ids, vectors, n));
      if (o_.train_inline && staging_->size() >= train_threshold_) return TrainFromStaging();
      return Status::OK();
    }
    std::vector<uint64_t> existing;
    for (size_t i = 0; i < n; ++i) {
      if (present_.count(ids[i])) existing.push_back(ids[i]);
    }
    RECO_RETURN_IF_ERROR(Remove(existing.data(), existing.size()));
    // Last occurrence of an id wins.
    std::vector<size_t> order;
    std::unordered_set<uint64_t> seen;
    for (size_t i = n; i-- > 0;) {
      if (seen.insert(ids[i]).second) order.push_back(i);
    }
    std::vector<float> x(order.size() * d_);
    std::vector<faiss_idx> labels(order.size());
    for (size_t j = 0; j < order.size(); ++j) {
      std::memcpy(&x[j * d_], vectors + order[j] * d_, d_ * sizeof(float));
      labels[j] = static_cast<faiss_idx>(ids[order[j]]);
    }
    if (o_.metric == Metric::kCosine) internal::NormalizeRows(x.data(), order.size(), d_);
    return AddNormalized(x.data(), labels.data(), order.size());
  }

  Status Remove(const uint64_t* ids, size_t n) override {
    if (staging_) return staging_->Remove(ids, n);
    std::vector<faiss_idx> labels;
    for (size_t i = 0; i < n; ++i) {
      if (present_.erase(ids[i])) labels.push_back(static_cast<faiss_idx>(ids[i]));
    }
    if (labels.empty()) return Status::OK();
    if (mode_ == Mode::kSlots) {
      for (auto l : labels) {
        auto it = slot_of_.find(static_cast<uint64_t>(l));
        dead_[it->second] = true;
        slot_of_.erase(it);
        ++tombstones_;
      }
      return Status::OK();
    }
    // IVF's hash-table direct map removes only through an explicit id array.
    faiss::IDSelectorArray sel(labels.size(), labels.data());
    return internal::Guard("removing from index", [&] { index_->remove_ids(sel); });
  }

  Status Search(const float* query, size_t k, const SearchParams& params, const IdFilter* filter,
                std::vector<Neighbor>* out) const override {
    if (staging_) return staging_->Search(query, k, params, filter, out);
    out->clear();
    if (k == 0) return Status::InvalidArgument("k must be at least 1");
    RECO_RETURN_IF_ERROR(internal::CheckFinite(query, d_, "query vector"));
    std::vector<float> q(query, query + d_);
    if (o_.metric == Metric::kCosine) internal::NormalizeRows(q.data(), 1, d_);
    const size_t want = std::min(k, filter ? filter->Count() : present_.size());
    if (want == 0 || present_.empty()) return Status::OK();
    if (filter != nullptr && filter->Count() < std::max<size_t>(2048, present_.size() / 50)) {
      return ExactOver(q.data(), k, *filter, out);
    }
    size_t nprobe = params.nprobe ? params.nprobe : o_.nprobe;
    size_t fetch = k;
    for (int attempt = 0; attempt < 6; ++attempt) {
      RECO_RETURN_IF_ERROR(RunSearch(q.data(), k, fetch, nprobe, params, filter, out));
      if (out->size() >= want) return Status::OK();
      // Short: tombstones or a filter the index could not apply. Widen and retry.
      fetch *= 4;
      nprobe *= 4;
    }
    if (filter != nullptr) return ExactOver(q.data(), k, *filter, out);
    return Status::OK();
  }

  bool Contains(uint64_t id) const override {
    return staging_ ? staging_->Contains(id) : present_.count(id) != 0;
  }
  size_t size() const override { return staging_ ? staging_->size() : present_.size(); }

  IndexStats Stats() const override {
    IndexStats s;
    s.backend = "faiss";
    s.vectors = size();
    s.tombstones = tombstones_;
    s.trained = !staging_;
    if (staging_) {
      s.memory_bytes = staging_->Stats().memory_bytes;
    } else {
      s.memory_bytes = CodeBytes() + present_.size() * 32 + slot_ids_.capacity() * 8;
    }
    return s;
  }

  const IndexOptions& options() const override { return o_; }

  Status TrainNow() override {
    if (!staging_ || staging_->size() < train_threshold_) return Status::OK();
    return TrainFromStaging();
  }

  bool NeedsRebuild() const override {
    if (staging_) return staging_->size() >= train_threshold_;
    // A trained index that has since doubled asks to be retrained on everything it holds
    // (lists fitted to the first vectors go stale as a catalogue grows, worse when data
    // arrives sorted), until FAISS's training sample cap, after which more data adds nothing.
    if (mode_ != Mode::kSlots && trained_on_ > 0 && trained_on_ < retrain_cap_ &&
        present_.size() >= 2 * trained_on_) {
      return true;
    }
    size_t total = present_.size() + tombstones_;
    return mode_ == Mode::kSlots && tombstones_ > 1000 &&
           tombstones_ > o_.rebuild_tombstone_ratio * total;
  }

  Status Save(const std::string& path) const override {
    internal::OutFile out;
    RECO_RETURN_IF_ERROR(out.Open(path));
    internal::WriteHeader(&out, internal::Backend::kFaiss, o_);
    out.Pod<uint32_t>(static_cast<uint32_t>(mode_));
    out.Pod<uint8_t>(staging_ ? 1 : 0);
    if (staging_) {
      staging_->WritePayload(&out);
      return out.Close();
    }
    Writer writer(&out);
    RECO_RETURN_IF_ERROR(
        internal::Guard("writing FAISS index", [&] { faiss::write_index(index_.get(), &writer); }));
    std::vector<uint64_t> present(present_.begin(), present_.end());
    out.Pod<uint64_t>(present.size());
    out.Write(present.data(), present.size() * 8);
    out.Pod<uint64_t>(slot_ids_.size());
    out.Write(slot_ids_.data(), slot_ids_.size() * 8);
    std::vector<uint8_t> dead(dead_.begin(), dead_.end());
    out.Write(dead.data(), dead.size());
    return out.Close();
  }

  Status ReadPayload(internal::InFile* in) {
    uint32_t mode;
    uint8_t staged;
    if (!in->Pod(&mode) || !in->Pod(&staged) || mode != static_cast<uint32_t>(mode_)) {
      return Status::Corruption("FAISS index header does not match its spec");
    }
    if (staged) {
      if (!staging_) return Status::Corruption("staged data for an index without training");
      return staging_->ReadPayload(in);
    }
    staging_.reset();
    Reader reader(in);
    faiss::Index* raw = nullptr;
    RECO_RETURN_IF_ERROR(
        internal::Guard("reading FAISS index", [&] { raw = faiss::read_index(&reader); }));
    index_.reset(raw);
    if (index_->d != static_cast<int>(d_)) return Status::Corruption("FAISS index has another dim");
    uint64_t n;
    if (!in->Pod(&n) || n > in->remaining() / 8) return Status::Corruption("id list");
    std::vector<uint64_t> present(n);
    if (!in->Read(present.data(), n * 8)) return Status::Corruption("id list is short");
    present_.insert(present.begin(), present.end());
    trained_on_ = present_.size();  // not stored: growth is counted from here
    if (!in->Pod(&n) || n > in->remaining() / 9) return Status::Corruption("slot list");
    slot_ids_.resize(n);
    std::vector<uint8_t> dead(n);
    if (!in->Read(slot_ids_.data(), n * 8) || !in->Read(dead.data(), n)) {
      return Status::Corruption("slot list is short");
    }
    dead_.assign(dead.begin(), dead.end());
    for (size_t i = 0; i < n; ++i) {
      if (dead_[i]) {
        ++tombstones_;
      } else {
        slot_of_[slot_ids_[i]] = i;
      }
    }
    return Status::OK();
  }

 private:
  size_t CodeBytes() const {
    if (auto* ivf = faiss::ivflib::try_extract_index_ivf(index_.get())) {
      return ivf->invlists->compute_ntotal() * (ivf->code_size + sizeof(faiss_idx)) +
             ivf->nlist * d_ * sizeof(float);
    }
    if (mode_ == Mode::kSlots) {
      auto* h = static_cast<const faiss::IndexHNSW*>(index_.get());
      size_t codes = h->storage ? h->storage->sa_code_size() * h->ntotal : 0;
      return codes + h->hnsw.neighbors.size() * sizeof(int32_t) + h->ntotal * 16;
    }
    auto* map = static_cast<const faiss::IndexIDMap2*>(index_.get());
    return map->index->sa_code_size() * map->ntotal + map->ntotal * 40;
  }

  Status AddNormalized(const float* x, const faiss_idx* labels, size_t n) {
    if (mode_ == Mode::kSlots) {
      for (size_t i = 0; i < n; ++i) {
        slot_of_[static_cast<uint64_t>(labels[i])] = slot_ids_.size();
        slot_ids_.push_back(static_cast<uint64_t>(labels[i]));
        dead_.push_back(false);
      }
      RECO_RETURN_IF_ERROR(internal::Guard("adding to HNSW index",
                                           [&] { index_->add(static_cast<faiss_idx>(n), x); }));
    } else {
      RECO_RETURN_IF_ERROR(internal::Guard(
          "adding to index", [&] { index_->add_with_ids(static_cast<faiss_idx>(n), x, labels); }));
    }
    for (size_t i = 0; i < n; ++i) present_.insert(static_cast<uint64_t>(labels[i]));
    return Status::OK();
  }

  Status TrainFromStaging() {
    const auto& data = staging_->data();
    const auto& ids = staging_->ids();
    const faiss_idx n = static_cast<faiss_idx>(ids.size());
    faiss::Index* target = index_.get();
    if (mode_ == Mode::kIdMap) target = static_cast<faiss::IndexIDMap2*>(index_.get())->index;
    RECO_RETURN_IF_ERROR(internal::Guard("training index", [&] { target->train(n, data.data()); }));
    std::vector<faiss_idx> labels(ids.begin(), ids.end());
    // Staged rows are already normalised for cosine.
    RECO_RETURN_IF_ERROR(AddNormalized(data.data(), labels.data(), ids.size()));
    staging_.reset();
    trained_on_ = ids.size();
    return Status::OK();
  }

  Status RunSearch(const float* q, size_t k, size_t fetch, size_t nprobe,
                   const SearchParams& params, const IdFilter* filter,
                   std::vector<Neighbor>* out) const {
    out->clear();
    FilterSelector selector(filter);
    const bool l2 = o_.metric == Metric::kL2;
    size_t total = index_->ntotal;
    fetch = std::min(std::max(fetch, k) + (mode_ == Mode::kSlots ? tombstones_ : 0), total);
    // Filters the index cannot apply itself are applied to a wider result list.
    if (filter != nullptr && mode_ != Mode::kNative) {
      fetch = std::min(total, fetch * std::max<size_t>(1, present_.size() / filter->Count() + 1));
    }
    std::vector<float> dist(fetch);
    std::vector<faiss_idx> labels(fetch);
    std::unique_ptr<faiss::SearchParameters> sp;
    if (mode_ == Mode::kNative) {
      auto ivf = std::make_unique<faiss::SearchParametersIVF>();
      ivf->nprobe = nprobe;
      if (filter != nullptr) ivf->sel = &selector;
      sp = std::move(ivf);
    } else if (mode_ == Mode::kSlots) {
      auto h = std::make_unique<faiss::SearchParametersHNSW>();
      h->efSearch = static_cast<int>(std::max<size_t>(params.ef ? params.ef : o_.ef_search, fetch));
      sp = std::move(h);
    }
    RECO_RETURN_IF_ERROR(internal::Guard("searching", [&] {
      index_->search(1, q, static_cast<faiss_idx>(fetch), dist.data(), labels.data(), sp.get());
    }));
    for (size_t i = 0; i < fetch && out->size() < k; ++i) {
      if (labels[i] < 0) continue;
      uint64_t id = static_cast<uint64_t>(labels[i]);
      if (mode_ == Mode::kSlots) {
        if (dead_[id]) continue;
        id = slot_ids_[id];
      }
      if (filter != nullptr && !filter->Contains(id)) continue;
      out->push_back({id, l2 ? -dist[i] : dist[i]});
    }
    return Status::OK();
  }

  // Exact scores over the filter's ids, from vectors reconstructed out of the index.
  Status ExactOver(const float* q, size_t k, const IdFilter& filter,
                   std::vector<Neighbor>* out) const {
    internal::TopK top(k);
    std::vector<float> v(d_);
    Status st = internal::Guard("exact filtered search", [&] {
      filter.ForEach([&](uint64_t id) {
        if (!present_.count(id)) return;
        faiss_idx key = static_cast<faiss_idx>(id);
        if (mode_ == Mode::kSlots) key = static_cast<faiss_idx>(slot_of_.at(id));
        const faiss::Index* src = index_.get();
        src->reconstruct(key, v.data());
        float s = o_.metric == Metric::kL2 ? -faiss::fvec_L2sqr(q, v.data(), d_)
                                           : faiss::fvec_inner_product(q, v.data(), d_);
        top.Push(s, id);
      });
    });
    RECO_RETURN_IF_ERROR(st);
    *out = top.Take();
    return Status::OK();
  }

  IndexOptions o_;
  size_t d_;
  Mode mode_ = Mode::kIdMap;
  std::unique_ptr<faiss::Index> index_;
  size_t train_threshold_ = 0;
  size_t trained_on_ = 0;   // vectors the last training saw (0: trained elsewhere or never)
  size_t retrain_cap_ = 0;  // FAISS samples at most this many for training
  std::unique_ptr<internal::FlatIndex> staging_;  // exact answers until trained
  std::unordered_set<uint64_t> present_;          // live ids once trained
  std::vector<uint64_t> slot_ids_;                // kSlots: slot -> id
  std::unordered_map<uint64_t, size_t> slot_of_;  // kSlots: id -> slot
  std::vector<bool> dead_;
  size_t tombstones_ = 0;
};

}  // namespace

Status CreateFaissIndex(const IndexOptions& options, std::unique_ptr<VectorIndex>* out) {
  auto index = std::make_unique<FaissIndex>(options);
  RECO_RETURN_IF_ERROR(index->Init());
  *out = std::move(index);
  return Status::OK();
}

Status LoadFaissIndex(const IndexOptions& options, internal::InFile* in,
                      std::unique_ptr<VectorIndex>* out) {
  auto index = std::make_unique<FaissIndex>(options);
  RECO_RETURN_IF_ERROR(index->Init());
  RECO_RETURN_IF_ERROR(index->ReadPayload(in));
  *out = std::move(index);
  return Status::OK();
}

}  // namespace index
}  // namespace reco
