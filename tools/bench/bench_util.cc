#include <malloc.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <faiss/IndexFlat.h>

#include "tools/bench/bench.h"

namespace reco {
namespace bench {

namespace fs = std::filesystem;

void Fail(const std::string& message) { throw BenchError{message}; }

void Check(const Status& st, const std::string& context) {
  if (!st.ok()) Fail(context + ": " + st.ToString());
}

// ---- Args ----

Args::Args(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() < 3 || a.compare(0, 2, "--") != 0) Fail("unexpected argument '" + a + "'");
    a = a.substr(2);
    const auto eq = a.find('=');
    if (eq != std::string::npos) {
      values_[a.substr(0, eq)] = a.substr(eq + 1);
    } else if (i + 1 < argc && std::strncmp(argv[i + 1], "--", 2) != 0) {
      values_[a] = argv[++i];
    } else {
      flags_.insert(a);
    }
  }
}

std::string Args::Str(const std::string& key, const std::string& def) {
  used_.insert(key);
  auto it = values_.find(key);
  if (it == values_.end()) {
    if (flags_.count(key)) Fail("option --" + key + " needs a value");
    return def;
  }
  return it->second;
}

int64_t Args::Int(const std::string& key, int64_t def) {
  const std::string s = Str(key, "");
  if (s.empty()) return def;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (*end != '\0') Fail("option --" + key + " wants an integer, got '" + s + "'");
  return v;
}

double Args::Double(const std::string& key, double def) {
  const std::string s = Str(key, "");
  if (s.empty()) return def;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (*end != '\0') Fail("option --" + key + " wants a number, got '" + s + "'");
  return v;
}

bool Args::Flag(const std::string& key) {
  used_.insert(key);
  if (values_.count(key)) Fail("option --" + key + " takes no value");
  return flags_.count(key) > 0;
}

std::vector<std::string> Args::StrList(const std::string& key, const std::string& def, char sep) {
  const std::string s = Str(key, def);
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::vector<int64_t> Args::IntList(const std::string& key, const std::string& def) {
  std::vector<int64_t> out;
  for (const auto& part : StrList(key, def, ',')) {
    char* end = nullptr;
    const long long v = std::strtoll(part.c_str(), &end, 10);
    if (*end != '\0' || v <= 0) Fail("option --" + key + " wants positive integers: " + part);
    out.push_back(v);
  }
  return out;
}

void Args::Finish() const {
  for (const auto& [k, v] : values_) {
    if (!used_.count(k)) Fail("unknown option --" + k);
  }
  for (const auto& k : flags_) {
    if (!used_.count(k)) Fail("unknown option --" + k);
  }
}

// ---- Report ----

void Report::Table(const std::string& title, const std::vector<std::string>& headers) {
  End();
  title_ = title;
  headers_ = headers;
}

void Report::Row(const std::vector<std::string>& cells, json result) {
  rows_.push_back(cells);
  Json(std::move(result));
}

void Report::Note(const std::string& line) { notes_.push_back(line); }

void Report::Json(json result) {
  json line = {{"bench", bench_}};
  for (auto& [k, v] : result.items()) line[k] = v;
  pending_.push_back(std::move(line));
}

void Report::End() {
  if (!title_.empty() || !rows_.empty() || !notes_.empty()) {
    std::vector<size_t> width(headers_.size(), 0);
    for (size_t c = 0; c < headers_.size(); ++c) width[c] = headers_[c].size();
    for (const auto& row : rows_) {
      for (size_t c = 0; c < row.size() && c < width.size(); ++c) {
        width[c] = std::max(width[c], row[c].size());
      }
    }
    auto print_row = [&](const std::vector<std::string>& row) {
      std::string line = "|";
      for (size_t c = 0; c < width.size(); ++c) {
        const std::string cell = c < row.size() ? row[c] : "";
        line += " " + cell + std::string(width[c] - cell.size(), ' ') + " |";
      }
      std::printf("%s\n", line.c_str());
    };
    std::printf("\n### %s\n\n", title_.c_str());
    if (!headers_.empty()) {
      print_row(headers_);
      std::string sep = "|";
      for (size_t c = 0; c < width.size(); ++c) sep += std::string(width[c] + 2, '-') + "|";
      std::printf("%s\n", sep.c_str());
      for (const auto& row : rows_) print_row(row);
    }
    if (!notes_.empty()) std::printf("\n");
    for (const auto& n : notes_) std::printf("%s\n", n.c_str());
  }
  if (json_) {
    if (!pending_.empty()) std::printf("\n");
    for (const auto& j : pending_) std::printf("%s\n", j.dump().c_str());
  }
  std::fflush(stdout);
  title_.clear();
  headers_.clear();
  rows_.clear();
  notes_.clear();
  pending_.clear();
}

// ---- formatting ----

std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

std::string Count(double v) {
  if (!std::isfinite(v)) return "-";
  long long x = std::llround(v);
  const bool neg = x < 0;
  std::string digits = std::to_string(neg ? -x : x);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return neg ? "-" + out : out;
}

std::string Ratio(double v) {
  if (!std::isfinite(v)) return "-";
  const double a = std::fabs(v);
  return Fixed(v, a >= 10 ? 1 : a >= 0.1 || a == 0 ? 2 : a >= 0.01 ? 3 : 4) + "x";
}

std::string Bytes(double v) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (std::fabs(v) >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  return Fixed(v, u == 0 ? 0 : 1) + " " + units[u];
}

// ---- machine ----

void PrintMachine(Report* report) {
  std::string model = "unknown", flags;
  size_t mem_kb = 0;
  {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
      auto value = [&] {
        auto c = line.find(':');
        return c == std::string::npos ? std::string() : line.substr(c + 2);
      };
      if (model == "unknown" && line.rfind("model name", 0) == 0) model = value();
      if (flags.empty() && line.rfind("flags", 0) == 0) flags = " " + value() + " ";
    }
  }
  {
    std::ifstream in("/proc/meminfo");
    std::string key;
    size_t v;
    while (in >> key >> v) {
      if (key == "MemTotal:") mem_kb = v;
      std::string unit;
      std::getline(in, unit);
    }
  }
  const long nproc = sysconf(_SC_NPROCESSORS_ONLN);
  const bool avx512 = flags.find(" avx512f ") != std::string::npos;
  const bool avx2 = flags.find(" avx2 ") != std::string::npos;
  double load = -1;
  {
    std::ifstream in("/proc/loadavg");
    in >> load;
  }
  std::printf("machine: nproc %ld, CPU '%s', %s, memory %.1f GiB, load average %.2f\n", nproc,
              model.c_str(), avx512 ? "AVX-512" : (avx2 ? "AVX2 (no AVX-512)" : "no AVX2"),
              mem_kb / 1024.0 / 1024.0, load);
  std::fflush(stdout);
  report->Json({{"result", "machine"},
                {"nproc", nproc},
                {"cpu", model},
                {"avx512", avx512},
                {"mem_gib", mem_kb / 1024.0 / 1024.0},
                {"loadavg_1min", load}});
}

double Median(std::vector<double> v) { return Percentile(std::move(v), 0.5); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = p * (v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

QueryTiming Summarize(const std::vector<double>& latencies_s, double total_s) {
  QueryTiming t;
  t.qps = total_s > 0 ? latencies_s.size() / total_s : 0;
  t.p50_us = Percentile(latencies_s, 0.5) * 1e6;
  t.p99_us = Percentile(latencies_s, 0.99) * 1e6;
  return t;
}

// ---- data ----

namespace {

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

void NormalizeRows(float* data, size_t n, size_t dim) {
  for (size_t i = 0; i < n; ++i) {
    float* v = data + i * dim;
    double s = 0;
    for (size_t j = 0; j < dim; ++j) s += double(v[j]) * v[j];
    if (s <= 0) continue;
    const float inv = static_cast<float>(1.0 / std::sqrt(s));
    for (size_t j = 0; j < dim; ++j) v[j] *= inv;
  }
}

void RandomVectors(uint64_t seed, size_t begin, size_t end, size_t dim, bool normalize,
                   float* out) {
  const double two_pi = 6.283185307179586;
  auto fill = [&](size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; ++i) {
      uint64_t state = seed * 0x2545F4914F6CDD1Dull ^ (i + 1) * 0x9E3779B97F4A7C15ull;
      float* v = out + (i - begin) * dim;
      for (size_t j = 0; j < dim; j += 2) {
        // Box-Muller: two uniforms in (0, 1] -> two normals.
        const double u1 = ((SplitMix64(&state) >> 11) + 1) * 0x1.0p-53;
        const double u2 = (SplitMix64(&state) >> 11) * 0x1.0p-53;
        const double r = std::sqrt(-2.0 * std::log(u1));
        v[j] = static_cast<float>(r * std::cos(two_pi * u2));
        if (j + 1 < dim) v[j + 1] = static_cast<float>(r * std::sin(two_pi * u2));
      }
      if (normalize) NormalizeRows(v, 1, dim);
    }
  };
  const size_t n = end - begin;
  if (n < 4096) {
    fill(begin, end);
    return;
  }
  const size_t mid = begin + n / 2;
  std::thread other(fill, mid, end);
  fill(begin, mid);
  other.join();
}

std::vector<float> RandomVectors(uint64_t seed, size_t n, size_t dim, bool normalize) {
  std::vector<float> out(n * dim);
  RandomVectors(seed, 0, n, dim, normalize, out.data());
  return out;
}

std::vector<float> ReadFvecs(const std::string& path, size_t limit, size_t* n, size_t* dim) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail("cannot open " + path);
  in.seekg(0, std::ios::end);
  const size_t bytes = static_cast<size_t>(in.tellg());
  in.seekg(0);
  int32_t d = 0;
  if (!in.read(reinterpret_cast<char*>(&d), 4) || d <= 0 || d > 65536) {
    Fail(path + " is not an .fvecs file");
  }
  const size_t row = 4 + 4 * size_t(d);
  if (bytes % row != 0) Fail(path + ": size is not a multiple of the row size");
  size_t count = bytes / row;
  if (limit > 0 && limit < count) count = limit;
  std::vector<float> out(count * d);
  in.seekg(0);
  std::vector<char> buf(row);
  for (size_t i = 0; i < count; ++i) {
    if (!in.read(buf.data(), row)) Fail(path + ": short read");
    int32_t di;
    std::memcpy(&di, buf.data(), 4);
    if (di != d) Fail(path + ": row " + std::to_string(i) + " has another dim");
    std::memcpy(out.data() + i * d, buf.data() + 4, 4 * size_t(d));
  }
  *n = count;
  *dim = d;
  return out;
}

void WriteFvecs(const std::string& path, const float* data, size_t n, size_t dim) {
  std::ofstream out(path, std::ios::binary);
  const int32_t d = static_cast<int32_t>(dim);
  for (size_t i = 0; i < n; ++i) {
    out.write(reinterpret_cast<const char*>(&d), 4);
    out.write(reinterpret_cast<const char*>(data + i * dim), 4 * dim);
  }
  if (!out) Fail("cannot write " + path);
}

std::vector<int64_t> ExactTopK(const float* base, size_t nb, const float* queries, size_t nq,
                               size_t dim, size_t k) {
  faiss::IndexFlatIP flat(static_cast<faiss::Index::idx_t>(dim));
  flat.add(static_cast<faiss::Index::idx_t>(nb), base);
  std::vector<int64_t> labels(nq * k, -1);
  std::vector<float> distances(nq * k);
  const size_t chunk = 256;  // >= 20 queries: FAISS uses BLAS
  for (size_t q = 0; q < nq; q += chunk) {
    const size_t m = std::min(chunk, nq - q);
    std::vector<faiss::Index::idx_t> l(m * k);
    flat.search(static_cast<faiss::Index::idx_t>(m), queries + q * dim,
                static_cast<faiss::Index::idx_t>(k), distances.data() + q * k, l.data());
    for (size_t i = 0; i < m * k; ++i) labels[q * k + i] = l[i];
  }
  return labels;
}

double RecallAtK(const std::vector<int64_t>& found, const std::vector<int64_t>& truth, size_t nq,
                 size_t k) {
  if (nq == 0) return 0;
  double total = 0;
  for (size_t q = 0; q < nq; ++q) {
    size_t hits = 0, relevant = 0;
    for (size_t i = 0; i < k; ++i) {
      const int64_t t = truth[q * k + i];
      if (t < 0) continue;
      ++relevant;
      for (size_t j = 0; j < k; ++j) {
        if (found[q * k + j] == t) {
          ++hits;
          break;
        }
      }
    }
    total += relevant ? double(hits) / relevant : 1.0;
  }
  return total / nq;
}

// ---- bandwidth ----

namespace {

std::atomic<uint64_t> g_sink{0};

uint64_t SumWords(const uint64_t* p, size_t n) {
  // Four independent accumulators; the compiler vectorises the integer adds.
  uint64_t a = 0, b = 0, c = 0, d = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a += p[i];
    b += p[i + 1];
    c += p[i + 2];
    d += p[i + 3];
  }
  for (; i < n; ++i) a += p[i];
  return a + b + c + d;
}

}  // namespace

double StreamBandwidth(const void* data, size_t size, int threads, int reps) {
  const auto* words = static_cast<const uint64_t*>(data);
  const size_t n = size / 8;
  auto once = [&] {
    const auto start = Clock::now();
    std::vector<std::thread> pool;
    const size_t per = (n + threads - 1) / threads;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const size_t lo = std::min(n, t * per), hi = std::min(n, lo + per);
        g_sink += SumWords(words + lo, hi - lo);
      });
    }
    for (auto& th : pool) th.join();
    return SecondsSince(start);
  };
  once();  // warm-up: page faults, caches
  double best = 0;
  for (int r = 0; r < reps; ++r) best = std::max(best, double(n * 8) / once() / 1e9);
  return best;
}

// ---- process ----

size_t RssBytes() {
  malloc_trim(0);
  std::ifstream in("/proc/self/statm");
  size_t pages_total = 0, pages_resident = 0;
  in >> pages_total >> pages_resident;
  return pages_resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

std::string SelfExe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) Fail("cannot read /proc/self/exe");
  buf[n] = '\0';
  std::string path = buf;
  // A binary relinked while it runs: its path now names the new build, which is what a child
  // process should run.
  const std::string deleted = " (deleted)";
  if (path.size() > deleted.size() &&
      path.compare(path.size() - deleted.size(), deleted.size(), deleted) == 0) {
    path.resize(path.size() - deleted.size());
  }
  return path;
}

TempDir::TempDir(const std::string& base) {
  std::string root = base;
  if (root.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    root = tmp && *tmp ? tmp : "/tmp";
  }
  fs::create_directories(root);
  std::string tmpl = root + "/reco-bench-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) Fail("cannot create a directory under " + root);
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

uint64_t DirBytes(const std::string& path) {
  uint64_t total = 0;
  std::error_code ec;
  if (!fs::exists(path, ec)) return 0;
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

// ---- engine ----

engine::SpaceConfig VectorSpace(const std::string& name, uint32_t dim, const std::string& index,
                                const std::map<std::string, std::string>& index_options) {
  engine::SpaceConfig s;
  s.name = name;
  s.plugin = "none";
  s.dim = dim;
  s.metric = "cosine";
  s.index = index;
  for (const auto& [k, v] : index_options) {
    if (!SetIndexOption(&s, k, v)) {
      std::fprintf(stderr, "reco_bench: warning: this engine has no index_options; %s=%s ignored\n",
                   k.c_str(), v.c_str());
    }
  }
  return s;
}

std::unique_ptr<engine::Engine> OpenEngine(const std::string& data_dir) {
  engine::EngineOptions o;
  o.data_dir = data_dir;
  std::unique_ptr<engine::Engine> e;
  Check(engine::Engine::Open(o, &e), "opening the engine at " + data_dir);
  return e;
}

double UpsertRange(engine::Engine* engine, const std::string& collection,
                   const std::vector<std::string>& spaces, const float* vectors, size_t dim,
                   size_t begin, size_t end, size_t batch,
                   const std::function<Attributes(size_t)>& attrs) {
  double seconds = 0;
  std::vector<engine::ItemInput> items;
  for (size_t lo = begin; lo < end; lo += batch) {
    const size_t hi = std::min(end, lo + batch);
    items.clear();
    items.resize(hi - lo);
    for (size_t i = lo; i < hi; ++i) {
      engine::ItemInput& item = items[i - lo];
      item.id = std::to_string(i);
      const float* v = vectors + (i - begin) * dim;
      for (const auto& s : spaces) item.vectors[s].assign(v, v + dim);
      if (attrs) item.attributes = attrs(i);
    }
    const auto start = Clock::now();
    Check(engine->Upsert(collection, items), "upserting items " + std::to_string(lo) + ".." +
                                                 std::to_string(hi) + " into " + collection);
    seconds += SecondsSince(start);
  }
  return seconds;
}

void EngineSearch(engine::Engine* engine, const std::string& collection, const std::string& space,
                  const float* query, size_t dim, size_t k, uint32_t ef, uint32_t nprobe,
                  const std::string& filter, int64_t* labels) {
  engine::Query q;
  q.collection = collection;
  q.space = space;
  q.k = static_cast<uint32_t>(k);
  q.vector = std::vector<float>(query, query + dim);
  q.filter = filter;
  q.ef = ef;
  q.nprobe = nprobe;
  std::vector<engine::Hit> hits;
  Check(engine->Search(q, &hits), "searching " + collection + "/" + space);
  for (size_t i = 0; i < k; ++i) {
    labels[i] = i < hits.size() ? std::strtoll(hits[i].id.c_str(), nullptr, 10) : -1;
  }
}

bool ExpectTrained(const std::string& spec, uint64_t vectors) {
  // IndexOptions::train_threshold's default: 39 vectors per IVF list, 39 * 256 with PQ, and
  // at least 1,000, for indexes that need training (IVF, PQ, SQ).
  uint64_t threshold = 0;
  const auto ivf = spec.find("IVF");
  if (ivf != std::string::npos) threshold = 39 * std::strtoull(spec.c_str() + ivf + 3, nullptr, 10);
  if (spec.find("PQ") != std::string::npos) threshold = std::max<uint64_t>(threshold, 39 * 256);
  const bool needs = ivf != std::string::npos || spec.find("PQ") != std::string::npos ||
                     spec.find("SQ") != std::string::npos;
  if (!needs) return true;
  return vectors >= std::max<uint64_t>(threshold, 1000);
}

void WaitUntilReady(engine::Engine* engine, const std::string& collection, uint64_t vectors,
                    double timeout_s) {
  const auto start = Clock::now();
  for (;;) {
    engine::CollectionStats stats;
    Check(engine->Stats(collection, &stats), "stats of " + collection);
    bool ready = true;
    for (const auto& s : stats.spaces) {
      ready &= s.vectors == vectors && (s.trained || !ExpectTrained(s.index, vectors)) &&
               !s.rebuild_pending;
    }
    if (ready) return;
    if (SecondsSince(start) > timeout_s) {
      std::string state;
      for (const auto& s : stats.spaces) {
        state += " " + s.name + ": " + std::to_string(s.vectors) + " vectors, " +
                 (s.trained ? "trained" : "not trained") + ";";
      }
      Fail(collection + " is not ready after " + Fixed(timeout_s, 0) + " s:" + state);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

engine::SpaceStats SpaceStatsOf(engine::Engine* engine, const std::string& collection,
                                const std::string& space) {
  engine::CollectionStats stats;
  Check(engine->Stats(collection, &stats), "stats of " + collection);
  for (const auto& s : stats.spaces) {
    if (s.name == space) return s;
  }
  Fail("collection " + collection + " has no space " + space);
}

void SetOmpThreads(int n) { omp_set_num_threads(n); }

}  // namespace bench
}  // namespace reco
