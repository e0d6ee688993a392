// reco::index::VectorIndex — one nearest-neighbour index per (collection, space), labelled
// with the engine's internal ids (ARCHITECTURE.md "Index"). No FAISS or hnswlib type appears
// here. Not internally synchronised: concurrent const calls (Search*) are safe, mutations
// need exclusive access.
//
// Backends, chosen from the spec:
//   "Flat"                      reco's own exact scan (sharded over threads, BLAS for batches)
//   "HNSW<M>" / "HNSW<M>,Flat"  hnswlib graph compiled with the project's flags
//   anything else               a FAISS factory string ("IVF256,Flat", "IVF1024,PQ16", "SQ8",
//                               "HNSW32,SQ8" ...) run by FAISS
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace reco {
namespace index {

enum class Metric {
  kCosine,        // vectors are L2-normalised, score = cosine similarity
  kInnerProduct,  // score = dot product
  kL2,            // score = -squared Euclidean distance (higher is better everywhere)
};

// Parses "cosine", "ip" / "inner_product", "l2".
Status ParseMetric(const std::string& name, Metric* metric);
const char* MetricName(Metric metric);

struct IndexOptions {
  std::string spec = "Flat";  // see the backends above
  uint32_t dim = 0;           // vector dimension, > 0
  Metric metric = Metric::kCosine;
  // Indexes that need training (IVF, PQ, SQ) answer exactly from a flat buffer until they
  // hold this many vectors. 0 = FAISS's advice (39 per IVF list, 39 * 256 with PQ), >= 1,000.
  size_t train_threshold = 0;
  uint32_t ef_construction = 200;  // HNSW: candidate list size while building
  uint32_t ef_search = 64;         // HNSW: default candidate list size of a query
  uint32_t nprobe = 8;             // IVF: default lists visited by a query
  // HNSW: NeedsRebuild() once tombstones exceed this fraction of the graph.
  double rebuild_tombstone_ratio = 0.25;
  uint32_t search_threads = 2;  // Flat: threads one query's scan is split over
  // Train as soon as train_threshold vectors are in (rebuilds do); otherwise a full staging
  // buffer only makes NeedsRebuild() true, so training happens off the query path.
  bool train_inline = false;
};

// Per-query knobs; 0 means the index's default.
struct SearchParams {
  uint32_t ef = 0;      // HNSW candidate list size (>= k is enforced)
  uint32_t nprobe = 0;  // IVF lists to visit
};

// The set of ids a search is restricted to (an attribute filter). The index never keeps it.
class IdFilter {
 public:
  virtual ~IdFilter() = default;
  virtual bool Contains(uint64_t id) const = 0;
  virtual size_t Count() const = 0;
  // Calls fn for every id in the set, in increasing order.
  virtual void ForEach(const std::function<void(uint64_t)>& fn) const = 0;
};

struct Neighbor {
  uint64_t id = 0;
  float score = 0;  // higher is better
};

struct IndexStats {
  std::string backend;      // "flat", "hnswlib", "faiss"
  size_t vectors = 0;       // live vectors
  size_t tombstones = 0;    // removed but still in the structure (HNSW)
  bool trained = true;      // false while an index that needs training answers exactly
  size_t memory_bytes = 0;  // approximate memory held by the index
};

class VectorIndex {
 public:
  // Checks the spec; a spec the backend refuses is InvalidArgument naming the spec.
  static Status Create(const IndexOptions& options, std::unique_ptr<VectorIndex>* out);
  // Reads an index written by Save() for the same options (spec, dim, metric); a file that
  // does not match or does not decode is Corruption.
  static Status Load(const IndexOptions& options, const std::string& path,
                     std::unique_ptr<VectorIndex>* out);
  virtual ~VectorIndex() = default;

  // Adds n vectors (n * dim floats). An id already present is replaced (update). A NaN or
  // infinite value is InvalidArgument and nothing is added.
  virtual Status Add(const uint64_t* ids, const float* vectors, size_t n) = 0;
  // Removes ids; ids not present are ignored.
  virtual Status Remove(const uint64_t* ids, size_t n) = 0;

  // The k nearest live vectors to query (dim floats), best first. With a filter, only ids in
  // it; whenever at least k live ids match, exactly k come back.
  virtual Status Search(const float* query, size_t k, const SearchParams& params,
                        const IdFilter* filter, std::vector<Neighbor>* out) const = 0;
  // nq queries at once (nq * dim floats); out gets nq lists. Backends batch the arithmetic
  // (BLAS for Flat); the default runs Search nq times.
  virtual Status SearchBatch(const float* queries, size_t nq, size_t k, const SearchParams& params,
                             const IdFilter* filter, std::vector<std::vector<Neighbor>>* out) const;

  virtual bool Contains(uint64_t id) const = 0;
  virtual size_t size() const = 0;
  virtual IndexStats Stats() const = 0;
  virtual const IndexOptions& options() const = 0;

  // Background upkeep the engine schedules: a graph with too many tombstones, or an index
  // that waits for training, is rebuilt from the stored vectors into a fresh index that
  // replaces this one.
  virtual bool NeedsRebuild() const { return false; }
  // An index waiting for training trains now on everything it holds (FAISS's k-means draws
  // its own random sample), instead of on the first vectors that reached the threshold.
  // Does nothing for indexes that need no training or hold too few vectors.
  virtual Status TrainNow() { return Status::OK(); }

  // Writes the index to path (created or truncated).
  virtual Status Save(const std::string& path) const = 0;
};

}  // namespace index
}  // namespace reco
