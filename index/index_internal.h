// Helpers shared by the index backends: error translation, top-k collection, and the
// checksummed file format of index snapshots. Private to index/.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <queue>
#include <string>
#include <vector>

#include "index/vector_index.h"

namespace reco {
namespace index {
namespace internal {

// Runs a library call and turns its exceptions into a Status (the one place that catches them).
template <class Fn>
Status Guard(const char* what, Fn&& fn) {
  try {
    fn();
    return Status::OK();
  } catch (const std::bad_alloc&) {
    return Status::Internal(std::string(what) + ": out of memory");
  } catch (const std::exception& e) {
    return Status::Internal(std::string(what) + ": " + e.what());
  }
}

Status CheckFinite(const float* v, size_t n, const char* what);
void NormalizeRows(float* x, size_t n, size_t d);

// Keeps the k best (highest score) neighbours seen.
class TopK {
 public:
  explicit TopK(size_t k) : k_(k) {}
  bool Full() const { return heap_.size() == k_; }
  // The score a candidate must beat once full.
  float Threshold() const { return heap_.empty() ? -1e38f : heap_.top().first; }
  void Push(float score, uint64_t id) {
    if (heap_.size() < k_) {
      heap_.emplace(score, id);
    } else if (score > heap_.top().first) {
      heap_.pop();
      heap_.emplace(score, id);
    }
  }
  void Merge(TopK&& other) {
    while (!other.heap_.empty()) {
      Push(other.heap_.top().first, other.heap_.top().second);
      other.heap_.pop();
    }
  }
  // Best first.
  std::vector<Neighbor> Take() {
    std::vector<Neighbor> out(heap_.size());
    for (size_t i = out.size(); i-- > 0;) {
      out[i] = Neighbor{heap_.top().second, heap_.top().first};
      heap_.pop();
    }
    return out;
  }

 private:
  using Entry = std::pair<float, uint64_t>;
  size_t k_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_;
};

// Backend tags in snapshot files.
enum class Backend : uint32_t { kFlat = 1, kHnswlib = 2, kFaiss = 3 };

// A snapshot file: magic, format version, backend, the options it was built with, the
// backend's payload, and a trailer with the xxHash64 of everything before it.
class OutFile {
 public:
  ~OutFile();
  Status Open(const std::string& path);
  void Write(const void* data, size_t n);
  template <class T>
  void Pod(const T& v) {
    Write(&v, sizeof(T));
  }
  void String(const std::string& s);
  // Writes the trailer, flushes and fsyncs; the first write error is reported here.
  Status Close();

 private:
  std::FILE* f_ = nullptr;
  void* hash_ = nullptr;  // XXH64_state_t
  bool failed_ = false;
  std::string path_;
};

class InFile {
 public:
  ~InFile();
  // Opens and verifies the whole file's checksum before anything is parsed.
  Status Open(const std::string& path);
  bool Read(void* data, size_t n);
  template <class T>
  bool Pod(T* v) {
    return Read(v, sizeof(T));
  }
  bool String(std::string* s, size_t max_len = 1 << 20);
  // Bytes left before the trailer.
  uint64_t remaining() const { return payload_end_ - pos_; }

 private:
  std::FILE* f_ = nullptr;
  uint64_t payload_end_ = 0;
  uint64_t pos_ = 0;
};

// Header shared by all backends.
void WriteHeader(OutFile* out, Backend backend, const IndexOptions& options);
Status ReadHeader(InFile* in, Backend* backend, const IndexOptions& expected);

}  // namespace internal

// Backend factories (one file each).
Status CreateFlatIndex(const IndexOptions& options, std::unique_ptr<VectorIndex>* out);
Status LoadFlatIndex(const IndexOptions& options, internal::InFile* in,
                     std::unique_ptr<VectorIndex>* out);
Status CreateHnswIndex(const IndexOptions& options, uint32_t m, std::unique_ptr<VectorIndex>* out);
Status LoadHnswIndex(const IndexOptions& options, uint32_t m, internal::InFile* in,
                     std::unique_ptr<VectorIndex>* out);
Status CreateFaissIndex(const IndexOptions& options, std::unique_ptr<VectorIndex>* out);
Status LoadFaissIndex(const IndexOptions& options, internal::InFile* in,
                      std::unique_ptr<VectorIndex>* out);

}  // namespace index
}  // namespace reco
