// reco_bench memory: index memory per vector for several index types, from Engine::Stats
// (the space's memory_bytes) and from the growth of the process's resident set, against the
// raw float size (dim * 4 bytes). Each index type runs in a fresh child process (this
// executable with --child), so that one measurement's freed memory cannot hide another's
// growth; a child writing the same records to raw RocksDB gives the storage share of the
// resident set.
#include <sys/wait.h>

#include <cstdio>
#include <sstream>

#include "tools/bench/bench.h"

namespace reco {
namespace bench {
namespace {

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// In the child: one index type (or "rocksdb"), one JSON line on stdout.
int RunChild(const std::string& spec, size_t n, size_t dim, uint64_t seed,
             const std::string& dir_base) {
  const std::vector<float> data = RandomVectors(seed, n, dim, true);
  TempDir dir(dir_base);
  json out = {{"spec", spec}, {"n", n}, {"dim", dim}};
  if (spec == "rocksdb") {
    const size_t rss0 = RssBytes();
    uint64_t bytes = 0;
    size_t rss1 = 0;
    RocksDbBaseline(dir.Sub("db"), data.data(), n, dim, 1000, &bytes, &rss1);
    out["rss_growth"] = rss1 > rss0 ? rss1 - rss0 : 0;
  } else {
    const size_t rss0 = RssBytes();  // before opening, as the RocksDB child
    auto engine = OpenEngine(dir.Sub("data"));
    engine::CollectionConfig cc;
    cc.name = "memory";
    cc.spaces.push_back(VectorSpace("v", static_cast<uint32_t>(dim), spec));
    Check(engine->CreateCollection(cc), "creating a " + spec + " space");
    UpsertRange(engine.get(), "memory", {"v"}, data.data(), dim, 0, n, 1000);
    WaitUntilReady(engine.get(), "memory", n, 3600);
    const size_t rss1 = RssBytes();
    const auto ss = SpaceStatsOf(engine.get(), "memory", "v");
    out["rss_growth"] = rss1 > rss0 ? rss1 - rss0 : 0;
    out["memory_bytes"] = ss.memory_bytes;
    out["backend"] = ss.backend;
    out["trained"] = ss.trained;
    out["vectors"] = ss.vectors;
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

int RunMemory(Args& args, Report& report) {
  const size_t n = args.Int("n", 200000);
  const size_t dim = args.Int("dim", 128);
  const auto specs = args.StrList("specs", "Flat;HNSW16;IVF256,Flat;IVF256,PQ16;SQ8", ';');
  const uint64_t seed = args.Int("seed", 19);
  const std::string dir_base = args.Str("dir", "");
  const bool child = args.Flag("child");
  const std::string child_spec = args.Str("spec", "");
  const int child_omp = static_cast<int>(args.Int("child-omp-threads", 1));
  args.Finish();
  if (child) return RunChild(child_spec, n, dim, seed, dir_base);

  std::vector<json> results;
  std::vector<std::string> all = {"rocksdb"};
  all.insert(all.end(), specs.begin(), specs.end());
  for (const auto& spec : all) {
    std::fprintf(stderr, "[memory] %s\n", spec.c_str());
    // One OpenMP thread in the child: the figures do not depend on it, and FAISS's k-means
    // (IVF / PQ training) with 2 OpenMP threads next to OpenBLAS's spins for minutes on 2
    // busy cores (docs/benchmarks.md).
    std::string cmd = "OMP_NUM_THREADS=" + std::to_string(child_omp) + " " + ShellQuote(SelfExe()) +
                      " memory --child --spec " + ShellQuote(spec) + " --n " + std::to_string(n) +
                      " --dim " + std::to_string(dim) + " --seed " + std::to_string(seed);
    if (!dir_base.empty()) cmd += " --dir " + ShellQuote(dir_base);
    FILE* pipe = popen(cmd.c_str(), "r");
    if (pipe == nullptr) Fail("cannot run " + cmd);
    std::string text;
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof(buf), pipe)) > 0) text.append(buf, got);
    const int status = pclose(pipe);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) Fail("the child for " + spec + " failed");
    std::istringstream lines(text);
    std::string line, last;
    while (std::getline(lines, line)) {
      if (!line.empty() && line[0] == '{') last = line;
    }
    if (last.empty()) Fail("the child for " + spec + " printed no result");
    results.push_back(json::parse(last));
  }

  const double raw = dim * 4.0;
  const double storage_rss = results[0]["rss_growth"].get<double>() / n;
  report.Table("Memory per vector, " + Count(n) + " x " + std::to_string(dim) +
                   " (raw float32: " + Fixed(raw, 0) + " B)",
               {"index", "backend", "trained", "Stats B/vector", "x raw", "RSS growth B/vector",
                "RSS - RocksDB B/vector", "x raw"});
  report.Row({"raw RocksDB, same records (storage share)", "-", "-", "-", "-",
              Fixed(storage_rss, 0), "-", "-"},
             {{"result", "storage_rss"}, {"rss_bytes_per_vector", storage_rss}});
  for (size_t i = 1; i < results.size(); ++i) {
    const json& r = results[i];
    const double stats = r["memory_bytes"].get<double>() / n;
    const double rss = r["rss_growth"].get<double>() / n;
    const double index_rss = rss - storage_rss;
    report.Row({r["spec"].get<std::string>(), r["backend"].get<std::string>(),
                r["trained"].get<bool>() ? "yes" : "no", Fixed(stats, 1), Ratio(stats / raw),
                Fixed(rss, 0), Fixed(index_rss, 0), Ratio(index_rss / raw)},
               {{"result", "index"},
                {"index", r["spec"]},
                {"backend", r["backend"]},
                {"trained", r["trained"]},
                {"stats_bytes_per_vector", stats},
                {"rss_bytes_per_vector", rss},
                {"rss_minus_storage_bytes_per_vector", index_rss},
                {"baseline", "raw_float_bytes"},
                {"baseline_bytes_per_vector", raw},
                {"ratio", stats / raw},
                {"rss_ratio", index_rss / raw}});
  }
  report.Note(
      "Stats = Engine::Stats space memory_bytes / n. RSS growth: resident set after "
      "upserting (and training) minus before, in a fresh process per index; the raw "
      "RocksDB row writes the same records without an engine, and its growth "
      "(memtables, caches) is subtracted to estimate the index's share. Children run with "
      "OMP_NUM_THREADS=" +
      std::to_string(child_omp) + ".");
  report.End();
  return 0;
}

}  // namespace bench
}  // namespace reco
