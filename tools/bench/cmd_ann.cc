// reco_bench ann: GloVe-100 angular as ann-benchmarks runs it. 1,000 held-out words are the
// queries, exact top-10 by cosine is the truth; recall@10 and single-thread queries/s for the
// engine (HNSW and IVF spaces), raw FAISS on the same index types, and hnswlib.
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <random>

#include "tools/bench/bench.h"
#include "tools/bench/hnswlib_baseline.h"

namespace reco {
namespace bench {
namespace {

struct Point {
  double recall = -1;  // < 0: not measured
  QueryTiming timing;
};
using Sweep = std::map<int64_t, Point>;  // ef or nprobe -> result

struct Build {
  std::string system, index;
  double seconds = 0;
  size_t vectors = 0;
};

std::string Rec(const Point& p) { return p.recall < 0 ? "-" : Fixed(p.recall, 3); }
std::string Qps(const Point& p) { return p.recall < 0 ? "-" : Count(p.timing.qps); }
double RatioOf(const Point& a, const Point& b) {
  return (a.recall < 0 || b.recall < 0 || b.timing.qps <= 0) ? NAN : a.timing.qps / b.timing.qps;
}
// A measured point, or an empty one (recall < 0) when that system or parameter did not run.
Point Get(const std::map<std::string, Sweep>& sweeps, const std::string& system, int64_t param) {
  auto s = sweeps.find(system);
  if (s == sweeps.end()) return Point();
  auto p = s->second.find(param);
  return p == s->second.end() ? Point() : p->second;
}

json PointJson(const Point& p) {
  if (p.recall < 0) return nullptr;
  return {{"recall", p.recall}, {"qps", p.timing.qps}, {"p50_us", p.timing.p50_us}};
}

}  // namespace

int RunAnn(Args& args, Report& report) {
  const std::string path = args.Str("vectors", "");
  const size_t nq_want = args.Int("queries", 1000);
  const uint64_t seed = args.Int("seed", 42);
  const size_t k = args.Int("k", 10);
  const size_t m = args.Int("m", 16);
  const size_t efc = args.Int("ef-construction", 200);
  const auto efs = args.IntList("ef", "10,20,40,80,160,320");
  const size_t nlist = args.Int("nlist", 1024);
  const auto nprobes = args.IntList("nprobe", "1,2,4,8,16,32,64");
  const size_t limit = args.Int("limit", 0);
  const auto systems = args.StrList("systems", "engine,hnswlib,faiss", ',');
  const auto indexes = args.StrList("indexes", "hnsw,ivf", ',');
  auto index_wanted = [&](const char* name) {
    return std::find(indexes.begin(), indexes.end(), name) != indexes.end();
  };
  const bool want_hnsw = index_wanted("hnsw"), want_ivf = index_wanted("ivf");
  if (!want_hnsw && !want_ivf) Fail("--indexes takes hnsw, ivf or both");
  const int build_threads = static_cast<int>(args.Int("build-threads", 2));
  const std::string dir_base = args.Str("dir", "");
  const double ready_timeout = args.Double("ready-timeout", 1800);
  const int rounds = static_cast<int>(args.Int("rounds", 3));
  const double min_seconds = args.Double("min-seconds", 0.5);
  args.Finish();
  if (path.empty()) Fail("--vectors FILE (.fvecs) is required; tools/bench/run prepares it");
  auto wants = [&](const std::string& s) {
    return std::find(systems.begin(), systems.end(), s) != systems.end();
  };

  // ---- data: hold out queries, normalise, ground truth ----
  size_t n = 0, dim = 0;
  std::vector<float> all = ReadFvecs(path, limit, &n, &dim);
  NormalizeRows(all.data(), n, dim);
  if (nq_want >= n) Fail("more queries than vectors");
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<bool> is_query(n, false);
  const size_t nq = nq_want;
  std::vector<float> queries(nq * dim);
  for (size_t i = 0; i < nq; ++i) {
    is_query[order[i]] = true;
    std::copy_n(all.begin() + order[i] * dim, dim, queries.begin() + i * dim);
  }
  const size_t nb = n - nq;
  std::vector<float> base;
  base.reserve(nb * dim);
  for (size_t i = 0; i < n; ++i) {
    if (!is_query[i]) base.insert(base.end(), all.begin() + i * dim, all.begin() + (i + 1) * dim);
  }
  std::vector<float>().swap(all);

  SetOmpThreads(build_threads);
  auto start = Clock::now();
  const std::vector<int64_t> truth = ExactTopK(base.data(), nb, queries.data(), nq, dim, k);
  const double gt_seconds = SecondsSince(start);
  std::printf(
      "data: %s: %s base vectors x %zu dims, %zu held-out queries (seed %llu), k = %zu; "
      "exact ground truth in %.1f s\n",
      path.c_str(), Count(nb).c_str(), dim, nq, static_cast<unsigned long long>(seed), k,
      gt_seconds);
  std::fflush(stdout);
  report.Json({{"result", "data"}, {"base", nb}, {"queries", nq}, {"dim", dim}, {"k", k}});

  const size_t warmup = std::min<size_t>(nq, 100);
  std::vector<Build> builds;
  std::map<std::string, Sweep> hnsw, ivf;  // system -> sweep
  const std::string hnsw_spec = "HNSW" + std::to_string(m);
  const std::string ivf_spec = "IVF" + std::to_string(nlist) + ",Flat";
  auto log = [](const std::string& s) {
    std::fprintf(stderr, "[ann] %s\n", s.c_str());
    std::fflush(stderr);
  };

  // Every index is built first and kept; the query phase then interleaves the systems
  // (round after round, each parameter on every system back to back), so that a change in
  // the machine's load hits them alike. q/s is the median over the rounds.
  struct Searcher {
    std::string system;
    bool is_hnsw;
    std::function<void(int64_t param)> set;                           // ef or nprobe
    std::function<void(const float* query, int64_t* labels)> search;  // top-k labels
  };
  std::vector<Searcher> searchers;
  using idx_t = faiss::Index::idx_t;

  std::unique_ptr<HnswlibIndex> hnswlib_index;
  if (wants("hnswlib") && want_hnsw) {
    log("hnswlib: building " + hnsw_spec);
    hnswlib_index = std::make_unique<HnswlibIndex>(dim, nb, m, efc);
    SetOmpThreads(build_threads);
    start = Clock::now();
    hnswlib_index->Build(base.data(), nb, build_threads);
    builds.push_back({"hnswlib", hnsw_spec, SecondsSince(start), nb});
    HnswlibIndex* h = hnswlib_index.get();
    searchers.push_back({"hnswlib", true, [h, k](int64_t ef) { h->SetEf(std::max<size_t>(ef, k)); },
                         [h, k](const float* q, int64_t* labels) { h->Search(q, k, labels); }});
  }

  std::unique_ptr<faiss::IndexHNSWFlat> faiss_hnsw;
  std::unique_ptr<faiss::IndexFlatIP> faiss_quantizer;
  std::unique_ptr<faiss::IndexIVFFlat> faiss_ivf;
  auto faiss_search = [k](const faiss::Index* index) {
    return [index, k](const float* q, int64_t* labels) {
      float dist[1024];
      idx_t l[1024];
      index->search(1, q, static_cast<idx_t>(k), dist, l);
      for (size_t j = 0; j < k; ++j) labels[j] = l[j];
    };
  };
  if (k > 1024) Fail("--k is at most 1024");
  if (wants("faiss") && want_hnsw) {
    log("faiss: building " + hnsw_spec);
    faiss_hnsw = std::make_unique<faiss::IndexHNSWFlat>(static_cast<int>(dim), static_cast<int>(m),
                                                        faiss::METRIC_INNER_PRODUCT);
    faiss_hnsw->hnsw.efConstruction = static_cast<int>(efc);
    SetOmpThreads(build_threads);
    start = Clock::now();
    faiss_hnsw->add(static_cast<idx_t>(nb), base.data());
    builds.push_back({"faiss", hnsw_spec, SecondsSince(start), nb});
    faiss::IndexHNSWFlat* fh = faiss_hnsw.get();
    searchers.push_back(
        {"faiss", true,
         [fh, k](int64_t ef) { fh->hnsw.efSearch = static_cast<int>(std::max<size_t>(ef, k)); },
         faiss_search(fh)});
  }
  if (wants("faiss") && want_ivf) {
    log("faiss: building " + ivf_spec);
    faiss_quantizer = std::make_unique<faiss::IndexFlatIP>(static_cast<idx_t>(dim));
    faiss_ivf = std::make_unique<faiss::IndexIVFFlat>(faiss_quantizer.get(), dim, nlist,
                                                      faiss::METRIC_INNER_PRODUCT);
    start = Clock::now();
    faiss_ivf->train(static_cast<idx_t>(nb), base.data());
    faiss_ivf->add(static_cast<idx_t>(nb), base.data());
    builds.push_back({"faiss", ivf_spec, SecondsSince(start), nb});
    faiss::IndexIVFFlat* fi = faiss_ivf.get();
    searchers.push_back({"faiss", false, [fi](int64_t np) { fi->nprobe = static_cast<size_t>(np); },
                         faiss_search(fi)});
  }

  std::string engine_backends;
  std::unique_ptr<TempDir> engine_dir;
  std::unique_ptr<engine::Engine> engine;
  if (wants("engine")) {
    engine_dir = std::make_unique<TempDir>(dir_base);
    engine = OpenEngine(engine_dir->Sub("data"));
    struct Target {
      std::string collection, spec;
      std::map<std::string, std::string> options;
    };
    std::vector<Target> targets;
    if (want_hnsw)
      targets.push_back({"ann_hnsw", hnsw_spec, {{"ef_construction", std::to_string(efc)}}});
    if (want_ivf) targets.push_back({"ann_ivf", ivf_spec, {}});
    for (const auto& t : targets) {
      log("engine: building " + t.spec);
      engine::CollectionConfig cc;
      cc.name = t.collection;
      cc.spaces.push_back(VectorSpace("v", static_cast<uint32_t>(dim), t.spec, t.options));
      Check(engine->CreateCollection(cc), "creating " + t.collection);
      SetOmpThreads(build_threads);
      start = Clock::now();
      UpsertRange(engine.get(), t.collection, {"v"}, base.data(), dim, 0, nb, 1000);
      WaitUntilReady(engine.get(), t.collection, nb, ready_timeout);
      builds.push_back({"engine", t.spec, SecondsSince(start), nb});
      const auto ss = SpaceStatsOf(engine.get(), t.collection, "v");
      engine_backends += (engine_backends.empty() ? "" : ", ") + t.spec + " -> " + ss.backend;
      const bool is_hnsw = t.spec == hnsw_spec;
      auto param = std::make_shared<int64_t>(0);
      engine::Engine* e = engine.get();
      const std::string collection = t.collection;
      searchers.push_back({"engine", is_hnsw, [param](int64_t p) { *param = p; },
                           [=](const float* q, int64_t* labels) {
                             EngineSearch(e, collection, "v", q, dim, k,
                                          is_hnsw ? static_cast<uint32_t>(*param) : 0,
                                          is_hnsw ? 0 : static_cast<uint32_t>(*param), "", labels);
                           }});
    }
  }

  // ---- queries: one thread, one query at a time, systems interleaved ----
  SetOmpThreads(1);
  std::vector<int64_t> found(nq * k);
  std::map<std::pair<size_t, int64_t>, std::vector<QueryTiming>> timings;  // (searcher, param)
  for (int round = 0; round < rounds; ++round) {
    log("queries: round " + std::to_string(round + 1) + " of " + std::to_string(rounds));
    for (bool hnsw_phase : {true, false}) {
      for (int64_t param : hnsw_phase ? efs : nprobes) {
        for (size_t s = 0; s < searchers.size(); ++s) {
          Searcher& sr = searchers[s];
          if (sr.is_hnsw != hnsw_phase) continue;
          sr.set(param);
          // Recall from the first pass; timing over passes of at least min_seconds.
          const QueryTiming t = TimeQueries(
              nq, round == 0 ? warmup : 0,
              [&](size_t i) { sr.search(queries.data() + i * dim, found.data() + i * k); },
              min_seconds);
          timings[{s, param}].push_back(t);
          if (round == 0) {
            Point p;
            p.recall = RecallAtK(found, truth, nq, k);
            (hnsw_phase ? hnsw : ivf)[sr.system][param] = p;
          }
        }
      }
    }
  }
  for (size_t s = 0; s < searchers.size(); ++s) {
    for (int64_t param : searchers[s].is_hnsw ? efs : nprobes) {
      const auto& ts = timings[{s, param}];
      std::vector<double> qps, p50;
      for (const auto& t : ts) {
        qps.push_back(t.qps);
        p50.push_back(t.p50_us);
      }
      Point& p = (searchers[s].is_hnsw ? hnsw : ivf)[searchers[s].system][param];
      p.timing.qps = Median(qps);
      p.timing.p50_us = Median(p50);
    }
  }
  SetOmpThreads(build_threads);

  // ---- report ----
  auto build_of = [&](const std::string& system, const std::string& index) -> const Build* {
    for (const auto& b : builds) {
      if (b.system == system && b.index == index) return &b;
    }
    return nullptr;
  };
  report.Table("ANN build (" + Count(nb) + " x " + std::to_string(dim) + ", " +
                   std::to_string(build_threads) + " build threads)",
               {"system", "index", "build s", "vectors/s", "baseline", "baseline s", "ratio"});
  for (const auto& b : builds) {
    const bool hnsw_index = b.index == hnsw_spec;
    const std::string base_sys = hnsw_index ? "hnswlib" : "faiss";
    const Build* ref = build_of(base_sys, b.index);
    const double ratio = ref && b.seconds > 0 ? ref->seconds / b.seconds : NAN;
    report.Row({b.system, b.index, Fixed(b.seconds, 1), Count(b.vectors / b.seconds),
                ref ? base_sys : "-", ref ? Fixed(ref->seconds, 1) : "-", Ratio(ratio)},
               {{"result", "build"},
                {"system", b.system},
                {"index", b.index},
                {"seconds", b.seconds},
                {"vectors_per_s", b.vectors / b.seconds},
                {"baseline", base_sys},
                {"baseline_seconds", ref ? json(ref->seconds) : json(nullptr)},
                {"ratio", std::isfinite(ratio) ? json(ratio) : json(nullptr)}});
  }
  report.Note("ratio = baseline build time / this build time (> 1: faster than the baseline).");
  if (!engine_backends.empty()) report.Note("engine backends: " + engine_backends);

  if (want_hnsw) {
    report.Table(hnsw_spec + " efConstruction " + std::to_string(efc) + ": recall@" +
                     std::to_string(k) + " and queries/s, one thread, one query at a time",
                 {"ef", "engine R", "engine q/s", "engine p50 us", "hnswlib R", "hnswlib q/s",
                  "FAISS R", "FAISS q/s", "engine/hnswlib", "engine/FAISS"});
    for (int64_t ef : efs) {
      const Point e = Get(hnsw, "engine", ef), h = Get(hnsw, "hnswlib", ef),
                  f = Get(hnsw, "faiss", ef);
      const double r_h = RatioOf(e, h), r_f = RatioOf(e, f);
      report.Row(
          {std::to_string(ef), Rec(e), Qps(e), e.recall < 0 ? "-" : Fixed(e.timing.p50_us, 0),
           Rec(h), Qps(h), Rec(f), Qps(f), Ratio(r_h), Ratio(r_f)},
          {{"result", "query"},
           {"index", hnsw_spec},
           {"ef", ef},
           {"engine", PointJson(e)},
           {"hnswlib", PointJson(h)},
           {"faiss", PointJson(f)},
           {"baseline", "hnswlib"},
           {"ratio", std::isfinite(r_h) ? json(r_h) : json(nullptr)}});
    }
    report.Note("q/s: median of " + std::to_string(rounds) + " rounds (each at least " +
                Fixed(min_seconds, 1) +
                " s of passes over all queries), the systems interleaved within each round; "
                "p50 = median per-query latency.");
    // The headline: smallest ef whose engine recall >= 0.95.
    auto first_at = [&](const Sweep& s, double target) -> int64_t {
      for (int64_t ef : efs) {
        auto it = s.find(ef);
        if (it != s.end() && it->second.recall >= target) return ef;
      }
      return -1;
    };
    if (hnsw.count("engine")) {
      const int64_t ef95 = first_at(hnsw["engine"], 0.95);
      if (ef95 < 0) {
        report.Note("engine recall@" + std::to_string(k) + " stays below 0.95 for every ef given.");
        report.Json({{"result", "headline"}, {"ef", nullptr}});
      } else {
        const Point e = Get(hnsw, "engine", ef95), h = Get(hnsw, "hnswlib", ef95);
        const double r = RatioOf(e, h);
        report.Note("headline: smallest ef with engine recall >= 0.95 is " + std::to_string(ef95) +
                    ": engine " + Count(e.timing.qps) + " q/s (recall " + Fixed(e.recall, 3) +
                    ") vs hnswlib " + Qps(h) + " q/s (recall " + Rec(h) + ") = " + Ratio(r) + ".");
        const int64_t h95 = hnsw.count("hnswlib") ? first_at(hnsw["hnswlib"], 0.95) : -1;
        double r_same = NAN;
        if (h95 > 0) {
          r_same = RatioOf(e, Get(hnsw, "hnswlib", h95));
          report.Note("at recall >= 0.95 each: engine ef " + std::to_string(ef95) +
                      " vs hnswlib ef " + std::to_string(h95) + " (" +
                      Qps(Get(hnsw, "hnswlib", h95)) + " q/s) = " + Ratio(r_same) + ".");
        }
        report.Json(
            {{"result", "headline"},
             {"ef", ef95},
             {"engine_qps", e.timing.qps},
             {"engine_recall", e.recall},
             {"hnswlib_qps", h.recall < 0 ? json(nullptr) : json(h.timing.qps)},
             {"hnswlib_recall", h.recall < 0 ? json(nullptr) : json(h.recall)},
             {"ratio", std::isfinite(r) ? json(r) : json(nullptr)},
             {"ratio_at_equal_recall", std::isfinite(r_same) ? json(r_same) : json(nullptr)}});
      }
    }
  }
  if (want_ivf) {
    report.Table(ivf_spec + ": recall@" + std::to_string(k) + " and queries/s, one thread",
                 {"nprobe", "engine R", "engine q/s", "engine p50 us", "FAISS R", "FAISS q/s",
                  "engine/FAISS"});
    for (int64_t np : nprobes) {
      const Point e = Get(ivf, "engine", np), f = Get(ivf, "faiss", np);
      const double r = RatioOf(e, f);
      report.Row({std::to_string(np), Rec(e), Qps(e),
                  e.recall < 0 ? "-" : Fixed(e.timing.p50_us, 0), Rec(f), Qps(f), Ratio(r)},
                 {{"result", "query"},
                  {"index", ivf_spec},
                  {"nprobe", np},
                  {"engine", PointJson(e)},
                  {"faiss", PointJson(f)},
                  {"baseline", "faiss"},
                  {"ratio", std::isfinite(r) ? json(r) : json(nullptr)}});
    }
    report.Note(
        "FAISS IVF is trained on all base vectors at once; the engine trains on what it holds "
        "when the space reaches its training threshold, then retrains in the background on "
        "everything it holds each time the space has doubled (up to FAISS's training sample).");
  }
  report.End();
  return 0;
}

}  // namespace bench
}  // namespace reco
