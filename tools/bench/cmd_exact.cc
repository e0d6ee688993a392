// reco_bench exact: exact (Flat) search over n x dim random vectors, one query at a time,
// against the memory-bandwidth bound measured in the same run (a streaming read of the same
// bytes), plus raw FAISS IndexFlatIP and batched queries.
//
// Every index is built first and kept; then rounds interleave the bandwidth measurement and
// every system, so that a change in the (shared) machine's load hits them alike.
#include <faiss/IndexFlat.h>

#include <algorithm>
#include <cstdio>
#include <functional>

#include "index/vector_index.h"
#include "tools/bench/bench.h"

namespace reco {
namespace bench {

int RunExact(Args& args, Report& report) {
  const size_t n = args.Int("n", 1000000);
  const size_t dim = args.Int("dim", 128);
  const size_t nq = args.Int("queries", 50);
  const size_t batch = args.Int("batch", 32);
  const size_t k = args.Int("k", 10);
  const uint64_t seed = args.Int("seed", 7);
  const int reps = static_cast<int>(args.Int("reps", 3));      // streaming sums per round
  const int rounds = static_cast<int>(args.Int("rounds", 3));  // interleaved rounds
  const int batch_omp = static_cast<int>(args.Int("batch-omp-threads", 1));
  const std::string dir_base = args.Str("dir", "");
  const std::string skip = args.Str("skip", "");  // "engine,index": baselines only
  args.Finish();
  auto skipped = [&](const std::string& what) { return skip.find(what) != std::string::npos; };
  auto log = [](const std::string& s) {
    std::fprintf(stderr, "[exact] %s\n", s.c_str());
    std::fflush(stderr);
  };
  using idx_t = faiss::Index::idx_t;

  log("generating " + Count(n) + " x " + std::to_string(dim) + " vectors");
  const std::vector<float> data = RandomVectors(seed, n, dim, /*normalize=*/true);
  const size_t nbatches = std::max<size_t>(2, (nq + batch - 1) / batch);
  const std::vector<float> queries =
      RandomVectors(seed + 1, std::max(nq, nbatches * batch), dim, true);
  const double bytes = double(n) * dim * sizeof(float);

  // Ground truth (for a correctness column): FAISS's BLAS path over all queries.
  SetOmpThreads(2);
  const std::vector<int64_t> truth = ExactTopK(data.data(), n, queries.data(), nq, dim, k);

  // ---- build everything ----
  struct System {
    std::string what;
    int threads;
    std::string bound_name;                              // "1-thread bound" / "2-thread bound"
    std::function<void(const float*, int64_t*)> search;  // one query -> k labels
    std::vector<double> qps, p50_us;
    double recall = -1;
  };
  std::vector<System> systems;

  log("FAISS IndexFlatIP");
  faiss::IndexFlatIP flat(static_cast<idx_t>(dim));
  flat.add(static_cast<idx_t>(n), data.data());
  systems.push_back({"FAISS IndexFlatIP, single queries",
                     1,
                     "1-thread bound",
                     [&](const float* q, int64_t* labels) {
                       float dist[1024];
                       idx_t l[1024];
                       flat.search(1, q, static_cast<idx_t>(k), dist, l);
                       for (size_t j = 0; j < k; ++j) labels[j] = l[j];
                     },
                     {},
                     {}});
  if (k > 1024) Fail("--k is at most 1024");

  std::vector<std::unique_ptr<index::VectorIndex>> indexes;
  index::VectorIndex* index2 = nullptr;
  if (!skipped("index")) {
    std::vector<uint64_t> ids(n);
    for (size_t i = 0; i < n; ++i) ids[i] = i;
    for (int threads : {1, 2}) {
      log("VectorIndex Flat, search_threads " + std::to_string(threads));
      index::IndexOptions o;
      o.spec = "Flat";
      o.dim = static_cast<uint32_t>(dim);
      o.metric = index::Metric::kCosine;
      o.search_threads = static_cast<uint32_t>(threads);
      std::unique_ptr<index::VectorIndex> idx;
      Check(index::VectorIndex::Create(o, &idx), "creating a Flat VectorIndex");
      for (size_t lo = 0; lo < n; lo += 65536) {
        const size_t m = std::min<size_t>(65536, n - lo);
        Check(idx->Add(ids.data() + lo, data.data() + lo * dim, m), "VectorIndex::Add");
      }
      index::VectorIndex* p = idx.get();
      if (threads == 2) index2 = p;
      systems.push_back({"VectorIndex Flat, single queries",
                         threads,
                         threads == 1 ? "1-thread bound" : "2-thread bound",
                         [p, k](const float* q, int64_t* labels) {
                           std::vector<index::Neighbor> out;
                           Check(p->Search(q, k, index::SearchParams(), nullptr, &out),
                                 "VectorIndex::Search");
                           for (size_t j = 0; j < k; ++j) {
                             labels[j] = j < out.size() ? static_cast<int64_t>(out[j].id) : -1;
                           }
                         },
                         {},
                         {}});
      indexes.push_back(std::move(idx));
    }
  }

  std::unique_ptr<TempDir> dir;
  std::unique_ptr<engine::Engine> engine;
  if (!skipped("engine")) {
    log("engine: upserting " + Count(n) + " vectors into a Flat space");
    dir = std::make_unique<TempDir>(dir_base);
    engine = OpenEngine(dir->Sub("data"));
    engine::CollectionConfig cc;
    cc.name = "exact";
    cc.spaces.push_back(VectorSpace("v", static_cast<uint32_t>(dim), "Flat"));
    Check(engine->CreateCollection(cc), "creating the collection");
    UpsertRange(engine.get(), "exact", {"v"}, data.data(), dim, 0, n, 10000);
    WaitUntilReady(engine.get(), "exact", n, 600);
    engine::Engine* e = engine.get();
    systems.push_back({"engine Flat space (Engine::Search)",
                       2,
                       "2-thread bound",
                       [e, dim, k](const float* q, int64_t* labels) {
                         EngineSearch(e, "exact", "v", q, dim, k, 0, 0, "", labels);
                       },
                       {},
                       {}});
  }

  // ---- interleaved rounds ----
  std::vector<double> bw1s, bw2s, faiss_batch, index_batch;
  std::vector<int64_t> found(nq * k);
  std::vector<float> dist(batch * k);
  std::vector<idx_t> labels(batch * k);
  std::vector<std::vector<index::Neighbor>> outs;
  for (int round = 0; round < rounds; ++round) {
    log("round " + std::to_string(round + 1) + " of " + std::to_string(rounds));
    bw1s.push_back(StreamBandwidth(data.data(), data.size() * sizeof(float), 1, reps));
    bw2s.push_back(StreamBandwidth(data.data(), data.size() * sizeof(float), 2, reps));
    SetOmpThreads(1);
    for (auto& s : systems) {
      const QueryTiming t = TimeQueries(nq, round == 0 ? 3 : 1, [&](size_t i) {
        s.search(queries.data() + i * dim, found.data() + i * k);
      });
      s.qps.push_back(t.qps);
      s.p50_us.push_back(t.p50_us);
      if (round == 0) s.recall = RecallAtK(found, truth, nq, k);
    }
    // Batches: BLAS (OpenBLAS's own threads) with OpenMP loops on batch_omp threads.
    SetOmpThreads(batch_omp);
    QueryTiming tb = TimeQueries(nbatches, 1, [&](size_t b) {
      flat.search(static_cast<idx_t>(batch), queries.data() + b * batch * dim,
                  static_cast<idx_t>(k), dist.data(), labels.data());
    });
    faiss_batch.push_back(tb.qps * batch);
    if (index2 != nullptr) {
      tb = TimeQueries(nbatches, 1, [&](size_t b) {
        Check(index2->SearchBatch(queries.data() + b * batch * dim, batch, k, index::SearchParams(),
                                  nullptr, &outs),
              "VectorIndex::SearchBatch");
      });
      index_batch.push_back(tb.qps * batch);
    }
  }
  SetOmpThreads(2);

  auto best = [](const std::vector<double>& v) {
    return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end());
  };
  const double bw1 = best(bw1s), bw2 = best(bw2s);
  const double bound1 = bw1 * 1e9 / bytes, bound2 = bw2 * 1e9 / bytes;

  report.Table("Exact search, " + Count(n) + " x " + std::to_string(dim) + " float32 (" +
                   Bytes(bytes) + "), k = " + std::to_string(k) + ", single queries",
               {"what", "threads", "best q/s", "median q/s", "p50 ms", "recall", "bound q/s",
                "best / bound"});
  report.Row({"streaming read (bound)", "1", Fixed(bound1, 1), Fixed(Median(bw1s) * 1e9 / bytes, 1),
              "-", "-", Fixed(bound1, 1), "1.00x"},
             {{"result", "bandwidth"}, {"threads", 1}, {"gb_per_s", bw1}, {"bound_qps", bound1}});
  report.Row({"streaming read (bound)", "2", Fixed(bound2, 1), Fixed(Median(bw2s) * 1e9 / bytes, 1),
              "-", "-", Fixed(bound2, 1), "1.00x"},
             {{"result", "bandwidth"}, {"threads", 2}, {"gb_per_s", bw2}, {"bound_qps", bound2}});
  for (const auto& s : systems) {
    const double q = best(s.qps), bound = s.threads == 1 ? bound1 : bound2;
    report.Row(
        {s.what, std::to_string(s.threads), Fixed(q, 1), Fixed(Median(s.qps), 1),
         Fixed(Median(s.p50_us) / 1000, 1), Fixed(s.recall, 3), Fixed(bound, 1), Ratio(q / bound)},
        {{"result", "single"},
         {"what", s.what},
         {"threads", s.threads},
         {"qps", q},
         {"median_qps", Median(s.qps)},
         {"p50_us", Median(s.p50_us)},
         {"recall", s.recall},
         {"baseline", s.bound_name},
         {"baseline_qps", bound},
         {"ratio", q / bound}});
  }
  report.Note("bound = streaming-read bandwidth / " + Bytes(bytes) + " per query: " +
              Fixed(bw1, 1) + " GB/s on one thread, " + Fixed(bw2, 1) + " GB/s on two (best of " +
              std::to_string(rounds * reps) + " sums). " + std::to_string(rounds) +
              " rounds interleave the bandwidth measurement and every system; best q/s is "
              "compared with the best bandwidth (both are what the hardware allowed when "
              "nothing else interfered), the median shows the spread.");
  report.Note("recall: against FAISS's exact BLAS search (1.000 = the same top-" +
              std::to_string(k) + ").");

  report.Table("Batched exact search, batch " + std::to_string(batch) + ", 2 threads",
               {"what", "best q/s", "baseline", "baseline best q/s", "ratio", "x 2-thread bound"});
  const double fb = best(faiss_batch), ib = best(index_batch);
  const double r = fb > 0 && ib > 0 ? ib / fb : NAN;
  report.Row({"VectorIndex::SearchBatch", Count(ib), "FAISS IndexFlatIP batch", Count(fb), Ratio(r),
              Ratio(ib / bound2)},
             {{"result", "batch"},
              {"batch", batch},
              {"qps", ib},
              {"baseline", "faiss_flat_batch"},
              {"baseline_qps", fb},
              {"ratio", std::isfinite(r) ? json(r) : json(nullptr)},
              {"ratio_to_bound", ib / bound2}});
  report.Note("Batches run with " + std::to_string(batch_omp) +
              " OpenMP thread(s) for FAISS's loops (OpenBLAS uses its own threads); x bound = "
              "q/s / the single-query 2-thread bound (batching reuses each byte " +
              std::to_string(batch) + " times).");
  report.End();
  return 0;
}

}  // namespace bench
}  // namespace reco
