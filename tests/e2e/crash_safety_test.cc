// Randomized crash safety, end to end: writer threads stream upserts and deletes into the real
// recod (real RocksDB, real text plugin) while the main thread SIGKILLs it at a random moment;
// recod restarts on the same data directory and must agree with a model of everything that was
// acknowledged: items, vectors, stats and search results. Rounds build on each other. Halfway
// one extra round stops recod with SIGTERM under load instead (it writes its index files on the
// way out, so later SIGKILL rounds restart from index files plus replayed changes), and a
// graceful stop and restart at the end must agree too.
//
// The seed is printed; RECO_CRASH_SEED=N reproduces a run (the operations each writer sends,
// the writer count and the kill delay follow from it; how far the writers get before the kill
// depends on timing), RECO_CRASH_ROUNDS=N changes the number of kill/restart rounds (default 4).
//
// Each writer owns the ids i with i % writers == w, so every id's operations are ordered by one
// writer and "the latest acknowledged state" is exact; the only unknowns after a kill are the
// writers' in-flight operations, which may or may not have been applied (but atomically).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/client/client.h"
#include "testutil/recod_process.h"
#include "testutil/temp_dir.h"

namespace reco {
namespace {

using api::Client;
namespace v1 = api::v1;

constexpr char kColl[] = "crash";
constexpr char kTextSpace[] = "body";
constexpr uint32_t kDim = 16;
constexpr int kPool = 600;  // ids item-000 .. item-599: most upserts are updates
constexpr uint32_t kK = 10;
constexpr int kQueries = 10;  // random query vectors per space and check
constexpr int kSimilarIds = 3;

struct VecSpace {
  const char* name;
  const char* index;
  const char* metric;
};
// IVF8 trains at max(39 * 8, 1000) vectors; with at most kPool items it stays on its exact
// staging index, so its answers are exact.
constexpr VecSpace kVecSpaces[] = {
    {"flat", "Flat", "l2"}, {"hnsw", "HNSW16", "cosine"}, {"ivf", "IVF8,Flat", "ip"}};

const char* const kWords[] = {"red",    "running", "shoe",   "trail",  "kettle", "steel",
                              "coffee", "tent",    "lamp",   "wooden", "chair",  "garden",
                              "novel",  "puzzle",  "cotton", "wool",   "bottle", "phone"};

uint64_t Mix(uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

std::string IdOf(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "item-%03d", i);
  return buf;
}

const char* Word(std::mt19937_64& rng) { return kWords[rng() % std::size(kWords)]; }

std::vector<float> RandomVector(std::mt19937_64& rng) {
  std::vector<float> v(kDim);
  for (auto& x : v) x = static_cast<float>(static_cast<double>(rng() >> 11) * 0x1.0p-52 - 1.0);
  return v;
}

v1::Item RandomItem(std::mt19937_64& rng, int i) {
  v1::Item item;
  item.set_id(IdOf(i));
  std::string text;
  for (int n = 2 + rng() % 4; n > 0; --n) text += std::string(Word(rng)) + " ";
  item.set_text(text + IdOf(i) + " v" + std::to_string(rng() % 1000000));
  auto& attrs = *item.mutable_attributes();
  if (rng() % 4) {
    attrs["price"].set_number_value(static_cast<double>(rng() >> 11) * 0x1.0p-53 * 2e6 - 1e6);
  }
  if (rng() % 4) attrs["kind"].set_string_value(Word(rng));
  if (rng() % 2) attrs["flag"].set_bool_value(rng() % 2);
  if (rng() % 2) {
    auto* list = attrs["tags"].mutable_list_value();
    for (int n = rng() % 4; n > 0; --n) list->add_values(Word(rng));
  }
  for (const auto& s : kVecSpaces) {
    auto* values = (*item.mutable_vectors())[s.name].mutable_values();
    for (float x : RandomVector(rng)) values->Add(x);
  }
  return item;
}

// ---- the model of what was acknowledged ----

using State = std::optional<v1::Item>;  // nullopt: absent (never written, or deleted)

struct Op {
  bool is_delete = false;
  std::vector<int> ids;      // distinct
  std::vector<State> after;  // each id's state once the operation is applied
};

struct Model {
  std::mutex mu;  // held by writers while they update it
  std::vector<State> items = std::vector<State>(kPool);
  std::vector<std::optional<Op>> in_flight;  // per writer of the current round
};

// The writer's next operations: an upsert batch of 1-20 distinct ids, or (less often) a burst
// of 1-12 single-id deletes, so that a fair share of the pool is deleted at any time.
std::vector<Op> RandomOps(std::mt19937_64& rng, const std::vector<int>& shard) {
  std::vector<Op> ops;
  if (rng() % 100 < 35) {
    for (int n = 1 + rng() % 12; n > 0; --n) {
      Op op;
      op.is_delete = true;
      op.ids = {shard[rng() % shard.size()]};
      op.after = {std::nullopt};
      ops.push_back(std::move(op));
    }
    return ops;
  }
  Op op;
  const size_t n = 1 + rng() % 20;
  std::set<int> chosen;
  while (op.ids.size() < n) {
    const int i = shard[rng() % shard.size()];
    if (!chosen.insert(i).second) continue;
    op.ids.push_back(i);
    op.after.push_back(RandomItem(rng, i));
  }
  ops.push_back(std::move(op));
  return ops;
}

struct WriterResult {
  int acked = 0;
  std::string error;  // an answer other than success or a dead server
};

// Sends random operations until the server goes away. The operation being sent is recorded in
// model->in_flight[w] first and cleared, together with the model update, once acknowledged.
void RunWriter(std::string address, uint64_t seed, int w, int writers, Model* model,
               std::atomic<int>* ready, WriterResult* result) {
  std::mt19937_64 rng(seed);
  std::vector<int> shard;
  for (int i = w; i < kPool; i += writers) shard.push_back(i);
  api::ClientOptions options;
  options.call_timeout = std::chrono::seconds(30);
  Client client(options);
  Status st = client.Connect(address);
  ready->fetch_add(1);
  if (!st.ok()) {
    result->error = "connect: " + st.ToString();
    return;
  }
  std::vector<Op> next;
  for (;;) {
    if (next.empty()) {
      next = RandomOps(rng, shard);
      std::reverse(next.begin(), next.end());
    }
    const Op op = std::move(next.back());
    next.pop_back();
    {
      std::lock_guard<std::mutex> lock(model->mu);
      model->in_flight[w] = op;
    }
    do {
      if (op.is_delete) {
        st = client.Delete(kColl, IdOf(op.ids[0]));
      } else {
        v1::UpsertRequest req;
        req.set_collection(kColl);
        for (const auto& item : op.after) *req.add_items() = *item;
        st = client.Upsert(std::move(req));
      }
      if (st.code() == Status::Code::kUnavailable) {  // refused before running: send again
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    } while (st.code() == Status::Code::kUnavailable);
    std::lock_guard<std::mutex> lock(model->mu);
    if (st.code() == Status::Code::kIOError) return;  // the server died: op stays in flight
    if (op.is_delete && st.IsNotFound() && model->items[op.ids[0]]) {
      result->error = "delete of live " + IdOf(op.ids[0]) + " answered " + st.ToString();
      return;
    }
    if (!st.ok() && !(op.is_delete && st.IsNotFound())) {
      result->error = std::string(op.is_delete ? "delete " : "upsert ") + "of " + IdOf(op.ids[0]) +
                      (op.ids.size() > 1 ? "..." : "") + ": " + st.ToString();
      return;
    }
    for (size_t j = 0; j < op.ids.size(); ++j) model->items[op.ids[j]] = op.after[j];
    model->in_flight[w].reset();
    ++result->acked;
  }
}

// ---- comparing the server with the model ----

// What differs between a stored item and the expected one; empty when they agree.
std::string Diff(const v1::StoredItem& got, const v1::Item& want, uint32_t text_dim) {
  const v1::Item& g = got.item();
  if (g.id() != want.id()) return "id is '" + g.id() + "'";
  if (g.text() != want.text()) return "text '" + g.text() + "', expected '" + want.text() + "'";
  if (g.attributes_size() != want.attributes_size()) {
    return std::to_string(g.attributes_size()) + " attributes, expected " +
           std::to_string(want.attributes_size());
  }
  for (const auto& [key, value] : want.attributes()) {
    auto it = g.attributes().find(key);
    if (it == g.attributes().end()) return "attribute '" + key + "' is missing";
    if (it->second.SerializeAsString() != value.SerializeAsString()) {
      return "attribute '" + key + "' is {" + it->second.ShortDebugString() + "}, expected {" +
             value.ShortDebugString() + "}";
    }
  }
  if (got.vectors_size() != static_cast<int>(std::size(kVecSpaces)) + 1) {
    return std::to_string(got.vectors_size()) + " space vectors, expected " +
           std::to_string(std::size(kVecSpaces) + 1);
  }
  for (const auto& sv : got.vectors()) {
    const std::string where = "space '" + sv.space() + "': ";
    if (sv.space() == kTextSpace) {
      if (sv.values_size() != static_cast<int>(text_dim)) {
        return where + std::to_string(sv.values_size()) + " values";
      }
      double norm = 0;
      for (float x : sv.values()) norm += double{x} * x;
      if (std::abs(std::sqrt(norm) - 1) > 1e-3) return where + "norm " + std::to_string(norm);
      continue;
    }
    auto it = want.vectors().find(sv.space());
    if (it == want.vectors().end()) return where + "unexpected vector";
    if (sv.values_size() != it->second.values_size()) {
      return where + std::to_string(sv.values_size()) + " values";
    }
    for (int d = 0; d < sv.values_size(); ++d) {
      if (sv.values(d) != it->second.values(d)) {
        return where + "component " + std::to_string(d) + " is " + std::to_string(sv.values(d)) +
               ", expected " + std::to_string(it->second.values(d));
      }
    }
  }
  return "";
}

// The server's version of an item, as the model holds it (after a reported mismatch, so that
// one fault is reported once and not again in every later check).
v1::Item AsItem(const v1::StoredItem& got) {
  v1::Item item = got.item();
  for (const auto& sv : got.vectors()) {
    if (sv.space() != kTextSpace)
      *(*item.mutable_vectors())[sv.space()].mutable_values() = sv.values();
  }
  return item;
}

std::string Describe(const Status& st, const v1::StoredItem& got) {
  return st.ok() ? "text '" + got.item().text() + "'" : st.ToString();
}

// Settles each writer's unacknowledged operation: for all of its ids at once (an upsert batch
// is atomic), the server must hold either the state before it or the state after it.
void ResolveInFlight(Client* client, Model* model, uint32_t text_dim, const std::string& label) {
  for (size_t w = 0; w < model->in_flight.size(); ++w) {
    if (!model->in_flight[w]) continue;
    const Op op = *model->in_flight[w];
    model->in_flight[w].reset();
    int only_old = 0, only_new = 0;
    for (size_t j = 0; j < op.ids.size(); ++j) {
      const int i = op.ids[j];
      v1::StoredItem got;
      Status st = client->Get(kColl, IdOf(i), true, &got);
      ASSERT_TRUE(st.ok() || st.IsNotFound())
          << label << ": Get " << IdOf(i) << ": " << st.ToString();
      auto holds = [&](const State& s) {
        return s ? st.ok() && Diff(got, *s, text_dim).empty() : st.IsNotFound();
      };
      const bool is_old = holds(model->items[i]), is_new = holds(op.after[j]);
      only_old += is_old && !is_new;
      only_new += is_new && !is_old;
      if (is_new) {
        model->items[i] = op.after[j];
      } else if (!is_old) {
        auto versus = [&](const State& s) {
          return !s ? std::string("absent") : st.ok() ? Diff(got, *s, text_dim) : "present";
        };
        ADD_FAILURE() << label << ": " << IdOf(i) << " (in flight in writer " << w << "'s "
                      << (op.is_delete ? "delete" : "upsert") << ") is neither the old nor the "
                      << "new state; the server has " << Describe(st, got)
                      << "; vs old: " << versus(model->items[i])
                      << "; vs new: " << versus(op.after[j]);
        model->items[i] = st.ok() ? State(AsItem(got)) : std::nullopt;
      }
    }
    EXPECT_FALSE(only_old > 0 && only_new > 0)
        << label << ": writer " << w << "'s in-flight upsert of " << op.ids.size()
        << " items was applied partly: " << only_new << " new, " << only_old << " old";
    std::printf("[ crash    ] %s: writer %zu's in-flight %s of %zu item(s) was %s\n", label.c_str(),
                w, op.is_delete ? "delete" : "upsert", op.ids.size(),
                only_new > 0   ? "applied"
                : only_old > 0 ? "not applied"
                               : "undecidable");
  }
}

struct Scored {
  std::string id;
  double score;
};

double Score(const std::string& metric, const float* q, const float* v) {
  double dot = 0, qq = 0, vv = 0, l2 = 0;
  for (uint32_t d = 0; d < kDim; ++d) {
    dot += double{q[d]} * v[d];
    qq += double{q[d]} * q[d];
    vv += double{v[d]} * v[d];
    l2 += (double{q[d]} - v[d]) * (double{q[d]} - v[d]);
  }
  if (metric == "l2") return -l2;
  if (metric == "ip") return dot;
  return dot / std::sqrt(qq * vv);
}

// Every live item but `skip`, best first.
std::vector<Scored> BruteForce(const Model& model, const VecSpace& space,
                               const std::vector<float>& q, const std::string& skip = "") {
  std::vector<Scored> out;
  for (const auto& s : model.items) {
    if (!s || s->id() == skip) continue;
    out.push_back(
        {s->id(), Score(space.metric, q.data(), s->vectors().at(space.name).values().data())});
  }
  std::sort(out.begin(), out.end(), [](const Scored& a, const Scored& b) {
    return a.score != b.score ? a.score > b.score : a.id < b.id;
  });
  return out;
}

// Scores this close are a tie: either order is right.
bool Tie(double a, double b) { return std::abs(a - b) < 1e-5 * std::max(1.0, std::abs(a)); }

// Exact top-k: the same ids in the same order (up to ties), scores to 1e-4.
void ExpectExact(const std::vector<v1::Hit>& hits, const std::vector<Scored>& brute,
                 const std::string& where) {
  const size_t want = std::min<size_t>(kK, brute.size());
  ASSERT_EQ(hits.size(), want) << where;
  std::set<std::string> seen;
  for (size_t r = 0; r < want; ++r) {
    bool ok = hits[r].id() == brute[r].id;
    for (const auto& b : brute) ok = ok || (b.id == hits[r].id() && Tie(b.score, brute[r].score));
    EXPECT_TRUE(ok) << where << ": rank " << r << " is " << hits[r].id() << " (score "
                    << hits[r].score() << "), brute force has " << brute[r].id << " (score "
                    << brute[r].score << ")";
    EXPECT_NEAR(hits[r].score(), brute[r].score, 1e-4) << where << ": rank " << r;
    EXPECT_TRUE(seen.insert(hits[r].id()).second) << where << ": " << hits[r].id() << " twice";
  }
}

// Approximate top-k: every hit is a live item with its right score; returns recall@k.
double Recall(const std::vector<v1::Hit>& hits, const std::vector<Scored>& brute,
              const std::string& where) {
  const size_t want = std::min<size_t>(kK, brute.size());
  EXPECT_EQ(hits.size(), want) << where;
  std::map<std::string, double> score_of;
  for (const auto& b : brute) score_of[b.id] = b.score;
  std::set<std::string> top, seen;
  for (size_t r = 0; r < want; ++r) top.insert(brute[r].id);
  size_t found = 0;
  for (const auto& h : hits) {
    auto it = score_of.find(h.id());
    if (it == score_of.end()) {
      ADD_FAILURE() << where << ": hit " << h.id() << " is not a live item";
      continue;
    }
    EXPECT_NEAR(h.score(), it->second, 1e-4) << where << ": " << h.id();
    EXPECT_TRUE(seen.insert(h.id()).second) << where << ": " << h.id() << " twice";
    found += top.count(h.id());
  }
  return want == 0 ? 1.0 : static_cast<double>(found) / want;
}

std::vector<v1::Hit> SearchOrFail(Client* client, v1::SearchRequest req, const std::string& where) {
  req.set_collection(kColl);
  req.set_k(kK);
  std::vector<v1::Hit> hits;
  Status st = client->Search(std::move(req), &hits);
  EXPECT_TRUE(st.ok()) << where << ": " << st.ToString();
  return hits;
}

void CheckSearches(Client* client, const Model& model, std::mt19937_64& rng,
                   const std::string& label) {
  std::vector<const v1::Item*> live;
  for (const auto& s : model.items) {
    if (s) live.push_back(&*s);
  }
  std::vector<const v1::Item*> probes;
  for (int n = 0; n < kSimilarIds && !live.empty(); ++n)
    probes.push_back(live[rng() % live.size()]);

  for (const auto& space : kVecSpaces) {
    const bool exact = std::string(space.name) != "hnsw";
    double recall = 0;
    for (int n = 0; n < kQueries; ++n) {
      const std::vector<float> q = RandomVector(rng);
      const std::string where =
          label + ": space '" + space.name + "' query vector " + std::to_string(n);
      v1::SearchRequest req;
      req.set_space(space.name);
      for (float x : q) req.mutable_vector()->add_values(x);
      const auto hits = SearchOrFail(client, req, where);
      const auto brute = BruteForce(model, space, q);
      if (exact) {
        ExpectExact(hits, brute, where);
      } else {
        recall += Recall(hits, brute, where);
      }
    }
    if (!exact) {
      EXPECT_GE(recall / kQueries, 0.9) << label << ": space '" << space.name << "' recall@10";
      std::printf("[ crash    ] %s: space '%s' mean recall@10 %.2f\n", label.c_str(), space.name,
                  recall / kQueries);
    }
    for (const v1::Item* item : probes) {
      const std::string where = label + ": space '" + space.name + "' similar to " + item->id();
      v1::SearchRequest req;
      req.set_space(space.name);
      req.set_item_id(item->id());
      const auto hits = SearchOrFail(client, req, where);
      const auto& v = item->vectors().at(space.name).values();
      const auto brute = BruteForce(model, space, {v.begin(), v.end()}, item->id());
      if (exact) {
        ExpectExact(hits, brute, where);
      } else {
        Recall(hits, brute, where);  // recall of a handful of queries says little
      }
    }
  }

  // The text space: similar by id, and each probe's own text finds it (cosine ~ 1).
  for (const v1::Item* item : probes) {
    const std::string where = label + ": space '" + kTextSpace + "' " + item->id();
    v1::SearchRequest req;
    req.set_space(kTextSpace);
    req.set_item_id(item->id());
    auto hits = SearchOrFail(client, req, where + " similar");
    EXPECT_EQ(hits.size(), std::min<size_t>(kK, live.size() - 1)) << where << " similar";
    for (const auto& h : hits) EXPECT_NE(h.id(), item->id()) << where << " similar: self";
    req.set_text(item->text());
    hits = SearchOrFail(client, req, where + " text");
    auto self = std::find_if(hits.begin(), hits.end(),
                             [&](const v1::Hit& h) { return h.id() == item->id(); });
    ASSERT_NE(self, hits.end()) << where << ": text search for its own text misses it";
    EXPECT_NEAR(self->score(), 1.0, 1e-3) << where << ": text search for its own text";
  }
}

// Settles the in-flight operations, then compares every id, the stats and sampled searches.
void CheckAll(Client* client, Model* model, uint64_t seed, const std::string& label) {
  std::mt19937_64 rng(seed);
  v1::StatsResponse stats;
  Status st = client->Stats(kColl, &stats);
  ASSERT_TRUE(st.ok()) << label << ": Stats: " << st.ToString();
  uint32_t text_dim = 0;
  for (const auto& s : stats.spaces()) {
    if (s.name() == kTextSpace) text_dim = s.dim();
  }
  ASSERT_GT(text_dim, 0u) << label << ": no dim for space " << kTextSpace;

  ResolveInFlight(client, model, text_dim, label);
  if (::testing::Test::HasFatalFailure()) return;

  int mismatches = 0;
  uint64_t live = 0;
  for (int i = 0; i < kPool; ++i) {
    v1::StoredItem got;
    st = client->Get(kColl, IdOf(i), true, &got);
    ASSERT_TRUE(st.ok() || st.IsNotFound())
        << label << ": Get " << IdOf(i) << ": " << st.ToString();
    const State& want = model->items[i];
    std::string problem;
    if (want && !st.ok()) {
      problem = "acknowledged upsert is gone: " + st.ToString();
    } else if (want) {
      problem = Diff(got, *want, text_dim);
      if (!problem.empty()) problem = "not its latest acknowledged state: " + problem;
    } else if (st.ok()) {
      problem = "acknowledged delete (or never written) but present: " + Describe(st, got);
    }
    if (!problem.empty()) {
      if (++mismatches <= 20) ADD_FAILURE() << label << ": " << IdOf(i) << ": " << problem;
      model->items[i] = st.ok() ? State(AsItem(got)) : std::nullopt;
    }
    live += model->items[i].has_value();
  }
  EXPECT_EQ(mismatches, 0) << label << ": items that differ from the model";

  EXPECT_EQ(stats.items(), live) << label << ": Stats items vs the model's live count";
  EXPECT_EQ(stats.spaces_size(), static_cast<int>(std::size(kVecSpaces)) + 1) << label;
  for (const auto& s : stats.spaces()) {
    EXPECT_EQ(s.vectors(), stats.items()) << label << ": space '" << s.name() << "' vectors";
  }
  CheckSearches(client, *model, rng, label);
  std::printf("[ crash    ] %s: checked %d ids, %llu live\n", label.c_str(), kPool,
              static_cast<unsigned long long>(live));
}

void CreateCollection(Client* client) {
  v1::CreateCollectionRequest req;
  req.set_name(kColl);
  for (const auto& s : kVecSpaces) {
    auto* space = req.add_spaces();
    space->set_name(s.name);
    space->set_plugin("none");
    space->set_dim(kDim);
    space->set_index(s.index);
    space->set_metric(s.metric);
  }
  auto* text = req.add_spaces();
  text->set_name(kTextSpace);
  text->set_plugin("text");
  text->set_index("Flat");
  text->set_metric("cosine");
  Status st = client->CreateCollection(req);
  ASSERT_TRUE(st.ok()) << st.ToString();
}

// Starts recod on `data`, connects and checks everything against the model.
void RestartAndCheck(testing::RecodProcess* server, const std::string& data, Model* model,
                     uint64_t check_seed, const std::string& label) {
  std::string error;
  ASSERT_TRUE(server->Start(data, {}, &error)) << label << ": restart: " << error;
  Client client;
  Status st = client.Connect(server->address());
  ASSERT_TRUE(st.ok()) << label << ": " << st.ToString();
  CheckAll(&client, model, check_seed, label);
}

// One round: writers stream operations until recod is stopped (SIGKILL, or SIGTERM when
// `graceful`) after a seeded delay; then recod restarts on the same data and is checked.
void Round(testing::RecodProcess* server, const std::string& data, Model* model, uint64_t seed,
           bool graceful, const std::string& label) {
  std::mt19937_64 rng(seed);
  const int writers = 2 + static_cast<int>(rng() % 2);
  const int delay_ms = 100 + static_cast<int>(rng() % 801);
  model->in_flight.assign(writers, std::nullopt);
  std::vector<WriterResult> results(writers);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back(RunWriter, server->address(), rng(), w, writers, model, &ready,
                         &results[w]);
  }
  while (ready < writers) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  if (graceful) {
    EXPECT_EQ(server->Stop(), 0) << label << ": exit status of recod after SIGTERM under load";
  } else {
    server->Kill();
  }
  for (auto& t : threads) t.join();
  std::string acked;
  for (int w = 0; w < writers; ++w) {
    acked += (w ? ", " : "") + std::to_string(results[w].acked);
    EXPECT_EQ(results[w].error, "") << label << ": writer " << w;
  }
  std::printf("[ crash    ] %s: %d writers, %s after %d ms; acknowledged ops: %s\n", label.c_str(),
              writers, graceful ? "SIGTERM" : "SIGKILL", delay_ms, acked.c_str());
  RestartAndCheck(server, data, model, rng(), label);
}

TEST(CrashSafety, RandomWritersKilledAndRestartedAgreeWithModel) {
  const uint64_t seed = EnvOr("RECO_CRASH_SEED", Mix(std::random_device{}()) % 1000000000);
  const int rounds = static_cast<int>(EnvOr("RECO_CRASH_ROUNDS", 4));
  std::printf("[ crash    ] seed %llu, %d rounds (set RECO_CRASH_SEED / RECO_CRASH_ROUNDS)\n",
              static_cast<unsigned long long>(seed), rounds);
  RecordProperty("seed", std::to_string(seed));
  SCOPED_TRACE("RECO_CRASH_SEED=" + std::to_string(seed));

  testing::TempDir dir;
  const std::string data = dir.Sub("db");
  testing::RecodProcess server;
  std::string error;
  ASSERT_TRUE(server.Start(data, {}, &error)) << error;
  {
    Client admin;
    Status st = admin.Connect(server.address());
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_NO_FATAL_FAILURE(CreateCollection(&admin));
  }

  Model model;
  for (int round = 1; round <= rounds; ++round) {
    const std::string label = "round " + std::to_string(round);
    ASSERT_NO_FATAL_FAILURE(Round(&server, data, &model, Mix(seed ^ Mix(round)), false, label));
    if (round == (rounds + 1) / 2) {
      // Halfway, one graceful stop under load: recod writes its index files on the way out,
      // so the later SIGKILL rounds restart from those files plus the changes after them.
      ASSERT_NO_FATAL_FAILURE(Round(&server, data, &model, Mix(seed ^ Mix(1000 + round)), true,
                                    label + " + SIGTERM under load"));
    }
  }

  // A graceful stop with nothing in flight, and a restart, must agree too.
  EXPECT_EQ(server.Stop(), 0) << "exit status of recod after SIGTERM";
  ASSERT_NO_FATAL_FAILURE(RestartAndCheck(&server, data, &model, Mix(seed), "final restart"));
  EXPECT_EQ(server.Stop(), 0) << "exit status of recod after SIGTERM";
}

}  // namespace
}  // namespace reco
