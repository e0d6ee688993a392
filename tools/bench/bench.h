// reco_bench: shared harness — option parsing, tables and JSON lines, timing, data, engine
// helpers. Every subcommand (cmd_*.cc) prints each figure next to a baseline measured in the
// same run, as a ratio. This is a tool, not part of the product: it may use FAISS, RocksDB and
// hnswlib directly for its baselines.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "engine/engine.h"

namespace reco {
namespace bench {

using json = nlohmann::json;

// A failed step: printed by main() with the subcommand's name, exit code 1.
struct BenchError {
  std::string message;
};
[[noreturn]] void Fail(const std::string& message);
// Fails with context when st is not OK.
void Check(const Status& st, const std::string& context);

// "--key value" options and "--flag" switches after the subcommand. Every option a command
// does not read is an error (Finish()).
class Args {
 public:
  Args(int argc, char** argv, int first);
  std::string Str(const std::string& key, const std::string& def);
  int64_t Int(const std::string& key, int64_t def);
  double Double(const std::string& key, double def);
  bool Flag(const std::string& key);
  // Comma-separated integers: "10,20,40".
  std::vector<int64_t> IntList(const std::string& key, const std::string& def);
  // Separator-separated strings ("Flat;HNSW16;IVF256,Flat" with sep ';').
  std::vector<std::string> StrList(const std::string& key, const std::string& def, char sep);
  void Finish() const;  // fails on options nobody read

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
  mutable std::set<std::string> used_;
};

// Output: human tables on stdout, and with --json one JSON object per result line (each
// line starts with '{', so `grep '^{'` extracts them).
class Report {
 public:
  Report(std::string bench, bool json) : bench_(std::move(bench)), json_(json) {}
  // Starts a table; rows follow with Row(), and it is printed by End() (or the next Table()).
  void Table(const std::string& title, const std::vector<std::string>& headers);
  void Row(const std::vector<std::string>& cells, json result);
  void Note(const std::string& line);  // a line under the current table
  void End();
  bool json_enabled() const { return json_; }
  // A result line with no table row (e.g. the machine line).
  void Json(json result);

 private:
  std::string bench_;
  bool json_;
  std::string title_;
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<std::string> notes_;
  std::vector<json> pending_;
};

// Number formatting for tables.
std::string Fixed(double v, int decimals);
std::string Count(double v);  // 12,345 (rounded)
std::string Ratio(double v);  // "0.87x"
std::string Bytes(double v);  // "512.0 MB"

// Machine line at the top of every run: nproc, CPU model, AVX-512, memory.
void PrintMachine(Report* report);

using Clock = std::chrono::steady_clock;
inline double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}
double Median(std::vector<double> v);
double Percentile(std::vector<double> v, double p);  // p in [0, 1]

// Per-query latencies of one timed pass.
struct QueryTiming {
  double qps = 0;     // queries / total seconds
  double p50_us = 0;  // median latency
  double p99_us = 0;
};
QueryTiming Summarize(const std::vector<double>& latencies_s, double total_s);

// Runs fn(0..nq-1) one query at a time after a warm-up over the first `warmup` queries, and
// times each call; passes over the queries repeat until min_seconds have gone by (short
// passes are at the mercy of one scheduling hiccup).
template <typename Fn>
QueryTiming TimeQueries(size_t nq, size_t warmup, Fn&& fn, double min_seconds = 0) {
  for (size_t i = 0; i < warmup && i < nq; ++i) fn(i);
  std::vector<double> latencies;
  latencies.reserve(nq);
  const auto start = Clock::now();
  do {
    for (size_t i = 0; i < nq; ++i) {
      const auto t = Clock::now();
      fn(i);
      latencies.push_back(SecondsSince(t));
    }
  } while (SecondsSince(start) < min_seconds);
  return Summarize(latencies, SecondsSince(start));
}

// ---- data ----

// Deterministic Gaussian vectors: vector i depends only on (seed, i), so any range can be
// made on its own (batches, child processes).
void RandomVectors(uint64_t seed, size_t begin, size_t end, size_t dim, bool normalize, float* out);
std::vector<float> RandomVectors(uint64_t seed, size_t n, size_t dim, bool normalize);
void NormalizeRows(float* data, size_t n, size_t dim);

// Reads an .fvecs file (int32 dim, then dim float32, per vector). limit 0 = all.
std::vector<float> ReadFvecs(const std::string& path, size_t limit, size_t* n, size_t* dim);
void WriteFvecs(const std::string& path, const float* data, size_t n, size_t dim);

// Exact top-k by inner product (brute force, BLAS through FAISS's flat kernel), labels
// 0..nb-1. Used as ground truth.
std::vector<int64_t> ExactTopK(const float* base, size_t nb, const float* queries, size_t nq,
                               size_t dim, size_t k);
// Mean of |found_i ∩ truth_i| / k over queries; found rows may hold -1 (missing).
double RecallAtK(const std::vector<int64_t>& found, const std::vector<int64_t>& truth, size_t nq,
                 size_t k);

// ---- memory bandwidth ----

// Streaming read of size bytes with `threads` threads; the best GB/s (1e9 bytes/s) of reps
// after a warm-up (a bound: the best the memory system delivered).
double StreamBandwidth(const void* data, size_t size, int threads, int reps);

// ---- process ----

size_t RssBytes();
std::string SelfExe();
// A fresh directory under base (default $TMPDIR or /tmp), removed with its content at the end.
class TempDir {
 public:
  explicit TempDir(const std::string& base);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};
uint64_t DirBytes(const std::string& path);  // total size of the files under path

// ---- engine ----

// SpaceConfig gains `index_options` (HNSW ef_construction ...) in the new engine; set it when
// the member exists so this tool builds against either header.
template <typename T, typename = void>
struct HasIndexOptions : std::false_type {};
template <typename T>
struct HasIndexOptions<T, std::void_t<decltype(std::declval<T&>().index_options)>>
    : std::true_type {};

template <typename T>
bool SetIndexOption(T* space, const std::string& key, const std::string& value) {
  if constexpr (HasIndexOptions<T>::value) {
    space->index_options[key] = value;
    return true;
  } else {
    (void)space;
    (void)key;
    (void)value;
    return false;
  }
}

engine::SpaceConfig VectorSpace(const std::string& name, uint32_t dim, const std::string& index,
                                const std::map<std::string, std::string>& index_options = {});
std::unique_ptr<engine::Engine> OpenEngine(const std::string& data_dir);

// Upserts vectors[begin, end) as items with ids "<i>" into every named space (all get the
// same vector), batch items per call. attrs (optional) gives item i's attributes. Returns
// the seconds spent inside Engine::Upsert.
double UpsertRange(engine::Engine* engine, const std::string& collection,
                   const std::vector<std::string>& spaces, const float* vectors, size_t dim,
                   size_t begin, size_t end, size_t batch,
                   const std::function<Attributes(size_t)>& attrs = nullptr);

// One engine query by vector; labels are the item ids parsed back to numbers.
void EngineSearch(engine::Engine* engine, const std::string& collection, const std::string& space,
                  const float* query, size_t dim, size_t k, uint32_t ef, uint32_t nprobe,
                  const std::string& filter, int64_t* labels);

// Whether an index of this spec holding `vectors` vectors should be trained (the default
// training threshold of index::IndexOptions); Flat and HNSW always are.
bool ExpectTrained(const std::string& spec, uint64_t vectors);
// Waits until every space of the collection holds `vectors` vectors and is trained where
// ExpectTrained says so (indexes that need training are rebuilt in the background); fails
// after timeout_s.
void WaitUntilReady(engine::Engine* engine, const std::string& collection, uint64_t vectors,
                    double timeout_s);
// Stats of one space (by name) of a collection.
engine::SpaceStats SpaceStatsOf(engine::Engine* engine, const std::string& collection,
                                const std::string& space);

// The raw-RocksDB baseline of ingest: the records Store::WriteItems writes for items with one
// vector each (item record, id-map entry, vector = provenance + floats, in their column
// families, and the id counter once per batch), in WriteBatches of `batch`, WAL on, into a
// fresh database at dir with the store's options. Returns the seconds of the write loop;
// rss_before_close (optional) gets the resident set before the database closes.
double RocksDbBaseline(const std::string& dir, const float* vectors, size_t n, size_t dim,
                       size_t batch, uint64_t* bytes_written, size_t* rss_before_close);

// OpenMP thread count (FAISS uses OpenMP; the query phases run with 1).
void SetOmpThreads(int n);

// Subcommands.
int RunAnn(Args& args, Report& report);
int RunExact(Args& args, Report& report);
int RunIngest(Args& args, Report& report);
int RunRestart(Args& args, Report& report);
int RunFiltered(Args& args, Report& report);
int RunMemory(Args& args, Report& report);
int RunPlugins(Args& args, Report& report);
int RunEvents(Args& args, Report& report);
int RunRecommend(Args& args, Report& report);
int RunTrain(Args& args, Report& report);

}  // namespace bench
}  // namespace reco
