// reco::index::VectorIndex — one nearest-neighbour index per (collection, space), labelled
// with the engine's internal ids (ARCHITECTURE.md "Index"). Backed by FAISS; no FAISS type
// appears here. Not internally synchronised: concurrent const calls (Search) are safe,
// mutations need exclusive access.
#pragma once

#include <cstddef>
#include <cstdint>
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
  std::string spec = "Flat";  // FAISS factory string: "Flat", "HNSW32", "IVF256,Flat", "IVF64,PQ8"
  uint32_t dim = 0;           // vector dimension, > 0
  Metric metric = Metric::kCosine;
  // Indexes that need training (IVF, PQ, SQ) answer exactly from a flat buffer until they
  // hold this many vectors, then train on them. 0 = FAISS's advice (39 per IVF list, and
  // 39 * 256 for PQ codebooks), at least 1,000.
  size_t train_threshold = 0;
};

struct Neighbor {
  uint64_t id = 0;
  float score = 0;  // higher is better
};

struct IndexStats {
  size_t vectors = 0;     // live vectors
  size_t tombstones = 0;  // removed but still in the graph (HNSW)
  bool trained = true;    // false while an index that needs training answers exactly
};

class VectorIndex {
 public:
  // Checks the spec with FAISS; a spec FAISS refuses is InvalidArgument naming the spec.
  static Status Create(const IndexOptions& options, std::unique_ptr<VectorIndex>* out);
  virtual ~VectorIndex() = default;

  // Adds n vectors (n * dim floats). An id already present is replaced (update).
  virtual Status Add(const uint64_t* ids, const float* vectors, size_t n) = 0;
  // Removes ids; ids not present are ignored.
  virtual Status Remove(const uint64_t* ids, size_t n) = 0;
  // The k nearest live vectors to query (dim floats), best first. k >= 1.
  virtual Status Search(const float* query, size_t k, std::vector<Neighbor>* out) const = 0;

  virtual bool Contains(uint64_t id) const = 0;
  virtual size_t size() const = 0;
  virtual IndexStats Stats() const = 0;
  virtual const IndexOptions& options() const = 0;
};

}  // namespace index
}  // namespace reco
