// reco_bench filtered: attribute-filtered queries. Items carry a number `bucket` uniform in
// 0..99 and a string `color`; filters of 1%, 10% and 50% selectivity run on Flat, HNSW and IVF
// spaces. Recall@10 is against brute force over the matching items; the baseline is that
// brute force itself (FAISS IndexFlatIP holding only the matching vectors, an oracle that
// knows the set in advance), one query at a time on one thread.
#include <faiss/IndexFlat.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "tools/bench/bench.h"

namespace reco {
namespace bench {

int RunFiltered(Args& args, Report& report) {
  const size_t n = args.Int("n", 200000);
  const size_t dim = args.Int("dim", 64);
  const size_t nq = args.Int("queries", 200);
  const size_t nlist = args.Int("nlist", 256);
  const size_t m = args.Int("m", 16);
  const uint64_t seed = args.Int("seed", 17);
  const double min_seconds = args.Double("min-seconds", 0.3);
  const uint32_t ef = static_cast<uint32_t>(args.Int("ef", 0));          // 0: the default
  const uint32_t nprobe = static_cast<uint32_t>(args.Int("nprobe", 0));  // 0: the default
  const std::string dir_base = args.Str("dir", "");
  args.Finish();
  const size_t k = 10;
  auto log = [](const std::string& s) {
    std::fprintf(stderr, "[filtered] %s\n", s.c_str());
    std::fflush(stderr);
  };

  const std::vector<float> data = RandomVectors(seed, n, dim, true);
  const std::vector<float> queries = RandomVectors(seed + 1, nq, dim, true);
  std::vector<int> bucket(n), color(n);
  {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> b(0, 99), c(0, 7);
    for (size_t i = 0; i < n; ++i) {
      bucket[i] = b(rng);
      color[i] = c(rng);
    }
  }

  struct Space {
    std::string name, spec;
  };
  const std::vector<Space> spaces = {
      {"flat", "Flat"},
      {"hnsw", "HNSW" + std::to_string(m)},
      {"ivf", "IVF" + std::to_string(nlist) + ",Flat"},
  };
  log("upserting " + Count(n) + " items into Flat, HNSW and IVF spaces");
  TempDir dir(dir_base);
  auto engine = OpenEngine(dir.Sub("data"));
  engine::CollectionConfig cc;
  cc.name = "filtered";
  std::vector<std::string> names;
  for (const auto& s : spaces) {
    cc.spaces.push_back(VectorSpace(s.name, static_cast<uint32_t>(dim), s.spec));
    names.push_back(s.name);
  }
  Check(engine->CreateCollection(cc), "creating the collection");
  SetOmpThreads(2);
  UpsertRange(engine.get(), "filtered", names, data.data(), dim, 0, n, 1000, [&](size_t i) {
    Attributes a;
    a["bucket"] = static_cast<double>(bucket[i]);
    a["color"] = "c" + std::to_string(color[i]);
    return a;
  });
  WaitUntilReady(engine.get(), "filtered", n, 3600);

  struct Filter {
    std::string expr;
    std::function<bool(size_t)> match;
  };
  const std::vector<Filter> filters = {
      {"", [](size_t) { return true; }},
      {"bucket < 50", [&](size_t i) { return bucket[i] < 50; }},
      {"bucket < 10", [&](size_t i) { return bucket[i] < 10; }},
      {"bucket < 1", [&](size_t i) { return bucket[i] < 1; }},
      {"color = \"c3\" and bucket < 10", [&](size_t i) { return color[i] == 3 && bucket[i] < 10; }},
  };

  report.Table("Filtered search, " + Count(n) + " x " + std::to_string(dim) +
                   ", k = 10, one thread, one query at a time",
               {"filter", "matches", "space", "q/s", "p50 us", "recall", "oracle scan q/s", "ratio",
                "x unfiltered"});
  std::map<std::string, double> unfiltered_qps;
  std::vector<int64_t> found(nq * k);
  for (const auto& f : filters) {
    std::vector<int64_t> ids;
    std::vector<float> subset;
    for (size_t i = 0; i < n; ++i) {
      if (!f.match(i)) continue;
      ids.push_back(static_cast<int64_t>(i));
      subset.insert(subset.end(), data.begin() + i * dim, data.begin() + (i + 1) * dim);
    }
    const std::string shown = f.expr.empty() ? "(none)" : f.expr;
    log("filter " + shown + ": " + Count(ids.size()) + " matches");
    // Truth and oracle over the matching vectors only.
    SetOmpThreads(2);
    std::vector<int64_t> truth = ExactTopK(subset.data(), ids.size(), queries.data(), nq, dim, k);
    for (auto& t : truth) t = t < 0 ? -1 : ids[t];
    SetOmpThreads(1);
    faiss::IndexFlatIP oracle(static_cast<faiss::Index::idx_t>(dim));
    oracle.add(static_cast<faiss::Index::idx_t>(ids.size()), subset.data());
    std::vector<float> dist(k);
    std::vector<faiss::Index::idx_t> labels(k);
    const QueryTiming base = TimeQueries(
        nq, 10,
        [&](size_t i) {
          oracle.search(1, queries.data() + i * dim, static_cast<faiss::Index::idx_t>(k),
                        dist.data(), labels.data());
        },
        min_seconds);
    for (const auto& s : spaces) {
      // The first pass fills `found` (recall); later passes only time.
      const QueryTiming t = TimeQueries(
          nq, 10,
          [&](size_t i) {
            EngineSearch(engine.get(), "filtered", s.name, queries.data() + i * dim, dim, k,
                         s.name == "hnsw" ? ef : 0, s.name == "ivf" ? nprobe : 0, f.expr,
                         found.data() + i * k);
          },
          min_seconds);
      const double recall = RecallAtK(found, truth, nq, k);
      if (f.expr.empty()) unfiltered_qps[s.name] = t.qps;
      const double vs_unfiltered = t.qps / unfiltered_qps[s.name];
      report.Row({shown, Count(ids.size()) + " (" + Fixed(100.0 * ids.size() / n, 1) + "%)", s.spec,
                  Count(t.qps), Fixed(t.p50_us, 0), Fixed(recall, 3), Count(base.qps),
                  Ratio(t.qps / base.qps), Ratio(vs_unfiltered)},
                 {{"result", "query"},
                  {"filter", f.expr},
                  {"matches", ids.size()},
                  {"selectivity", double(ids.size()) / n},
                  {"space", s.spec},
                  {"qps", t.qps},
                  {"p50_us", t.p50_us},
                  {"recall", recall},
                  {"baseline", "oracle_flat_scan_of_matches"},
                  {"baseline_qps", base.qps},
                  {"ratio", t.qps / base.qps},
                  {"ratio_to_unfiltered", vs_unfiltered}});
    }
  }
  report.Note(
      "oracle scan: FAISS IndexFlatIP over only the matching vectors (it knows the set "
      "for free; the engine evaluates the filter). HNSW ef " +
      (ef ? std::to_string(ef) : std::string("= the space's default")) + ", IVF nprobe " +
      (nprobe ? std::to_string(nprobe) : std::string("= the space's default")) +
      ". x unfiltered = q/s relative to the same space without a filter.");
  report.End();
  return 0;
}

}  // namespace bench
}  // namespace reco
