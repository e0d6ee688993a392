// reco_bench restart: Engine::Open of a data directory whose index files exist (written by
// Engine::Flush) against Open after indexes/ is removed, which rebuilds every index from
// RocksDB.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "tools/bench/bench.h"

namespace reco {
namespace bench {

int RunRestart(Args& args, Report& report) {
  const size_t n = args.Int("n", 300000);
  const size_t dim = args.Int("dim", 128);
  const std::string spec = args.Str("spec", "HNSW16");
  const size_t batch = args.Int("batch", 5000);
  const size_t nq = args.Int("queries", 100);
  const int reps = static_cast<int>(args.Int("reps", 3));
  const uint64_t seed = args.Int("seed", 13);
  const std::string dir_base = args.Str("dir", "");
  args.Finish();
  auto log = [](const std::string& s) {
    std::fprintf(stderr, "[restart] %s\n", s.c_str());
    std::fflush(stderr);
  };
  const size_t k = 10;

  TempDir dir(dir_base);
  const std::string data_dir = dir.Sub("data");
  const std::string index_dir = data_dir + "/indexes";
  const std::vector<float> queries = RandomVectors(seed + 1, nq, dim, true);
  std::vector<int64_t> before(nq * k), after(nq * k);
  auto ask = [&](engine::Engine* e, std::vector<int64_t>* out) {
    for (size_t i = 0; i < nq; ++i) {
      EngineSearch(e, "restart", "v", queries.data() + i * dim, dim, k, 0, 0, "",
                   out->data() + i * k);
    }
  };

  double build_s = 0, flush_s = 0, close_s = 0;
  SetOmpThreads(2);
  {
    log("building " + Count(n) + " x " + std::to_string(dim) + " " + spec);
    auto engine = OpenEngine(data_dir);
    engine::CollectionConfig cc;
    cc.name = "restart";
    cc.spaces.push_back(VectorSpace("v", static_cast<uint32_t>(dim), spec));
    Check(engine->CreateCollection(cc), "creating the collection");
    std::vector<float> chunk;
    const auto start = Clock::now();
    for (size_t lo = 0; lo < n; lo += batch * 20) {  // generate as we go: 1M x 128 is 512 MB
      const size_t hi = std::min(n, lo + batch * 20);
      chunk.resize((hi - lo) * dim);
      RandomVectors(seed, lo, hi, dim, true, chunk.data());
      UpsertRange(engine.get(), "restart", {"v"}, chunk.data(), dim, lo, hi, batch);
    }
    WaitUntilReady(engine.get(), "restart", n, 7200);
    build_s = SecondsSince(start);
    ask(engine.get(), &before);
    log("flushing");
    auto t = Clock::now();
    Check(engine->Flush(), "Engine::Flush");
    flush_s = SecondsSince(t);
    t = Clock::now();
    engine.reset();
    close_s = SecondsSince(t);
  }
  // Exact truth for the queries (the data again, made from the same seed), to tell a
  // different graph from a worse one.
  std::vector<int64_t> truth;
  {
    log("exact ground truth");
    const std::vector<float> data = RandomVectors(seed, n, dim, true);
    truth = ExactTopK(data.data(), n, queries.data(), nq, dim, k);
  }
  const double recall_before = RecallAtK(before, truth, nq, k);
  const uint64_t index_bytes = DirBytes(index_dir);
  const uint64_t total_bytes = DirBytes(data_dir);
  if (index_bytes == 0) {
    log("warning: Flush wrote no files under " + index_dir);
  }

  // Open with the index files, reps times.
  std::vector<double> load_s;
  double load_agree = 0, load_recall = 0;
  for (int r = 0; r < reps; ++r) {
    log("opening with index files (" + std::to_string(r + 1) + "/" + std::to_string(reps) + ")");
    const auto t = Clock::now();
    auto engine = OpenEngine(data_dir);
    WaitUntilReady(engine.get(), "restart", n, 7200);
    load_s.push_back(SecondsSince(t));
    if (r == 0) {
      ask(engine.get(), &after);
      load_agree = RecallAtK(after, before, nq, k);
      load_recall = RecallAtK(after, truth, nq, k);
    }
  }

  // Remove the index files: a full rebuild from RocksDB.
  log("opening without index files (rebuild)");
  std::filesystem::remove_all(index_dir);
  double rebuild_s = 0, rebuild_agree = 0, rebuild_recall = 0;
  {
    const auto t = Clock::now();
    auto engine = OpenEngine(data_dir);
    WaitUntilReady(engine.get(), "restart", n, 7200);
    rebuild_s = SecondsSince(t);
    ask(engine.get(), &after);
    rebuild_agree = RecallAtK(after, before, nq, k);
    rebuild_recall = RecallAtK(after, truth, nq, k);
  }

  const double load = Median(load_s);
  report.Table("Restart, " + Count(n) + " x " + std::to_string(dim) + " in a " + spec +
                   " space (data " + Bytes(double(total_bytes)) + ", index files " +
                   Bytes(double(index_bytes)) + ")",
               {"what", "seconds", "baseline", "baseline s", "speed-up", "recall@10",
                "same top-10 as before"});
  report.Row(
      {"Engine::Open with index files", Fixed(load, 2), "Open rebuilding from RocksDB",
       Fixed(rebuild_s, 2), Ratio(rebuild_s / load), Fixed(load_recall, 3), Fixed(load_agree, 3)},
      {{"result", "open_with_index_files"},
       {"seconds", load},
       {"baseline", "open_rebuild"},
       {"baseline_seconds", rebuild_s},
       {"ratio", rebuild_s / load},
       {"recall", load_recall},
       {"agreement", load_agree},
       {"index_bytes", index_bytes}});
  report.Row({"Engine::Open rebuilding from RocksDB", Fixed(rebuild_s, 2), "-", "-", "1.00x",
              Fixed(rebuild_recall, 3), Fixed(rebuild_agree, 3)},
             {{"result", "open_rebuild"},
              {"seconds", rebuild_s},
              {"recall", rebuild_recall},
              {"agreement", rebuild_agree}});
  report.Row({"initial ingest (Upsert until ready)", Fixed(build_s, 2), "-", "-", "-",
              Fixed(recall_before, 3), "-"},
             {{"result", "initial_ingest"}, {"seconds", build_s}, {"recall", recall_before}});
  report.Row({"Engine::Flush", Fixed(flush_s, 2), "-", "-", "-", "-", "-"},
             {{"result", "flush"}, {"seconds", flush_s}});
  report.Row({"engine close (destructor)", Fixed(close_s, 2), "-", "-", "-", "-", "-"},
             {{"result", "close"}, {"seconds", close_s}});
  report.Note(
      "Open is timed until Stats reports every vector (trained); with index files it is "
      "the median of " +
      std::to_string(reps) +
      " opens. Files are in the page cache (warm). recall@10: " + std::to_string(nq) +
      " random queries at the space's default ef, against exact search; 'same top-10' = "
      "overlap with the answers before the restart.");
  report.End();
  return 0;
}

}  // namespace bench
}  // namespace reco
