// Flat: reco's own exact scan. Vectors sit in one contiguous array (swap-remove keeps it
// dense); a single query is split over `search_threads` shards (OpenMP), each scoring rows
// with a SIMD kernel into its own top-k; batches go to FAISS's BLAS-backed knn routines.
// Private to index/ (the FAISS backend stages untrained data in one).
#pragma once

#include <faiss/impl/IDSelector.h>
#include <faiss/utils/distances.h>

#include <cstring>
#include <unordered_map>

#include "index/index_internal.h"

namespace reco {
namespace index {
namespace internal {

inline float Dot(const float* a, const float* b, size_t d) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (size_t j = 0; j < d; ++j) s += a[j] * b[j];
  return s;
}

inline float NegL2(const float* a, const float* b, size_t d) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (size_t j = 0; j < d; ++j) {
    float t = a[j] - b[j];
    s += t * t;
  }
  return -s;
}

// Rows per shard below which a query stays on one thread (thread start-up would dominate).
constexpr size_t kMinFloatsPerShard = size_t{1} << 18;

// Maps FAISS row numbers to our filter for batched searches.
class RowSelector : public faiss::IDSelector {
 public:
  RowSelector(const std::vector<uint64_t>& ids, const IdFilter* filter)
      : ids_(ids), filter_(filter) {}
  bool is_member(faiss::Index::idx_t row) const override {
    return filter_->Contains(ids_[static_cast<size_t>(row)]);
  }

 private:
  const std::vector<uint64_t>& ids_;
  const IdFilter* filter_;
};

class FlatIndex final : public VectorIndex {
 public:
  explicit FlatIndex(const IndexOptions& options) : o_(options), d_(options.dim) {}

  Status Add(const uint64_t* ids, const float* vectors, size_t n) override {
    RECO_RETURN_IF_ERROR(internal::CheckFinite(vectors, n * d_, "vector"));
    std::vector<float> row(d_);
    for (size_t i = 0; i < n; ++i) {
      std::memcpy(row.data(), vectors + i * d_, d_ * sizeof(float));
      if (o_.metric == Metric::kCosine) internal::NormalizeRows(row.data(), 1, d_);
      auto it = slot_.find(ids[i]);
      if (it != slot_.end()) {
        std::memcpy(&data_[it->second * d_], row.data(), d_ * sizeof(float));
        continue;
      }
      slot_.emplace(ids[i], ids_.size());
      ids_.push_back(ids[i]);
      data_.insert(data_.end(), row.begin(), row.end());
    }
    return Status::OK();
  }

  Status Remove(const uint64_t* ids, size_t n) override {
    for (size_t i = 0; i < n; ++i) {
      auto it = slot_.find(ids[i]);
      if (it == slot_.end()) continue;
      size_t slot = it->second, last = ids_.size() - 1;
      slot_.erase(it);
      if (slot != last) {
        std::memcpy(&data_[slot * d_], &data_[last * d_], d_ * sizeof(float));
        ids_[slot] = ids_[last];
        slot_[ids_[slot]] = slot;
      }
      ids_.pop_back();
      data_.resize(last * d_);
    }
    if (data_.capacity() > 2 * data_.size() + (size_t{1} << 20)) data_.shrink_to_fit();
    return Status::OK();
  }

  Status Search(const float* query, size_t k, const SearchParams&, const IdFilter* filter,
                std::vector<Neighbor>* out) const override {
    out->clear();
    if (k == 0) return Status::InvalidArgument("k must be at least 1");
    RECO_RETURN_IF_ERROR(internal::CheckFinite(query, d_, "query vector"));
    std::vector<float> q(query, query + d_);
    if (o_.metric == Metric::kCosine) internal::NormalizeRows(q.data(), 1, d_);
    const size_t n = ids_.size();
    if (n == 0) return Status::OK();

    if (filter != nullptr && filter->Count() * 4 < n) {
      // Selective filter: score only the matching ids.
      TopK top(k);
      filter->ForEach([&](uint64_t id) {
        auto it = slot_.find(id);
        if (it != slot_.end()) top.Push(Score(q.data(), it->second), id);
      });
      *out = top.Take();
      return Status::OK();
    }

    size_t shards = std::min<size_t>(std::max<uint32_t>(o_.search_threads, 1),
                                     std::max<size_t>(1, n * d_ / kMinFloatsPerShard));
    std::vector<TopK> tops(shards, TopK(k));
    auto scan = [&](size_t s) {
      size_t begin = n * s / shards, end = n * (s + 1) / shards;
      ScanRange(q.data(), begin, end, filter, &tops[s]);
    };
    if (shards == 1) {
      scan(0);
    } else {
#pragma omp parallel for num_threads(shards) schedule(static, 1)
      for (size_t s = 0; s < shards; ++s) scan(s);
    }
    for (size_t s = 1; s < shards; ++s) tops[0].Merge(std::move(tops[s]));
    *out = tops[0].Take();
    return Status::OK();
  }

  Status SearchBatch(const float* queries, size_t nq, size_t k, const SearchParams& params,
                     const IdFilter* filter,
                     std::vector<std::vector<Neighbor>>* out) const override {
    const size_t n = ids_.size();
    if (nq < 4 || n == 0 || (filter != nullptr && filter->Count() * 4 < n)) {
      return VectorIndex::SearchBatch(queries, nq, k, params, filter, out);
    }
    if (k == 0) return Status::InvalidArgument("k must be at least 1");
    RECO_RETURN_IF_ERROR(internal::CheckFinite(queries, nq * d_, "query vectors"));
    std::vector<float> q(queries, queries + nq * d_);
    if (o_.metric == Metric::kCosine) internal::NormalizeRows(q.data(), nq, d_);
    const size_t kk = std::min(k, n);
    std::vector<float> dist(nq * kk);
    std::vector<int64_t> rows(nq * kk);
    RowSelector selector(ids_, filter);
    const faiss::IDSelector* sel = filter ? &selector : nullptr;
    RECO_RETURN_IF_ERROR(internal::Guard("batched flat search", [&] {
      if (o_.metric == Metric::kL2) {
        faiss::knn_L2sqr(q.data(), data_.data(), d_, nq, n, kk, dist.data(), rows.data(), nullptr,
                         sel);
      } else {
        faiss::knn_inner_product(q.data(), data_.data(), d_, nq, n, kk, dist.data(), rows.data(),
                                 sel);
      }
    }));
    out->assign(nq, {});
    for (size_t i = 0; i < nq; ++i) {
      for (size_t j = 0; j < kk; ++j) {
        int64_t r = rows[i * kk + j];
        if (r < 0) continue;
        float s = dist[i * kk + j];
        (*out)[i].push_back({ids_[static_cast<size_t>(r)], o_.metric == Metric::kL2 ? -s : s});
      }
    }
    return Status::OK();
  }

  bool Contains(uint64_t id) const override { return slot_.count(id) != 0; }
  size_t size() const override { return ids_.size(); }

  IndexStats Stats() const override {
    IndexStats s;
    s.backend = "flat";
    s.vectors = ids_.size();
    s.memory_bytes = data_.capacity() * sizeof(float) + ids_.capacity() * sizeof(uint64_t) +
                     slot_.size() * (sizeof(uint64_t) * 2 + 16) +
                     slot_.bucket_count() * sizeof(void*);
    return s;
  }

  const IndexOptions& options() const override { return o_; }

  Status Save(const std::string& path) const override {
    internal::OutFile out;
    RECO_RETURN_IF_ERROR(out.Open(path));
    internal::WriteHeader(&out, internal::Backend::kFlat, o_);
    WritePayload(&out);
    return out.Close();
  }

  void WritePayload(internal::OutFile* out) const {
    out->Pod<uint64_t>(ids_.size());
    out->Write(ids_.data(), ids_.size() * sizeof(uint64_t));
    out->Write(data_.data(), data_.size() * sizeof(float));
  }

  Status ReadPayload(internal::InFile* in) {
    uint64_t n;
    if (!in->Pod(&n) || n > in->remaining() / (sizeof(uint64_t) + d_ * sizeof(float))) {
      return Status::Corruption("flat index payload does not decode");
    }
    ids_.resize(n);
    data_.resize(n * d_);
    if (!in->Read(ids_.data(), n * sizeof(uint64_t)) ||
        !in->Read(data_.data(), n * d_ * sizeof(float))) {
      return Status::Corruption("flat index payload is short");
    }
    slot_.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      if (!slot_.emplace(ids_[i], i).second)
        return Status::Corruption("duplicate id in flat index");
    }
    return Status::OK();
  }

 private:
  float Score(const float* q, size_t slot) const {
    const float* row = &data_[slot * d_];
    return o_.metric == Metric::kL2 ? NegL2(row, q, d_) : Dot(row, q, d_);
  }

  void ScanRange(const float* q, size_t begin, size_t end, const IdFilter* filter,
                 TopK* top) const {
    const float* base = data_.data();
    const bool l2 = o_.metric == Metric::kL2;
    for (size_t i = begin; i < end; ++i) {
      const float* row = base + i * d_;
      float s = l2 ? NegL2(row, q, d_) : Dot(row, q, d_);
      if (top->Full() && s <= top->Threshold()) continue;
      if (filter != nullptr && !filter->Contains(ids_[i])) continue;
      top->Push(s, ids_[i]);
    }
  }

  IndexOptions o_;
  size_t d_;

 public:
  // Raw rows for training other indexes from a flat staging buffer.
  const std::vector<float>& data() const { return data_; }
  const std::vector<uint64_t>& ids() const { return ids_; }

 private:
  std::vector<float> data_;                    // size() * d_, normalised for cosine
  std::vector<uint64_t> ids_;                  // row -> id
  std::unordered_map<uint64_t, size_t> slot_;  // id -> row
};

}  // namespace internal
}  // namespace index
}  // namespace reco
