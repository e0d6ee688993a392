// reco_bench ingest: vectors/s through Engine::Upsert against a raw RocksDB WriteBatch loop
// that writes the same records (same keys and value sizes as storage/store.cc, WAL on, the
// same batch size) into a fresh database. Index-only rates are printed for reference.
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "common/item.h"
#include "index/vector_index.h"
#include "tools/bench/bench.h"
#include "tools/bench/hnswlib_baseline.h"

namespace reco {
namespace bench {
namespace {

void PutBE32(std::string* out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out->push_back(static_cast<char>((v >> s) & 0xff));
}
void PutBE64(std::string* out, uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) out->push_back(static_cast<char>((v >> s) & 0xff));
}

}  // namespace

double RocksDbBaseline(const std::string& dir, const float* vectors, size_t n, size_t dim,
                       size_t batch, uint64_t* bytes_written, size_t* rss_before_close) {
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.IncreaseParallelism(2);
  rocksdb::ColumnFamilyOptions cf_options;
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, cf_options},
      {"meta", cf_options},
      {"items", cf_options},
      {"ids", cf_options},
      {"vectors", cf_options},
  };
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, dir, cfs, &handles, &raw);
  if (!s.ok()) Fail("opening RocksDB: " + s.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteOptions wo;  // WAL on, no fsync: as the engine's default
  const uint32_t coll = 1;
  VectorProvenance prov;
  prov.plugin = "none";
  uint64_t bytes = 0;
  const auto start = Clock::now();
  for (size_t lo = 0; lo < n; lo += batch) {
    const size_t hi = std::min(n, lo + batch);
    rocksdb::WriteBatch wb;
    std::string key, value;
    for (size_t i = lo; i < hi; ++i) {
      const uint64_t iid = i + 1;
      Item item;
      item.id = std::to_string(i);
      item.internal_id = iid;
      item.created_ms = item.updated_ms = 1700000000000 + static_cast<int64_t>(i);
      key.clear();
      PutBE32(&key, coll);
      PutBE64(&key, iid);
      value.clear();
      EncodeItem(item, &value);
      wb.Put(handles[2], key, value);
      bytes += key.size() + value.size();
      key.clear();
      PutBE32(&key, coll);
      key += item.id;
      value.assign(reinterpret_cast<const char*>(&iid), 8);
      wb.Put(handles[3], key, value);
      bytes += key.size() + value.size();
      key.clear();
      PutBE32(&key, coll);
      PutBE32(&key, 0);
      PutBE64(&key, iid);
      value.clear();
      EncodeProvenance(prov, &value);
      value.append(reinterpret_cast<const char*>(vectors + i * dim), dim * sizeof(float));
      wb.Put(handles[4], key, value);
      bytes += key.size() + value.size();
    }
    key = "n:";
    PutBE32(&key, coll);
    const uint64_t next = hi + 1;
    value.assign(reinterpret_cast<const char*>(&next), 8);
    wb.Put(handles[1], key, value);
    s = db->Write(wo, &wb);
    if (!s.ok()) Fail("RocksDB write: " + s.ToString());
  }
  const double seconds = SecondsSince(start);
  if (rss_before_close != nullptr) *rss_before_close = RssBytes();
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  *bytes_written = bytes;
  return seconds;
}

int RunIngest(Args& args, Report& report) {
  const size_t n = args.Int("n", 200000);
  const size_t dim = args.Int("dim", 128);
  const size_t batch = args.Int("batch", 1000);
  const auto specs = args.StrList("specs", "Flat;HNSW16", ';');
  const uint64_t seed = args.Int("seed", 11);
  const size_t efc = args.Int("ef-construction", 200);  // HNSW specs
  const std::string dir_base = args.Str("dir", "");
  const bool index_only = !args.Flag("no-index-only");
  args.Finish();
  auto log = [](const std::string& s) {
    std::fprintf(stderr, "[ingest] %s\n", s.c_str());
    std::fflush(stderr);
  };

  const std::vector<float> data = RandomVectors(seed, n, dim, true);
  SetOmpThreads(2);

  log("raw RocksDB WriteBatch loop");
  uint64_t bytes = 0;
  double base_s;
  {
    TempDir dir(dir_base);
    base_s = RocksDbBaseline(dir.Sub("db"), data.data(), n, dim, batch, &bytes, nullptr);
  }
  const double base_vps = n / base_s;

  struct Row {
    std::string what;
    double seconds;
  };
  std::vector<Row> engine_rows, reference_rows;
  for (const auto& spec : specs) {
    log("engine " + spec);
    TempDir dir(dir_base);
    auto engine = OpenEngine(dir.Sub("data"));
    engine::CollectionConfig cc;
    cc.name = "ingest";
    const bool is_hnsw = spec.rfind("HNSW", 0) == 0;
    std::map<std::string, std::string> options;
    if (is_hnsw) options["ef_construction"] = std::to_string(efc);
    cc.spaces.push_back(VectorSpace("v", static_cast<uint32_t>(dim), spec, options));
    Check(engine->CreateCollection(cc), "creating the collection");
    const auto start = Clock::now();
    UpsertRange(engine.get(), "ingest", {"v"}, data.data(), dim, 0, n, batch);
    WaitUntilReady(engine.get(), "ingest", n, 3600);
    engine_rows.push_back({"Engine::Upsert, " + spec + " space", SecondsSince(start)});

    if (!index_only) continue;
    log("VectorIndex " + spec + " Add only");
    index::IndexOptions o;
    o.spec = spec;
    o.dim = static_cast<uint32_t>(dim);
    o.metric = index::Metric::kCosine;
    o.ef_construction = static_cast<uint32_t>(efc);
    std::unique_ptr<index::VectorIndex> idx;
    Check(index::VectorIndex::Create(o, &idx), "creating VectorIndex " + spec);
    std::vector<uint64_t> ids(n);
    for (size_t i = 0; i < n; ++i) ids[i] = i + 1;
    const auto t0 = Clock::now();
    for (size_t lo = 0; lo < n; lo += batch) {
      const size_t m = std::min(batch, n - lo);
      Check(idx->Add(ids.data() + lo, data.data() + lo * dim, m), "VectorIndex::Add");
    }
    reference_rows.push_back({"VectorIndex::Add only, " + spec, SecondsSince(t0)});
    if (is_hnsw) {
      size_t m = std::strtoul(spec.c_str() + 4, nullptr, 10);
      if (m == 0) m = 16;
      log("hnswlib M " + std::to_string(m));
      HnswlibIndex h(dim, n, m, efc);
      const auto t1 = Clock::now();
      h.Build(data.data(), n, 2);
      reference_rows.push_back({"hnswlib addPoint only, M " + std::to_string(m) + " efC " +
                                    std::to_string(efc) + ", 2 threads",
                                SecondsSince(t1)});
    }
  }

  report.Table("Ingest, " + Count(n) + " x " + std::to_string(dim) + " vectors, batch " +
                   std::to_string(batch),
               {"what", "seconds", "vectors/s", "baseline vectors/s", "ratio"});
  report.Row({"raw RocksDB WriteBatch (baseline)", Fixed(base_s, 2), Count(base_vps),
              Count(base_vps), "1.00x"},
             {{"result", "baseline"},
              {"what", "rocksdb_writebatch"},
              {"seconds", base_s},
              {"vectors_per_s", base_vps},
              {"bytes", bytes}});
  for (const auto* rows : {&engine_rows, &reference_rows}) {
    for (const auto& r : *rows) {
      const double vps = n / r.seconds;
      report.Row({r.what, Fixed(r.seconds, 2), Count(vps), Count(base_vps), Ratio(vps / base_vps)},
                 {{"result", rows == &engine_rows ? "engine" : "reference"},
                  {"what", r.what},
                  {"seconds", r.seconds},
                  {"vectors_per_s", vps},
                  {"baseline", "rocksdb_writebatch"},
                  {"baseline_vectors_per_s", base_vps},
                  {"ratio", vps / base_vps}});
    }
  }
  report.Note(
      "baseline: the records Store::WriteItems writes (item, id entry, vector, id "
      "counter; " +
      Bytes(double(bytes) / n) + " per item) in WriteBatches of " + std::to_string(batch) +
      ", WAL on, no fsync, into a fresh RocksDB with the store's options.");
  report.Note(
      "engine: Engine::Upsert of the same vectors as ItemInputs, timed until Stats "
      "says the space holds all of them (trained).");
  report.End();
  return 0;
}

}  // namespace bench
}  // namespace reco
