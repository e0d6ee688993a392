#include "index/vector_index.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <regex>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "index/index_internal.h"

namespace reco {
namespace index {

Status ParseMetric(const std::string& name, Metric* metric) {
  if (name == "cosine") {
    *metric = Metric::kCosine;
  } else if (name == "ip" || name == "inner_product" || name == "dot") {
    *metric = Metric::kInnerProduct;
  } else if (name == "l2" || name == "L2" || name == "euclidean") {
    *metric = Metric::kL2;
  } else {
    return Status::InvalidArgument("unknown metric '" + name + "' (use cosine, ip or l2)");
  }
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

// "HNSW32" or "HNSW32,Flat" run on hnswlib; other HNSW variants ("HNSW32,SQ8") on FAISS.
bool ParseHnswlibSpec(const std::string& spec, uint32_t* m) {
  static const std::regex re("^HNSW([0-9]{1,4})(,Flat)?$");
  std::smatch match;
  if (!std::regex_match(spec, match, re)) return false;
  *m = static_cast<uint32_t>(std::stoul(match[1].str()));
  return true;
}

Status CheckOptions(const IndexOptions& o) {
  if (o.dim == 0) return Status::InvalidArgument("index dim must be at least 1");
  if (o.spec.empty()) return Status::InvalidArgument("index spec is empty");
  if (o.ef_construction == 0 || o.ef_construction > 100000) {
    return Status::OutOfRange("ef_construction = " + std::to_string(o.ef_construction) +
                              " is outside 1..100000");
  }
  if (o.ef_search == 0 || o.ef_search > 100000) {
    return Status::OutOfRange("ef_search = " + std::to_string(o.ef_search) +
                              " is outside 1..100000");
  }
  if (o.nprobe == 0 || o.nprobe > 1000000) {
    return Status::OutOfRange("nprobe = " + std::to_string(o.nprobe) + " is outside 1..1000000");
  }
  return Status::OK();
}

}  // namespace

Status VectorIndex::Create(const IndexOptions& options, std::unique_ptr<VectorIndex>* out) {
  RECO_RETURN_IF_ERROR(CheckOptions(options));
  uint32_t m = 0;
  if (options.spec == "Flat") return CreateFlatIndex(options, out);
  if (ParseHnswlibSpec(options.spec, &m)) {
    if (m < 2 || m > 256) {
      return Status::InvalidArgument("index spec '" + options.spec + "': HNSW M must be 2..256");
    }
    return CreateHnswIndex(options, m, out);
  }
  return CreateFaissIndex(options, out);
}

Status VectorIndex::Load(const IndexOptions& options, const std::string& path,
                         std::unique_ptr<VectorIndex>* out) {
  RECO_RETURN_IF_ERROR(CheckOptions(options));
  internal::InFile in;
  RECO_RETURN_IF_ERROR(in.Open(path));
  internal::Backend backend;
  RECO_RETURN_IF_ERROR(internal::ReadHeader(&in, &backend, options));
  Status st;
  uint32_t m = 0;
  switch (backend) {
    case internal::Backend::kFlat:
      st = LoadFlatIndex(options, &in, out);
      break;
    case internal::Backend::kHnswlib:
      if (!ParseHnswlibSpec(options.spec, &m))
        return Status::Corruption(path + ": not an HNSW file");
      st = LoadHnswIndex(options, m, &in, out);
      break;
    case internal::Backend::kFaiss:
      st = LoadFaissIndex(options, &in, out);
      break;
    default:
      return Status::Corruption(path + ": unknown index backend");
  }
  if (st.ok() && in.remaining() != 0) {
    st = Status::Corruption("trailing bytes after the index payload");
  }
  return st.WithContext(path);
}

Status VectorIndex::SearchBatch(const float* queries, size_t nq, size_t k,
                                const SearchParams& params, const IdFilter* filter,
                                std::vector<std::vector<Neighbor>>* out) const {
  out->assign(nq, {});
  const size_t d = options().dim;
  for (size_t i = 0; i < nq; ++i) {
    RECO_RETURN_IF_ERROR(Search(queries + i * d, k, params, filter, &(*out)[i]));
  }
  return Status::OK();
}

namespace internal {

Status CheckFinite(const float* v, size_t n, const char* what) {
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(v[i])) {
      return Status::InvalidArgument(std::string(what) + " has a NaN or infinite value at " +
                                     std::to_string(i));
    }
  }
  return Status::OK();
}

void NormalizeRows(float* x, size_t n, size_t d) {
  for (size_t i = 0; i < n; ++i) {
    float* row = x + i * d;
    double s = 0;
    for (size_t j = 0; j < d; ++j) s += double(row[j]) * row[j];
    if (s > 0) {
      float inv = static_cast<float>(1.0 / std::sqrt(s));
      for (size_t j = 0; j < d; ++j) row[j] *= inv;
    }
  }
}

namespace {
constexpr char kMagic[8] = {'R', 'E', 'C', 'O', 'I', 'D', 'X', '1'};
constexpr char kEndMagic[8] = {'R', 'E', 'C', 'O', 'E', 'N', 'D', '1'};
constexpr uint32_t kFormatVersion = 1;
}  // namespace

OutFile::~OutFile() {
  if (f_) std::fclose(f_);
  if (hash_) XXH64_freeState(static_cast<XXH64_state_t*>(hash_));
}

Status OutFile::Open(const std::string& path) {
  path_ = path;
  f_ = std::fopen(path.c_str(), "wb");
  if (!f_) return Status::IOError("cannot create '" + path + "': " + std::strerror(errno));
  hash_ = XXH64_createState();
  XXH64_reset(static_cast<XXH64_state_t*>(hash_), 0);
  return Status::OK();
}

void OutFile::Write(const void* data, size_t n) {
  if (failed_ || n == 0) return;
  XXH64_update(static_cast<XXH64_state_t*>(hash_), data, n);
  if (std::fwrite(data, 1, n, f_) != n) failed_ = true;
}

void OutFile::String(const std::string& s) {
  Pod<uint64_t>(s.size());
  Write(s.data(), s.size());
}

Status OutFile::Close() {
  uint64_t digest = XXH64_digest(static_cast<XXH64_state_t*>(hash_));
  if (!failed_)
    failed_ = std::fwrite(&digest, 8, 1, f_) != 1 || std::fwrite(kEndMagic, 8, 1, f_) != 1;
  if (!failed_) failed_ = std::fflush(f_) != 0 || ::fsync(fileno(f_)) != 0;
  if (std::fclose(f_) != 0) failed_ = true;
  f_ = nullptr;
  if (failed_) return Status::IOError("writing '" + path_ + "' failed: " + std::strerror(errno));
  return Status::OK();
}

InFile::~InFile() {
  if (f_) std::fclose(f_);
}

Status InFile::Open(const std::string& path) {
  f_ = std::fopen(path.c_str(), "rb");
  if (!f_) return Status::NotFound("cannot open '" + path + "': " + std::strerror(errno));
  struct stat st;
  if (fstat(fileno(f_), &st) != 0 || st.st_size < 16 + 8) {
    return Status::Corruption("'" + path + "' is too short to be an index file");
  }
  payload_end_ = static_cast<uint64_t>(st.st_size) - 16;
  XXH64_state_t* h = XXH64_createState();
  XXH64_reset(h, 0);
  std::vector<char> buf(1 << 20);
  uint64_t left = payload_end_;
  while (left > 0) {
    size_t n = std::fread(buf.data(), 1, std::min<uint64_t>(left, buf.size()), f_);
    if (n == 0) break;
    XXH64_update(h, buf.data(), n);
    left -= n;
  }
  uint64_t digest = XXH64_digest(h);
  XXH64_freeState(h);
  uint64_t stored = 0;
  char end[8];
  if (left != 0 || std::fread(&stored, 8, 1, f_) != 1 || std::fread(end, 8, 1, f_) != 1 ||
      std::memcmp(end, kEndMagic, 8) != 0) {
    return Status::Corruption("'" + path + "' is truncated");
  }
  if (stored != digest) return Status::Corruption("'" + path + "' fails its checksum");
  std::rewind(f_);
  pos_ = 0;
  return Status::OK();
}

bool InFile::Read(void* data, size_t n) {
  if (n > remaining()) return false;
  if (n != 0 && std::fread(data, 1, n, f_) != n) return false;
  pos_ += n;
  return true;
}

bool InFile::String(std::string* s, size_t max_len) {
  uint64_t n;
  if (!Pod(&n) || n > max_len || n > remaining()) return false;
  s->resize(n);
  return Read(s->data(), n);
}

void WriteHeader(OutFile* out, Backend backend, const IndexOptions& o) {
  out->Write(kMagic, 8);
  out->Pod<uint32_t>(kFormatVersion);
  out->Pod<uint32_t>(static_cast<uint32_t>(backend));
  out->String(o.spec);
  out->Pod<uint32_t>(o.dim);
  out->Pod<uint32_t>(static_cast<uint32_t>(o.metric));
}

Status ReadHeader(InFile* in, Backend* backend, const IndexOptions& expected) {
  char magic[8];
  uint32_t version, tag, dim, metric;
  std::string spec;
  if (!in->Read(magic, 8) || std::memcmp(magic, kMagic, 8) != 0) {
    return Status::Corruption("not a reco index file");
  }
  if (!in->Pod(&version) || version != kFormatVersion) {
    return Status::Corruption("unsupported index file version");
  }
  if (!in->Pod(&tag) || !in->String(&spec) || !in->Pod(&dim) || !in->Pod(&metric)) {
    return Status::Corruption("index file header does not decode");
  }
  if (spec != expected.spec || dim != expected.dim ||
      metric != static_cast<uint32_t>(expected.metric)) {
    return Status::Corruption("index file is for spec '" + spec + "' dim " + std::to_string(dim) +
                              ", not '" + expected.spec + "' dim " + std::to_string(expected.dim));
  }
  *backend = static_cast<Backend>(tag);
  return Status::OK();
}

}  // namespace internal
}  // namespace index
}  // namespace reco
