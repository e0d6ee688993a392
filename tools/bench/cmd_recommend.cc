// reco_bench recommend: Engine::Recommend latency for users with a short (10 events) and a long
// (1,000 events) history on a large collection of items with vectors. The baseline, in the same
// run on the same space, is Engine::Search of one vector with the same k: the cost of the
// nearest-neighbour step alone, so the ratio is what a recommendation adds (reading the
// history, the profile's item vectors, the exclusion of seen items, the candidate ranking).
// The systems run one query at a time, interleaved round by round.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <unordered_set>

#include "tools/bench/bench.h"

namespace reco {
namespace bench {
namespace {

// A user of the benchmark: name, the item numbers of their events (oldest first) and the
// clusters they mostly interact with.
struct User {
  std::string name;
  std::vector<uint32_t> items;
  std::vector<uint32_t> clusters;
};

// Users with `events` events each: 80% of them on items of three favourite clusters, the rest
// on any item; view 85%, purchase 15%; spread over the last 60 days. Item i is in cluster
// i % clusters.
std::vector<User> MakeUsers(const std::string& prefix, size_t count, size_t events, size_t items,
                            size_t clusters, std::mt19937_64* rng) {
  std::uniform_int_distribution<size_t> any_item(0, items - 1), any_cluster(0, clusters - 1);
  std::uniform_real_distribution<double> uniform(0, 1);
  std::vector<User> users(count);
  for (size_t u = 0; u < count; ++u) {
    User& user = users[u];
    user.name = prefix + std::to_string(u);
    for (int c = 0; c < 3; ++c) user.clusters.push_back(static_cast<uint32_t>(any_cluster(*rng)));
    for (size_t e = 0; e < events; ++e) {
      size_t item = any_item(*rng);
      if (uniform(*rng) < 0.8) {
        const size_t c = user.clusters[e % 3];
        const size_t per = (items - c + clusters - 1) / clusters;  // items of cluster c
        item = c + clusters * std::uniform_int_distribution<size_t>(0, per - 1)(*rng);
      }
      user.items.push_back(static_cast<uint32_t>(item));
    }
  }
  return users;
}

// Latencies of one system over all rounds.
struct Timing {
  std::vector<double> latencies;  // seconds, every timed query
  double total_s = 0;
};

}  // namespace

int RunRecommend(Args& args, Report& report) {
  const size_t items = args.Int("items", 1000000);
  const size_t dim = args.Int("dim", 64);
  const std::string spec = args.Str("spec", "Flat");
  const size_t nq = args.Int("queries", 200);
  const size_t clusters = args.Int("clusters", 1000);
  const size_t light_events = args.Int("light-events", 10);
  const size_t heavy_events = args.Int("heavy-events", 1000);
  const size_t k = args.Int("k", 10);
  const int rounds = static_cast<int>(args.Int("rounds", 3));
  const double min_seconds = args.Double("min-seconds", 0.5);
  const uint64_t seed = args.Int("seed", 29);
  const std::string dir_base = args.Str("dir", "");
  args.Finish();
  if (items == 0 || dim == 0 || nq == 0 || clusters == 0 || clusters > items || k == 0 ||
      rounds < 1 || light_events == 0 || heavy_events == 0) {
    Fail(
        "--items, --dim, --queries, --clusters (<= items), --k, --rounds and the event counts "
        "must be positive");
  }
  auto log = [](const std::string& s) {
    std::fprintf(stderr, "[recommend] %s\n", s.c_str());
    std::fflush(stderr);
  };

  // Clustered unit vectors: item i = centre(i % clusters) + noise of norm ~0.5, normalised.
  log("generating " + Count(items) + " x " + std::to_string(dim) + " clustered vectors");
  std::vector<float> data(items * dim);
  {
    const std::vector<float> centres = RandomVectors(seed, clusters, dim, true);
    RandomVectors(seed + 1, 0, items, dim, false, data.data());
    const float scale = static_cast<float>(0.5 / std::sqrt(double(dim)));
    for (size_t i = 0; i < items; ++i) {
      const float* c = centres.data() + (i % clusters) * dim;
      float* v = data.data() + i * dim;
      for (size_t j = 0; j < dim; ++j) v[j] = c[j] + scale * v[j];
    }
    NormalizeRows(data.data(), items, dim);
  }

  TempDir dir(dir_base);
  auto engine = OpenEngine(dir.Sub("data"));
  engine::CollectionConfig cc;
  cc.name = "rec";
  cc.spaces.push_back(VectorSpace("v", static_cast<uint32_t>(dim), spec));
  Check(engine->CreateCollection(cc), "creating the collection");
  SetOmpThreads(2);
  log("upserting " + Count(items) + " items into a " + spec + " space");
  const auto ingest_start = Clock::now();
  UpsertRange(engine.get(), "rec", {"v"}, data.data(), dim, 0, items, 1000);
  WaitUntilReady(engine.get(), "rec", items, 7200);
  const double ingest_s = SecondsSince(ingest_start);
  const engine::SpaceStats space = SpaceStatsOf(engine.get(), "rec", "v");

  // Users and their events.
  std::mt19937_64 rng(seed + 2);
  const std::vector<User> light = MakeUsers("light-", nq, light_events, items, clusters, &rng);
  const std::vector<User> heavy = MakeUsers("heavy-", nq, heavy_events, items, clusters, &rng);
  log("adding " + Count(nq * (light_events + heavy_events)) + " events");
  {
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const int64_t span = 60LL * 86400000;
    std::uniform_real_distribution<double> uniform(0, 1);
    std::vector<engine::EventInput> batch;
    auto flush = [&] {
      if (batch.empty()) return;
      engine::EventsResult result;
      Check(engine->AddEvents("rec", batch, &result), "adding events");
      batch.clear();
    };
    for (const auto* group : {&light, &heavy}) {
      for (const User& user : *group) {
        const size_t m = user.items.size();
        for (size_t e = 0; e < m; ++e) {
          engine::EventInput in;
          in.user = user.name;
          in.item = std::to_string(user.items[e]);
          in.type = uniform(rng) < 0.85 ? "view" : "purchase";
          in.time_ms = now - span + static_cast<int64_t>(double(span) * e / m) - 60000;
          batch.push_back(std::move(in));
          if (batch.size() == 10000) flush();
        }
      }
    }
    flush();
  }
  std::vector<std::unordered_set<uint32_t>> seen_light(nq), seen_heavy(nq);
  double distinct_heavy = 0, distinct_light = 0;
  for (size_t u = 0; u < nq; ++u) {
    seen_light[u].insert(light[u].items.begin(), light[u].items.end());
    seen_heavy[u].insert(heavy[u].items.begin(), heavy[u].items.end());
    distinct_light += seen_light[u].size();
    distinct_heavy += seen_heavy[u].size();
  }
  distinct_light /= nq;
  distinct_heavy /= nq;
  // What Engine::Recommend asked the index for before the seen items became an index filter:
  // 3 x (k + seen items) + 10 (kept as a reference row: the cost the filter saves).
  const size_t fetch_heavy =
      std::min<size_t>(engine->options().max_k, static_cast<size_t>((k + distinct_heavy) * 3 + 10));

  // Queries. The baseline's vector: the item of each light user's latest event.
  auto recommend = [&](const User& user, std::vector<engine::Recommendation>* out,
                       bool log_impression = true) {
    engine::RecommendQuery q;
    q.collection = "rec";
    q.user = user.name;
    q.k = static_cast<uint32_t>(k);
    q.log = log_impression;
    Check(engine->Recommend(q, out), "recommending for " + user.name);
  };
  auto search = [&](size_t u, size_t kk) {
    engine::Query q;
    q.collection = "rec";
    q.space = "v";
    q.k = static_cast<uint32_t>(kk);
    const float* v = data.data() + size_t{light[u].items.back()} * dim;
    q.vector = std::vector<float>(v, v + dim);
    std::vector<engine::Hit> hits;
    Check(engine->Search(q, &hits), "searching");
    if (hits.size() != kk) Fail("Engine::Search returned " + std::to_string(hits.size()) + " hits");
  };

  // Checks (not timed): full lists, no seen item, how many come from the user's clusters.
  struct Quality {
    size_t full = 0, seen = 0, in_clusters = 0, returned = 0;
  };
  auto check = [&](const std::vector<User>& users,
                   const std::vector<std::unordered_set<uint32_t>>& seen) {
    Quality q;
    std::vector<engine::Recommendation> out;
    for (size_t u = 0; u < users.size(); ++u) {
      recommend(users[u], &out);
      q.full += out.size() == k;
      for (const auto& r : out) {
        const uint32_t item = static_cast<uint32_t>(std::strtoul(r.id.c_str(), nullptr, 10));
        q.seen += seen[u].count(item);
        const uint32_t c = static_cast<uint32_t>(item % clusters);
        q.in_clusters += std::count(users[u].clusters.begin(), users[u].clusters.end(), c) > 0;
        ++q.returned;
      }
    }
    return q;
  };
  SetOmpThreads(1);
  log("checking the recommendations");
  const Quality q_light = check(light, seen_light);
  const Quality q_heavy = check(heavy, seen_heavy);

  enum { kSearch, kLight, kHeavy, kLightNoLog, kHeavyNoLog, kSearchFetch, kSystems };
  std::vector<Timing> timing(kSystems);
  std::vector<engine::Recommendation> out;
  auto run = [&](int system, size_t i) {
    switch (system) {
      case kSearch:
        search(i, k);
        break;
      case kLight:
        recommend(light[i], &out);
        break;
      case kHeavy:
        recommend(heavy[i], &out);
        break;
      case kLightNoLog:
        recommend(light[i], &out, false);
        break;
      case kHeavyNoLog:
        recommend(heavy[i], &out, false);
        break;
      default:
        search(i, fetch_heavy);
    }
  };
  for (int round = 0; round < rounds; ++round) {
    log("round " + std::to_string(round + 1) + " of " + std::to_string(rounds));
    for (int system = 0; system < kSystems; ++system) {
      for (size_t i = 0; i < std::min<size_t>(nq, 5); ++i) run(system, i);  // warm-up
      Timing& t = timing[system];
      const auto start = Clock::now();
      do {
        for (size_t i = 0; i < nq; ++i) {
          const auto q = Clock::now();
          run(system, i);
          t.latencies.push_back(SecondsSince(q));
        }
      } while (SecondsSince(start) < min_seconds);
      t.total_s += SecondsSince(start);
    }
  }

  struct Figures {
    double p50_ms, p99_ms, mean_ms;
    size_t queries;
  };
  auto figures = [&](int system) {
    const Timing& t = timing[system];
    return Figures{Percentile(t.latencies, 0.5) * 1e3, Percentile(t.latencies, 0.99) * 1e3,
                   t.total_s / t.latencies.size() * 1e3, t.latencies.size()};
  };
  const Figures base = figures(kSearch);
  report.Table("Recommend latency, " + Count(items) + " x " + std::to_string(dim) + " items (" +
                   spec + "), k = " + std::to_string(k) + ", one query at a time",
               {"what", "history", "queries", "p50 ms", "p99 ms", "mean ms", "baseline p50 ms",
                "ratio p50", "ratio p99", "ratio mean"});
  auto row = [&](int system, const std::string& kind, const std::string& what,
                 const std::string& history, size_t history_events, double distinct) {
    const Figures f = figures(system);
    report.Row({what, history, Count(f.queries), Fixed(f.p50_ms, 2), Fixed(f.p99_ms, 2),
                Fixed(f.mean_ms, 2), Fixed(base.p50_ms, 2), Ratio(base.p50_ms / f.p50_ms),
                Ratio(base.p99_ms / f.p99_ms), Ratio(base.mean_ms / f.mean_ms)},
               {{"result", kind},
                {"what", what},
                {"history_events", history_events},
                {"distinct_items", distinct},
                {"queries", f.queries},
                {"p50_ms", f.p50_ms},
                {"p99_ms", f.p99_ms},
                {"mean_ms", f.mean_ms},
                {"baseline", "engine_search_k" + std::to_string(k)},
                {"baseline_p50_ms", base.p50_ms},
                {"baseline_p99_ms", base.p99_ms},
                {"baseline_mean_ms", base.mean_ms},
                {"ratio", base.p50_ms / f.p50_ms},
                {"ratio_p99", base.p99_ms / f.p99_ms},
                {"ratio_mean", base.mean_ms / f.mean_ms}});
  };
  row(kSearch, "baseline", "Engine::Search, one vector, k = " + std::to_string(k) + " (baseline)",
      "-", 0, 0);
  row(kLight, "recommend", "Engine::Recommend", std::to_string(light_events) + " events",
      light_events, distinct_light);
  row(kHeavy, "recommend", "Engine::Recommend", Count(heavy_events) + " events", heavy_events,
      distinct_heavy);
  row(kLightNoLog, "recommend_nolog", "Engine::Recommend, log = false",
      std::to_string(light_events) + " events", light_events, distinct_light);
  row(kHeavyNoLog, "recommend_nolog", "Engine::Recommend, log = false",
      Count(heavy_events) + " events", heavy_events, distinct_heavy);
  row(kSearchFetch, "reference",
      "Engine::Search, one vector, k = " + std::to_string(fetch_heavy) + " (reference)", "-", 0, 0);
  report.Note(
      "ratio = baseline latency / this latency (1.00x = as fast as one Engine::Search with k = " +
      std::to_string(k) + "; 0.50x = twice its time).");
  report.Note("collection: " + Count(items) + " items in " + Count(clusters) +
              " clusters (unit vectors, noise of norm ~0.5 around each centre), " + spec +
              " space (backend " + space.backend + "), ingested in " + Fixed(ingest_s, 1) + " s (" +
              Count(items / ingest_s) + " items/s, Engine::Upsert batches of 1,000).");
  report.Note("users: " + Count(nq) + " with " + std::to_string(light_events) + " events (" +
              Fixed(distinct_light, 1) + " distinct items on average) and " + Count(nq) + " with " +
              Count(heavy_events) + " events (" + Fixed(distinct_heavy, 0) +
              " distinct items); 80% of the events on items of 3 favourite clusters, views 85%, "
              "purchases 15%, over 60 days. Recommend: k = " +
              std::to_string(k) +
              ", defaults otherwise (profile from the 50 latest events, seen items excluded, the "
              "answer logged as an impression); log = false rows skip the impression write.");
  report.Note("reference: Engine::Search with k = " + std::to_string(fetch_heavy) +
              ", the candidates Engine::Recommend over-fetched for " + Fixed(distinct_heavy, 0) +
              " seen items (3 x (k + seen) + 10) before it passed the seen items to the index "
              "as an exclusion filter; it now asks for 3 x k + 10 of the allowed items.");
  auto pct = [](size_t a, size_t b) { return Fixed(b ? 100.0 * a / b : 0, 1) + "%"; };
  report.Note("check: " + std::to_string(light_events) + "-event users " + pct(q_light.full, nq) +
              " full lists, " + std::to_string(q_light.seen) + " seen items returned, " +
              pct(q_light.in_clusters, q_light.returned) +
              " of the results in the user's clusters; " + Count(heavy_events) + "-event users " +
              pct(q_heavy.full, nq) + " full lists, " + std::to_string(q_heavy.seen) +
              " seen items returned, " + pct(q_heavy.in_clusters, q_heavy.returned) +
              " in the user's clusters.");
  report.Note(std::to_string(rounds) +
              " rounds run every system back to back (each pass over the users at least " +
              Fixed(min_seconds, 1) +
              " s, after a warm-up of 5 queries); p50/p99 over all timed queries.");
  report.Json({{"result", "check"},
               {"light_full", q_light.full},
               {"light_seen", q_light.seen},
               {"light_in_clusters", q_light.in_clusters},
               {"heavy_full", q_heavy.full},
               {"heavy_seen", q_heavy.seen},
               {"heavy_in_clusters", q_heavy.in_clusters},
               {"users", nq}});
  report.End();
  return 0;
}

}  // namespace bench
}  // namespace reco
