// reco_bench events: events/s through Engine::AddEvents against a raw RocksDB WriteBatch loop
// that writes the records storage/store.cc writes for the same events (the event record, the
// per-day counter merge, and the user-map entry and user counter for new users), WAL on, the
// same batch size, into a fresh database with the store's column families and options. A second
// raw loop adds the reads AddEvents makes (item and user lookups, the idempotence check, the
// impression lookup that attributes clicks and purchases), which splits the gap into RocksDB
// reads and the engine's own work.
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <unordered_set>

#include "tools/bench/bench.h"

namespace reco {
namespace bench {
namespace {

void PutBE32(std::string* out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out->push_back(static_cast<char>((v >> s) & 0xff));
}
void PutBE64(std::string* out, uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) out->push_back(static_cast<char>((v >> s) & 0xff));
}
void PutFixed64(std::string* out, uint64_t v) { out->append(reinterpret_cast<const char*>(&v), 8); }

// The store's counter merge operator (storage/store.cc AddOperator): adds fixed64 values.
class AddOperator : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* new_value, rocksdb::Logger*) const override {
    uint64_t a = 0, b = 0;
    if (existing != nullptr && existing->size() == 8) std::memcpy(&a, existing->data(), 8);
    if (value.size() == 8) std::memcpy(&b, value.data(), 8);
    new_value->clear();
    PutFixed64(new_value, a + b);
    return true;
  }
  const char* Name() const override { return "reco.add64"; }
};

// The generated events: user and item numbers (item i is the engine's item "i", internal id
// i + 1), the event type's number in DefaultEventTypes(), and strictly increasing times.
struct Workload {
  std::vector<uint32_t> user, item;
  std::vector<uint8_t> type;
  std::vector<int64_t> time_ms;
  std::vector<uint64_t> uid;  // the user id the store assigns (order of first appearance)
  std::vector<bool> first;    // the user's first event: a new user-map entry
  std::vector<std::string> type_names;
};

Workload MakeWorkload(size_t n, size_t users, size_t items, uint64_t seed) {
  Workload w;
  for (const auto& t : engine::DefaultEventTypes()) w.type_names.push_back(t.name);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick_user(0, users - 1);
  std::uniform_real_distribution<double> uniform(0, 1);
  // The last 30 days, one event every 30 d / n: counters spread over 30 days.
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const int64_t span = 30LL * 86400000;
  const int64_t start = now - span - 60000;
  w.user.resize(n);
  w.item.resize(n);
  w.type.resize(n);
  w.time_ms.resize(n);
  w.uid.resize(n);
  w.first.resize(n);
  std::vector<uint64_t> uid_of(users, 0);
  uint64_t next_uid = 1;
  for (size_t i = 0; i < n; ++i) {
    w.user[i] = static_cast<uint32_t>(pick_user(rng));
    // Popularity skew: item = items * u^2 (a quarter of the items get half the events).
    const double u = uniform(rng);
    w.item[i] = static_cast<uint32_t>(std::min<double>(items - 1, items * u * u));
    // view 70%, click 15%, cart 10%, purchase 5%.
    const double t = uniform(rng);
    w.type[i] = t < 0.70 ? 0 : t < 0.85 ? 1 : t < 0.95 ? 2 : 3;
    w.time_ms[i] = start + static_cast<int64_t>(double(span) * i / n);
    uint64_t& uid = uid_of[w.user[i]];
    w.first[i] = uid == 0;
    if (uid == 0) uid = next_uid++;
    w.uid[i] = uid;
  }
  return w;
}

std::string UserName(uint32_t u) { return "u" + std::to_string(u); }

// The raw loop: the records WriteEvents writes, batch by batch. with_reads adds the point
// reads AddEvents makes per batch: one ids Get per distinct item, one users Get per distinct
// user, one events Get per event, and for each click and purchase an impressions iterator
// (attribution; empty here, nothing was recommended). The ids column family is filled with the
// items first (not timed), as the engine's database holds them. Returns the seconds of the loop.
double RawEventsLoop(const std::string& dir, const Workload& w, size_t items, size_t batch,
                     bool with_reads, uint64_t* bytes_written) {
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.IncreaseParallelism(2);
  rocksdb::ColumnFamilyOptions cf_options;
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::ColumnFamilyOptions contents_options = cf_options;
  contents_options.enable_blob_files = true;
  contents_options.min_blob_size = 1024;
  rocksdb::ColumnFamilyOptions counters_options = cf_options;
  counters_options.merge_operator = std::make_shared<AddOperator>();
  const std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, cf_options},
      {"meta", cf_options},
      {"items", cf_options},
      {"ids", cf_options},
      {"vectors", cf_options},
      {"changes", cf_options},
      {"contents", contents_options},
      {"users", cf_options},
      {"events", cf_options},
      {"counters", counters_options},
      {"impressions", cf_options},
      {"feedback", counters_options},
  };
  std::vector<rocksdb::ColumnFamilyHandle*> h;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, dir, cfs, &h, &raw);
  if (!s.ok()) Fail("opening RocksDB: " + s.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::ColumnFamilyHandle* meta = h[1];
  rocksdb::ColumnFamilyHandle* ids = h[3];
  rocksdb::ColumnFamilyHandle* users = h[7];
  rocksdb::ColumnFamilyHandle* events = h[8];
  rocksdb::ColumnFamilyHandle* counters = h[9];
  rocksdb::ColumnFamilyHandle* impressions = h[10];
  rocksdb::WriteOptions wo;  // WAL on, no fsync: as the engine's default
  const uint32_t coll = 1;
  std::string key, value;
  for (size_t lo = 0; lo < items; lo += 10000) {
    rocksdb::WriteBatch wb;
    for (size_t i = lo; i < std::min(items, lo + 10000); ++i) {
      key.clear();
      PutBE32(&key, coll);
      key += std::to_string(i);
      value.clear();
      PutFixed64(&value, i + 1);
      wb.Put(ids, key, value);
    }
    s = db->Write(wo, &wb);
    if (!s.ok()) Fail("RocksDB write: " + s.ToString());
  }

  std::string one;
  PutFixed64(&one, 1);
  uint64_t bytes = 0;
  const size_t n = w.user.size();
  rocksdb::PinnableSlice got;
  std::unordered_set<uint32_t> distinct_items, distinct_users;
  const auto start = Clock::now();
  for (size_t lo = 0; lo < n; lo += batch) {
    const size_t hi = std::min(n, lo + batch);
    if (with_reads) {
      distinct_items.clear();
      distinct_users.clear();
      for (size_t i = lo; i < hi; ++i) {
        if (distinct_items.insert(w.item[i]).second) {
          key.clear();
          PutBE32(&key, coll);
          key += std::to_string(w.item[i]);
          got.Reset();
          if (!db->Get(rocksdb::ReadOptions(), ids, key, &got).ok()) Fail("item id lookup");
        }
        if (distinct_users.insert(w.user[i]).second) {
          key.clear();
          PutBE32(&key, coll);
          key += UserName(w.user[i]);
          got.Reset();
          (void)db->Get(rocksdb::ReadOptions(), users, key, &got);  // NotFound for new users
        }
      }
    }
    rocksdb::WriteBatch wb;
    bool new_users = false;
    for (size_t i = lo; i < hi; ++i) {
      if (w.first[i]) {
        key.clear();
        PutBE32(&key, coll);
        key += UserName(w.user[i]);
        value.clear();
        PutFixed64(&value, w.uid[i]);
        wb.Put(users, key, value);
        bytes += key.size() + value.size();
        new_users = true;
      }
      key.clear();
      PutBE32(&key, coll);
      PutBE64(&key, w.uid[i]);
      PutBE64(&key, static_cast<uint64_t>(w.time_ms[i]) ^ (uint64_t{1} << 63));
      PutBE64(&key, uint64_t{w.item[i]} + 1);
      key.push_back(static_cast<char>(w.type[i]));
      if (with_reads) {
        got.Reset();
        (void)db->Get(rocksdb::ReadOptions(), events, key, &got);  // the idempotence check
        if (w.type[i] == 1 || w.type[i] == 3) {
          // Attribution of a click or purchase: the user's impressions within the window
          // (none here: nothing was recommended), newest first.
          std::string prefix;
          PutBE32(&prefix, coll);
          prefix.push_back('u');
          PutBE64(&prefix, w.uid[i]);
          std::string lower = prefix, end = prefix;
          const int64_t window = (w.type[i] == 1 ? 24 : 168) * 3600000LL;  // the default windows
          PutBE64(&lower, static_cast<uint64_t>(w.time_ms[i] - window) ^ (uint64_t{1} << 63));
          PutBE64(&lower, 0);
          end.back() = static_cast<char>(end.back() + 1);  // uids here never end in 0xff
          rocksdb::ReadOptions ro;
          rocksdb::Slice lower_slice(lower);
          ro.iterate_lower_bound = &lower_slice;
          std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, impressions));
          it->SeekForPrev(end);
          if (it->Valid() && it->key().starts_with(prefix)) Fail("unexpected impression");
        }
      }
      const float v = 1.0f;
      wb.Put(events, key, rocksdb::Slice(reinterpret_cast<const char*>(&v), 4));
      bytes += key.size() + 4;
      key.clear();
      PutBE32(&key, coll);
      PutBE32(&key, static_cast<uint32_t>(w.time_ms[i] / 86400000) ^ 0x80000000u);
      key.push_back(static_cast<char>(w.type[i]));
      PutBE64(&key, uint64_t{w.item[i]} + 1);
      wb.Merge(counters, key, one);
      bytes += key.size() + one.size();
    }
    if (new_users) {
      key = "u:";
      PutBE32(&key, coll);
      value.clear();
      PutFixed64(&value, w.uid[hi - 1] + 1);  // any value of the same size
      wb.Put(meta, key, value);
      bytes += key.size() + value.size();
    }
    s = db->Write(wo, &wb);
    if (!s.ok()) Fail("RocksDB write: " + s.ToString());
  }
  const double seconds = SecondsSince(start);
  for (auto* cf : h) db->DestroyColumnFamilyHandle(cf);
  *bytes_written = bytes;
  return seconds;
}

}  // namespace

int RunEvents(Args& args, Report& report) {
  const size_t n = args.Int("n", 1000000);
  const size_t batch = args.Int("batch", 1000);
  const size_t users = args.Int("users", 10000);
  const size_t items = args.Int("items", 100000);
  const uint64_t seed = args.Int("seed", 23);
  const int rounds = static_cast<int>(args.Int("rounds", 3));
  const std::string dir_base = args.Str("dir", "");
  args.Finish();
  if (n == 0 || batch == 0 || users == 0 || items == 0 || rounds < 1) {
    Fail("--n, --batch, --users, --items and --rounds must be positive");
  }
  auto log = [](const std::string& s) {
    std::fprintf(stderr, "[events] %s\n", s.c_str());
    std::fflush(stderr);
  };

  const Workload w = MakeWorkload(n, users, items, seed);
  uint64_t distinct_users = 0;
  for (bool f : w.first) distinct_users += f;

  // The engine run: a fresh collection holding the items (not timed), then AddEvents. Returns
  // the seconds inside the AddEvents calls; *wall_s also counts building the inputs.
  auto engine_run = [&](double* wall_s) {
    TempDir dir(dir_base);
    auto engine = OpenEngine(dir.Sub("data"));
    engine::CollectionConfig cc;
    cc.name = "events";
    cc.spaces.push_back(VectorSpace("v", 4, "Flat"));
    Check(engine->CreateCollection(cc), "creating the collection");
    std::vector<engine::ItemInput> inputs;
    for (size_t lo = 0; lo < items; lo += 1000) {
      inputs.clear();
      for (size_t i = lo; i < std::min(items, lo + 1000); ++i) {
        engine::ItemInput in;
        in.id = std::to_string(i);
        in.vectors["v"] = {1, float(i % 7), 0, 1};  // an item needs a vector in some space
        inputs.push_back(std::move(in));
      }
      Check(engine->Upsert("events", inputs), "upserting items");
    }
    std::vector<engine::EventInput> events;
    double inside = 0;
    uint64_t accepted = 0;
    const auto wall = Clock::now();
    for (size_t lo = 0; lo < n; lo += batch) {
      const size_t hi = std::min(n, lo + batch);
      events.clear();
      events.resize(hi - lo);
      for (size_t i = lo; i < hi; ++i) {
        engine::EventInput& e = events[i - lo];
        e.user = UserName(w.user[i]);
        e.item = std::to_string(w.item[i]);
        e.type = w.type_names[w.type[i]];
        e.time_ms = w.time_ms[i];
      }
      engine::EventsResult result;
      const auto t = Clock::now();
      Check(engine->AddEvents("events", events, &result),
            "AddEvents " + std::to_string(lo) + ".." + std::to_string(hi));
      inside += SecondsSince(t);
      accepted += result.accepted;
    }
    *wall_s = SecondsSince(wall);
    if (accepted != n) Fail("AddEvents accepted " + std::to_string(accepted) + " of " + Count(n));
    return inside;
  };

  // Rounds of the three systems back to back, each on a fresh database: load changes on a
  // shared machine hit them alike; the medians are reported.
  uint64_t bytes = 0, bytes_reads = 0;
  std::vector<double> base_runs, reads_runs, engine_runs, wall_runs;
  for (int round = 0; round < rounds; ++round) {
    const std::string r =
        " (round " + std::to_string(round + 1) + " of " + std::to_string(rounds) + ")";
    log("raw RocksDB WriteBatch loop" + r);
    {
      TempDir dir(dir_base);
      base_runs.push_back(RawEventsLoop(dir.Sub("db"), w, items, batch, false, &bytes));
    }
    log("raw RocksDB WriteBatch loop with AddEvents' reads" + r);
    {
      TempDir dir(dir_base);
      reads_runs.push_back(RawEventsLoop(dir.Sub("db"), w, items, batch, true, &bytes_reads));
    }
    log("engine: " + Count(items) + " items, then AddEvents" + r);
    double wall = 0;
    engine_runs.push_back(engine_run(&wall));
    wall_runs.push_back(wall);
  }
  auto spread = [](const std::vector<double>& v) {
    return Fixed(*std::min_element(v.begin(), v.end()), 2) + "-" +
           Fixed(*std::max_element(v.begin(), v.end()), 2);
  };

  const double base_s = Median(base_runs);
  const double base_eps = n / base_s;
  report.Table("Events, " + Count(n) + " events (" + Count(distinct_users) + " users, " +
                   Count(items) + " items), batch " + std::to_string(batch),
               {"what", "seconds", "rounds (s)", "events/s", "baseline events/s", "ratio"});
  report.Row({"raw RocksDB WriteBatch (baseline)", Fixed(base_s, 2), spread(base_runs),
              Count(base_eps), Count(base_eps), "1.00x"},
             {{"result", "baseline"},
              {"what", "rocksdb_writebatch"},
              {"seconds", base_s},
              {"rounds_s", base_runs},
              {"events_per_s", base_eps},
              {"bytes", bytes}});
  auto row = [&](const std::string& what, const std::string& kind,
                 const std::vector<double>& runs) {
    const double seconds = Median(runs);
    const double eps = n / seconds;
    report.Row(
        {what, Fixed(seconds, 2), spread(runs), Count(eps), Count(base_eps), Ratio(eps / base_eps)},
        {{"result", kind},
         {"what", what},
         {"seconds", seconds},
         {"rounds_s", runs},
         {"events_per_s", eps},
         {"baseline", "rocksdb_writebatch"},
         {"baseline_events_per_s", base_eps},
         {"ratio", eps / base_eps}});
  };
  row("raw RocksDB WriteBatch + AddEvents' reads", "reference", reads_runs);
  row("Engine::AddEvents", "engine", engine_runs);
  report.Note("seconds: the median of " + std::to_string(rounds) +
              " rounds (each round runs the three back to back on fresh databases); the engine's "
              "is the time inside the AddEvents calls (with building the EventInputs: " +
              Fixed(Median(wall_runs), 2) + " s).");
  report.Note(
      "baseline: what storage/store.cc WriteEvents writes: per event the events record (29 B key, "
      "4 B value) and a counters merge (17 B key, 8 B count; the store's add operator), per new "
      "user a users entry, per batch with new users the user counter; " +
      Fixed(double(bytes) / n, 1) + " B per event, in WriteBatches of " + std::to_string(batch) +
      ", WAL on, no fsync, into a fresh RocksDB with the store's column families and options.");
  report.Note(
      "reads: one ids Get per distinct item and one users Get per distinct user of a batch, one "
      "events Get per event (AddEvents' idempotence check), and per click or purchase an "
      "impressions iterator (SeekForPrev; attribution to logged recommendations, none here).");
  report.Note(
      "engine: Engine::AddEvents in process, the same events (view 70%, click 15%, cart 10%, "
      "purchase 5%; item popularity skewed, over the last 30 days) into a collection holding the " +
      Count(items) + " items.");
  report.End();
  return 0;
}

}  // namespace bench
}  // namespace reco
