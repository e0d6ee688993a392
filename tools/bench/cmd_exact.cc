// reco_bench exact: exact (Flat) search over n x dim random vectors, one query at a time,
// against the memory-bandwidth bound measured in the same run (a streaming read of the same
// bytes), plus raw FAISS IndexFlatIP and batched queries.
#include <faiss/IndexFlat.h>

#include <algorithm>
#include <cstdio>

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
  const int reps = static_cast<int>(args.Int("reps", 5));
  const int batch_omp = static_cast<int>(args.Int("batch-omp-threads", 1));
  const std::string dir_base = args.Str("dir", "");
  const std::string skip = args.Str("skip", "");  // "engine,index": baselines only
  args.Finish();
  auto skipped = [&](const std::string& what) { return skip.find(what) != std::string::npos; };
  auto log = [](const std::string& s) {
    std::fprintf(stderr, "[exact] %s\n", s.c_str());
    std::fflush(stderr);
  };

  log("generating " + Count(n) + " x " + std::to_string(dim) + " vectors");
  const std::vector<float> data = RandomVectors(seed, n, dim, /*normalize=*/true);
  const size_t nq_batch = std::max(nq, batch * 4);  // batched runs want a few batches
  const std::vector<float> queries = RandomVectors(seed + 1, nq_batch, dim, true);
  const double bytes = double(n) * dim * sizeof(float);

  // ---- the bound: a streaming read of the same bytes ----
  // Measured now and again after the scans; the bound is the best of all runs.
  log("measuring streaming-read bandwidth");
  double bw1 = StreamBandwidth(data.data(), data.size() * sizeof(float), 1, reps);
  double bw2 = StreamBandwidth(data.data(), data.size() * sizeof(float), 2, reps);
  double bound1 = 0, bound2 = 0;
  auto set_bounds = [&] {
    bound1 = bw1 * 1e9 / bytes;
    bound2 = bw2 * 1e9 / bytes;
  };
  set_bounds();

  // Ground truth (for a correctness column): FAISS's BLAS path over all queries.
  SetOmpThreads(2);
  const std::vector<int64_t> truth = ExactTopK(data.data(), n, queries.data(), nq, dim, k);
  std::vector<int64_t> found(nq_batch * k);

  struct Row {
    std::string what;
    int threads;
    double qps;
    double p50_us;
    double recall;
    double bound;
    std::string bound_name;
  };
  std::vector<Row> rows;
  const size_t warmup = 3;

  // ---- raw FAISS IndexFlatIP, one query at a time ----
  double faiss_batch_qps = 0;
  {
    log("FAISS IndexFlatIP");
    faiss::IndexFlatIP flat(static_cast<faiss::Index::idx_t>(dim));
    flat.add(static_cast<faiss::Index::idx_t>(n), data.data());
    std::vector<float> dist(batch * k);
    std::vector<faiss::Index::idx_t> labels(batch * k);
    SetOmpThreads(1);
    QueryTiming t = TimeQueries(nq, warmup, [&](size_t i) {
      flat.search(1, queries.data() + i * dim, static_cast<faiss::Index::idx_t>(k), dist.data(),
                  labels.data());
      std::copy_n(labels.begin(), k, found.begin() + i * k);
    });
    rows.push_back({"FAISS IndexFlatIP, single queries", 1, t.qps, t.p50_us,
                    RecallAtK(found, truth, nq, k), bound1, "1-thread bound"});
    // Batched: BLAS (OpenBLAS's own threads) with FAISS's OpenMP loops on batch_omp threads.
    SetOmpThreads(batch_omp);
    const size_t nb = nq_batch / batch;
    QueryTiming tb = TimeQueries(nb, 1, [&](size_t b) {
      flat.search(static_cast<faiss::Index::idx_t>(batch), queries.data() + b * batch * dim,
                  static_cast<faiss::Index::idx_t>(k), dist.data(), labels.data());
    });
    faiss_batch_qps = tb.qps * batch;
  }

  // ---- reco::index::VectorIndex "Flat" directly ----
  double index_batch_qps = 0;
  for (int threads : {1, 2}) {
    if (skipped("index")) break;
    log("VectorIndex Flat, search_threads " + std::to_string(threads));
    index::IndexOptions o;
    o.spec = "Flat";
    o.dim = static_cast<uint32_t>(dim);
    o.metric = index::Metric::kCosine;
    o.search_threads = static_cast<uint32_t>(threads);
    std::unique_ptr<index::VectorIndex> idx;
    Check(index::VectorIndex::Create(o, &idx), "creating a Flat VectorIndex");
    std::vector<uint64_t> ids(n);
    for (size_t i = 0; i < n; ++i) ids[i] = i;
    for (size_t lo = 0; lo < n; lo += 65536) {
      const size_t m = std::min<size_t>(65536, n - lo);
      Check(idx->Add(ids.data() + lo, data.data() + lo * dim, m), "VectorIndex::Add");
    }
    SetOmpThreads(1);
    std::vector<index::Neighbor> out;
    const index::SearchParams params;
    QueryTiming t = TimeQueries(nq, warmup, [&](size_t i) {
      Check(idx->Search(queries.data() + i * dim, k, params, nullptr, &out), "VectorIndex::Search");
      for (size_t j = 0; j < k; ++j) {
        found[i * k + j] = j < out.size() ? static_cast<int64_t>(out[j].id) : -1;
      }
    });
    rows.push_back({"VectorIndex Flat, single queries", threads, t.qps, t.p50_us,
                    RecallAtK(found, truth, nq, k), threads == 1 ? bound1 : bound2,
                    threads == 1 ? "1-thread bound" : "2-thread bound"});
    if (threads == 2) {
      SetOmpThreads(batch_omp);  // as FAISS's batch above
      const size_t nb = nq_batch / batch;
      std::vector<std::vector<index::Neighbor>> outs;
      QueryTiming tb = TimeQueries(nb, 1, [&](size_t b) {
        Check(idx->SearchBatch(queries.data() + b * batch * dim, batch, k, params, nullptr, &outs),
              "VectorIndex::SearchBatch");
      });
      index_batch_qps = tb.qps * batch;
    }
  }

  // ---- the engine (Flat space, cosine) ----
  if (!skipped("engine")) {
    log("engine: upserting " + Count(n) + " vectors into a Flat space");
    TempDir dir(dir_base);
    auto engine = OpenEngine(dir.Sub("data"));
    engine::CollectionConfig cc;
    cc.name = "exact";
    cc.spaces.push_back(VectorSpace("v", static_cast<uint32_t>(dim), "Flat"));
    Check(engine->CreateCollection(cc), "creating the collection");
    SetOmpThreads(2);
    UpsertRange(engine.get(), "exact", {"v"}, data.data(), dim, 0, n, 10000);
    WaitUntilReady(engine.get(), "exact", n, 600);
    SetOmpThreads(1);
    QueryTiming t = TimeQueries(nq, warmup, [&](size_t i) {
      EngineSearch(engine.get(), "exact", "v", queries.data() + i * dim, dim, k, 0, 0, "",
                   found.data() + i * k);
    });
    rows.push_back({"engine Flat space (Engine::Search)", 2, t.qps, t.p50_us,
                    RecallAtK(found, truth, nq, k), bound2, "2-thread bound"});
  }
  SetOmpThreads(2);
  log("measuring streaming-read bandwidth again");
  bw1 = std::max(bw1, StreamBandwidth(data.data(), data.size() * sizeof(float), 1, reps));
  bw2 = std::max(bw2, StreamBandwidth(data.data(), data.size() * sizeof(float), 2, reps));
  set_bounds();
  for (auto& r : rows) r.bound = r.threads == 1 ? bound1 : bound2;

  report.Table("Exact search, " + Count(n) + " x " + std::to_string(dim) + " float32 (" +
                   Bytes(bytes) + "), k = " + std::to_string(k),
               {"what", "threads", "q/s", "p50 ms", "recall", "bound q/s", "ratio to bound"});
  report.Row({"streaming read (bound)", "1", Fixed(bound1, 1), "-", "-", Fixed(bound1, 1), "1.00x"},
             {{"result", "bandwidth"}, {"threads", 1}, {"gb_per_s", bw1}, {"bound_qps", bound1}});
  report.Row({"streaming read (bound)", "2", Fixed(bound2, 1), "-", "-", Fixed(bound2, 1), "1.00x"},
             {{"result", "bandwidth"}, {"threads", 2}, {"gb_per_s", bw2}, {"bound_qps", bound2}});
  for (const auto& r : rows) {
    report.Row({r.what, std::to_string(r.threads), Fixed(r.qps, 1), Fixed(r.p50_us / 1000, 1),
                Fixed(r.recall, 3), Fixed(r.bound, 1), Ratio(r.qps / r.bound)},
               {{"result", "single"},
                {"what", r.what},
                {"threads", r.threads},
                {"qps", r.qps},
                {"p50_us", r.p50_us},
                {"recall", r.recall},
                {"baseline", r.bound_name},
                {"baseline_qps", r.bound},
                {"ratio", r.qps / r.bound}});
  }
  report.Note("bandwidth: " + Fixed(bw1, 1) + " GB/s on one thread, " + Fixed(bw2, 1) +
              " GB/s on two (best of " + std::to_string(2 * reps) + " streaming sums over " +
              Bytes(bytes) + ", before and after the scans); bound = bandwidth / " + Bytes(bytes) +
              " per query.");
  report.Note("recall: against FAISS's exact BLAS search (1.000 = the same top-" +
              std::to_string(k) + ").");

  report.Table("Batched exact search, batch " + std::to_string(batch) + ", 2 threads",
               {"what", "q/s", "baseline", "baseline q/s", "ratio", "x 2-thread bound"});
  const double r = faiss_batch_qps > 0 ? index_batch_qps / faiss_batch_qps : NAN;
  report.Row({"VectorIndex::SearchBatch", Count(index_batch_qps), "FAISS IndexFlatIP batch",
              Count(faiss_batch_qps), Ratio(r), Ratio(index_batch_qps / bound2)},
             {{"result", "batch"},
              {"batch", batch},
              {"qps", index_batch_qps},
              {"baseline", "faiss_flat_batch"},
              {"baseline_qps", faiss_batch_qps},
              {"ratio", std::isfinite(r) ? json(r) : json(nullptr)},
              {"ratio_to_bound", index_batch_qps / bound2}});
  report.End();
  return 0;
}

}  // namespace bench
}  // namespace reco
