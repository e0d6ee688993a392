#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <thread>

#include "engine/engine.h"
#include "testutil/temp_dir.h"

namespace reco {
namespace engine {
namespace {

class EngineTest : public ::testing::Test {
 protected:
  void Open(const std::string& plugin_dir = TEST_PLUGIN_DIR, bool background = false) {
    engine_.reset();
    EngineOptions o;
    o.data_dir = dir_.Sub("data");
    o.plugin_dir = plugin_dir;
    o.max_k = 100;
    o.background = background;
    o.snapshot_interval_ms = 50;
    Status st = Engine::Open(o, &engine_);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  void CreateShop() {
    CollectionConfig c;
    c.name = "shop";
    SpaceConfig text;
    text.name = "body";
    text.plugin = "hello";
    SpaceConfig raw;
    raw.name = "raw";
    raw.plugin = "none";
    raw.dim = 3;
    raw.metric = "l2";
    c.spaces = {text, raw};
    Status st = engine_->CreateCollection(c);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  static ItemInput MakeItem(const std::string& id, const std::string& text,
                            std::vector<float> raw = {}) {
    ItemInput in;
    in.id = id;
    in.text = text;
    in.attributes["len"] = static_cast<double>(text.size());
    if (!raw.empty()) in.vectors["raw"] = std::move(raw);
    return in;
  }

  std::vector<Hit> Search(Query q) {
    std::vector<Hit> hits;
    Status st = engine_->Search(q, &hits);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return hits;
  }

  testing::TempDir dir_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineTest, UpsertGetSearchDeleteAndReopen) {
  Open();
  CreateShop();
  std::vector<ItemInput> items = {
      MakeItem("a", "aaaa", {0, 0, 0}), MakeItem("b", "aaab", {1, 0, 0}),
      MakeItem("c", "bbbb", {5, 5, 5}), MakeItem("d", "cccc", {9, 9, 9})};
  ASSERT_TRUE(engine_->Upsert("shop", items).ok());

  ItemView view;
  ASSERT_TRUE(engine_->Get("shop", "b", true, &view).ok());
  EXPECT_EQ(view.item.text, "aaab");
  EXPECT_EQ(std::get<double>(view.item.attributes.at("len")), 4.0);
  ASSERT_EQ(view.vectors.size(), 2u);
  EXPECT_EQ(view.vectors[0].space, "body");
  EXPECT_EQ(view.vectors[0].provenance.plugin, "hello");
  EXPECT_EQ(view.vectors[0].provenance.version, "0.1.0");
  EXPECT_EQ(view.vectors[1].provenance.plugin, "none");
  EXPECT_EQ(view.vectors[1].values, (std::vector<float>{1, 0, 0}));

  Query similar;
  similar.collection = "shop";
  similar.item_id = "a";
  similar.k = 2;
  auto hits = Search(similar);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].id, "b");  // the item itself is left out

  Query by_vector;
  by_vector.collection = "shop";
  by_vector.space = "raw";
  by_vector.vector = std::vector<float>{8, 8, 8};
  by_vector.k = 1;
  hits = Search(by_vector);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, "d");
  EXPECT_FLOAT_EQ(hits[0].score, -3.0f);

  Query by_text;
  by_text.collection = "shop";
  by_text.text = "bbbbbb";
  by_text.k = 1;
  hits = Search(by_text);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, "c");

  // Update keeps created_ms, changes the vector.
  int64_t created = view.item.created_ms;
  ASSERT_TRUE(engine_->Upsert("shop", {MakeItem("d", "dddd", {0, 0, -1})}).ok());
  ASSERT_TRUE(engine_->Get("shop", "d", false, &view).ok());
  EXPECT_EQ(view.item.text, "dddd");
  EXPECT_GE(view.item.created_ms, created);
  hits = Search(by_vector);
  EXPECT_EQ(hits[0].id, "c");

  ASSERT_TRUE(engine_->Delete("shop", "c").ok());
  EXPECT_TRUE(engine_->Get("shop", "c", false, &view).IsNotFound());
  EXPECT_TRUE(engine_->Delete("shop", "c").IsNotFound());
  hits = Search(by_vector);
  EXPECT_EQ(hits[0].id, "b");

  CollectionStats stats;
  ASSERT_TRUE(engine_->Stats("shop", &stats).ok());
  EXPECT_EQ(stats.items, 3u);
  ASSERT_EQ(stats.spaces.size(), 2u);
  EXPECT_EQ(stats.spaces[0].dim, 4u);  // filled in from the plugin
  EXPECT_EQ(stats.spaces[0].vectors, 3u);

  auto before = Search(similar);
  Open();  // reopen: indexes are rebuilt from RocksDB
  ASSERT_TRUE(engine_->Stats("shop", &stats).ok());
  EXPECT_EQ(stats.items, 3u);
  EXPECT_EQ(stats.spaces[1].vectors, 3u);
  auto after = Search(similar);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].id, before[i].id);
    EXPECT_FLOAT_EQ(after[i].score, before[i].score);
  }
  // New ids continue after the old ones: no reuse of internal ids.
  ASSERT_TRUE(engine_->Upsert("shop", {MakeItem("e", "eeee", {2, 2, 2})}).ok());
  ASSERT_TRUE(engine_->Stats("shop", &stats).ok());
  EXPECT_EQ(stats.items, 4u);
}

TEST_F(EngineTest, ABadItemRejectsTheWholeBatchAndNamesIt) {
  Open();
  CreateShop();
  std::vector<ItemInput> items = {MakeItem("ok", "good text", {1, 2, 3}),
                                  MakeItem("bad", "good text", {1, 2})};
  Status st = engine_->Upsert("shop", items);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("item 1 (id 'bad')"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("expects 3"), std::string::npos) << st.message();
  ItemView view;
  EXPECT_TRUE(engine_->Get("shop", "ok", false, &view).IsNotFound());

  st = engine_->Upsert("shop", {MakeItem("empty", "   ", {1, 2, 3})});
  EXPECT_NE(st.message().find("text is empty"), std::string::npos) << st.message();
  st = engine_->Upsert("shop", {MakeItem("", "text", {1, 2, 3})});
  EXPECT_NE(st.message().find("id is empty"), std::string::npos) << st.message();
  ItemInput unknown = MakeItem("u", "text");
  unknown.vectors["nope"] = {1};
  EXPECT_TRUE(engine_->Upsert("shop", {unknown}).IsNotFound());
  // A plugin failure fails this request only.
  st = engine_->Upsert("shop", {MakeItem("f", "FAIL", {1, 2, 3})});
  EXPECT_EQ(st.code(), Status::Code::kPluginError);
  EXPECT_TRUE(engine_->Upsert("shop", {MakeItem("g", "fine", {1, 2, 3})}).ok());
  EXPECT_TRUE(engine_->Upsert("nope", {MakeItem("g", "fine")}).IsNotFound());
  EXPECT_EQ(engine_->Upsert("shop", {}).code(), Status::Code::kInvalidArgument);
}

TEST_F(EngineTest, QueriesCheckKSpaceAndVector) {
  Open();
  CreateShop();
  ASSERT_TRUE(engine_->Upsert("shop", {MakeItem("a", "aaaa", {0, 0, 0})}).ok());
  std::vector<Hit> hits;
  Query q;
  q.collection = "shop";
  q.item_id = "a";
  q.k = 0;
  EXPECT_EQ(engine_->Search(q, &hits).code(), Status::Code::kOutOfRange);
  q.k = 101;
  Status st = engine_->Search(q, &hits);
  EXPECT_EQ(st.code(), Status::Code::kOutOfRange);
  EXPECT_NE(st.message().find("1..100"), std::string::npos) << st.message();
  q.k = 100;
  ASSERT_TRUE(engine_->Search(q, &hits).ok());
  EXPECT_TRUE(hits.empty());  // only the item itself exists
  q.space = "nope";
  st = engine_->Search(q, &hits);
  EXPECT_TRUE(st.IsNotFound());
  EXPECT_NE(st.message().find("spaces: body, raw"), std::string::npos) << st.message();
  q.space = "raw";
  q.item_id.reset();
  q.vector = std::vector<float>{1, 2};
  st = engine_->Search(q, &hits);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  q.vector.reset();
  q.text = "aaaa";
  EXPECT_EQ(engine_->Search(q, &hits).code(), Status::Code::kInvalidArgument);  // vectors only
  q.space = "body";
  q.text = "";
  EXPECT_EQ(engine_->Search(q, &hits).code(), Status::Code::kInvalidArgument);
  q.text.reset();
  q.item_id = "missing";
  EXPECT_TRUE(engine_->Search(q, &hits).IsNotFound());
  q.collection = "nope";
  EXPECT_TRUE(engine_->Search(q, &hits).IsNotFound());
}

TEST_F(EngineTest, CollectionConfigsAreValidatedAndPersisted) {
  Open();
  CollectionConfig c;
  c.name = "bad name!";
  c.spaces = {SpaceConfig{"s", "hello", {}, 0, "cosine", "Flat", {}}};
  EXPECT_EQ(engine_->CreateCollection(c).code(), Status::Code::kInvalidArgument);
  c.name = "shop";
  c.spaces = {};
  EXPECT_EQ(engine_->CreateCollection(c).code(), Status::Code::kInvalidArgument);
  c.spaces = {SpaceConfig{"s", "missing-plugin", {}, 0, "cosine", "Flat", {}}};
  EXPECT_TRUE(engine_->CreateCollection(c).IsNotFound());
  c.spaces = {SpaceConfig{"s", "hello", {}, 0, "cosine", "Bogus12", {}}};
  Status st = engine_->CreateCollection(c);
  EXPECT_NE(st.message().find("Bogus12"), std::string::npos) << st.message();
  c.spaces = {SpaceConfig{"s", "hello", {}, 0, "manhattan", "Flat", {}}};
  EXPECT_FALSE(engine_->CreateCollection(c).ok());
  c.spaces = {SpaceConfig{"s", "none", {}, 0, "cosine", "Flat", {}}};
  EXPECT_FALSE(engine_->CreateCollection(c).ok());
  c.spaces = {SpaceConfig{"s", "hello", {}, 7, "cosine", "Flat", {}}};
  EXPECT_FALSE(engine_->CreateCollection(c).ok());  // dim does not match the plugin
  c.spaces = {SpaceConfig{"s", "hello", {}, 0, "cosine", "HNSW16", {}},
              SpaceConfig{"v", "none", {}, 8, "ip", "IVF4,Flat", {}}};
  ASSERT_TRUE(engine_->CreateCollection(c).ok());
  EXPECT_EQ(engine_->CreateCollection(c).code(), Status::Code::kAlreadyExists);

  Open();
  std::vector<CollectionConfig> all;
  ASSERT_TRUE(engine_->ListCollections(&all).ok());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].spaces[0].index, "HNSW16");
  EXPECT_EQ(all[0].spaces[0].dim, 4u);
  EXPECT_EQ(all[0].spaces[1].metric, "ip");
  ASSERT_TRUE(engine_->DropCollection("shop").ok());
  EXPECT_TRUE(engine_->DropCollection("shop").IsNotFound());
  Open();
  ASSERT_TRUE(engine_->ListCollections(&all).ok());
  EXPECT_TRUE(all.empty());
}

TEST_F(EngineTest, DataStaysServableWhenItsPluginIsGone) {
  Open();
  CreateShop();
  ASSERT_TRUE(
      engine_->Upsert("shop", {MakeItem("a", "aaaa", {0, 0, 0}), MakeItem("b", "aaab", {0, 0, 1})})
          .ok());
  Open(/*plugin_dir=*/"");
  Query q;
  q.collection = "shop";
  q.item_id = "a";
  q.k = 1;
  auto hits = Search(q);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, "b");
  Status st = engine_->Upsert("shop", {MakeItem("c", "cccc", {0, 0, 2})});
  EXPECT_EQ(st.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("hello"), std::string::npos) << st.message();
}

std::vector<std::string> HitIds(const std::vector<Hit>& hits) {
  std::vector<std::string> out;
  for (const auto& h : hits) out.push_back(h.id);
  return out;
}

class IndexedEngineTest : public EngineTest {
 protected:
  // A collection with vector spaces of every backend, n items with attributes.
  void CreateVectors(size_t n, const std::string& name = "vec") {
    CollectionConfig c;
    c.name = name;
    c.spaces = {SpaceConfig{"flat", "none", {}, 4, "l2", "Flat", {}},
                SpaceConfig{"hnsw", "none", {}, 4, "l2", "HNSW8", {{"ef_search", "32"}}},
                SpaceConfig{"ivf", "none", {}, 4, "l2", "IVF4,Flat", {{"train_threshold", "200"}}}};
    Status st = engine_->CreateCollection(c);
    ASSERT_TRUE(st.ok()) << st.ToString();
    std::vector<ItemInput> items;
    for (size_t i = 0; i < n; ++i) items.push_back(VectorItem(i));
    ASSERT_TRUE(engine_->Upsert(name, items).ok());
  }

  static ItemInput VectorItem(size_t i, float shift = 0) {
    ItemInput in;
    in.id = "v" + std::to_string(i);
    std::vector<float> v = {float(i % 17) + shift, float(i % 5), float(i % 3), float(i) / 100};
    in.vectors = {{"flat", v}, {"hnsw", v}, {"ivf", v}};
    in.attributes["bucket"] = static_cast<double>(i % 10);
    in.attributes["kind"] = std::string(i % 2 ? "odd" : "even");
    in.attributes["tags"] = std::vector<std::string>{"t" + std::to_string(i % 3)};
    return in;
  }

  std::vector<Hit> Near(const std::string& space, std::vector<float> v, uint32_t k,
                        const std::string& filter = "") {
    Query q;
    q.collection = "vec";
    q.space = space;
    q.vector = std::move(v);
    q.k = k;
    q.filter = filter;
    return Search(q);
  }
};

TEST_F(IndexedEngineTest, FiltersRestrictEverySpaceAndReturnExactlyK) {
  Open();
  CreateVectors(400);
  for (const std::string space : {"flat", "hnsw", "ivf"}) {
    auto hits = Near(space, {3, 1, 1, 2}, 10, "bucket < 3 and kind = \"odd\"");
    ASSERT_EQ(hits.size(), 10u) << space;
    for (const auto& h : hits) {
      size_t i = std::stoul(h.id.substr(1));
      EXPECT_LT(i % 10, 3u) << space << " " << h.id;
      EXPECT_EQ(i % 2, 1u) << space << " " << h.id;
    }
    hits = Near(space, {3, 1, 1, 2}, 10, "tags contains \"t1\" and not bucket in [1, 2, 3]");
    EXPECT_EQ(hits.size(), 10u) << space;
    EXPECT_TRUE(Near(space, {3, 1, 1, 2}, 10, "bucket > 100").empty()) << space;
  }
  // The flat space with a filter equals brute force over the matching items.
  auto flat = Near("flat", {3, 1, 1, 2}, 5, "bucket = 4");
  std::vector<std::pair<float, std::string>> scored;
  for (size_t i = 4; i < 400; i += 10) {
    auto v = VectorItem(i).vectors.at("flat");
    float d = (v[0] - 3) * (v[0] - 3) + (v[1] - 1) * (v[1] - 1) + (v[2] - 1) * (v[2] - 1) +
              (v[3] - 2) * (v[3] - 2);
    scored.push_back({d, "v" + std::to_string(i)});
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> expected;
  for (size_t i = 0; i < 5; ++i) expected.push_back(scored[i].second);
  EXPECT_EQ(HitIds(flat), expected);

  std::vector<Hit> hits;
  Query q;
  q.collection = "vec";
  q.space = "flat";
  q.vector = std::vector<float>{1, 2, 3, 4};
  q.filter = "bucket < ";
  Status st = engine_->Search(q, &hits);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("column"), std::string::npos) << st.message();
  q.filter = "colour = \"red\"";
  st = engine_->Search(q, &hits);
  EXPECT_NE(st.message().find("unknown attribute 'colour'"), std::string::npos) << st.message();
  q.filter = "kind < 3";
  EXPECT_EQ(engine_->Search(q, &hits).code(), Status::Code::kInvalidArgument);
  q.filter = "";
  q.ef = 200000;
  EXPECT_EQ(engine_->Search(q, &hits).code(), Status::Code::kOutOfRange);

  // An attribute of the wrong type is refused and nothing of the batch is written.
  ItemInput bad = VectorItem(1000);
  bad.attributes["bucket"] = std::string("ten");
  st = engine_->Upsert("vec", {VectorItem(999), bad});
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("bucket"), std::string::npos) << st.message();
  ItemView view;
  EXPECT_TRUE(engine_->Get("vec", "v999", false, &view).IsNotFound());

  // Updates and deletes move items in and out of filters.
  ItemInput moved = VectorItem(4);
  moved.attributes["bucket"] = 42.0;
  ASSERT_TRUE(engine_->Upsert("vec", {moved}).ok());
  ASSERT_TRUE(engine_->Delete("vec", "v14").ok());
  hits = Near("flat", {0, 0, 0, 0}, 100, "bucket = 4");
  for (const auto& h : hits) {
    EXPECT_NE(h.id, "v4");
    EXPECT_NE(h.id, "v14");
  }
  EXPECT_EQ(HitIds(Near("hnsw", {0, 0, 0, 0}, 5, "bucket = 42")), std::vector<std::string>{"v4"});
}

TEST_F(IndexedEngineTest, IndexOptionsAreValidated) {
  Open();
  CollectionConfig c;
  c.name = "x";
  c.spaces = {SpaceConfig{"s", "none", {}, 4, "l2", "HNSW8", {{"ef_searc", "3"}}}};
  Status st = engine_->CreateCollection(c);
  EXPECT_NE(st.message().find("unknown index option 'ef_searc'"), std::string::npos)
      << st.message();
  c.spaces[0].index_options = {{"ef_search", "-3"}};
  EXPECT_EQ(engine_->CreateCollection(c).code(), Status::Code::kInvalidArgument);
  c.spaces[0].index_options = {{"ef_search", "0"}};
  EXPECT_FALSE(engine_->CreateCollection(c).ok());
  c.spaces[0].index_options = {{"ef_search", "50"}, {"ef_construction", "100"}};
  ASSERT_TRUE(engine_->CreateCollection(c).ok());
  CollectionConfig got;
  ASSERT_TRUE(engine_->GetCollection("x", &got).ok());
  EXPECT_EQ(got.spaces[0].index_options.at("ef_search"), "50");
}

TEST_F(IndexedEngineTest, RestartLoadsIndexFilesAndReplaysLaterWrites) {
  Open();
  CreateVectors(300);
  ASSERT_TRUE(engine_->Flush().ok());
  CollectionStats stats;
  ASSERT_TRUE(engine_->Stats("vec", &stats).ok());
  const uint64_t flushed_seq = stats.change_seq;
  for (const auto& s : stats.spaces) EXPECT_EQ(s.snapshot_seq, flushed_seq) << s.name;
  // Writes after the index files: an update, a delete, new items.
  ASSERT_TRUE(engine_->Upsert("vec", {VectorItem(7, 100)}).ok());
  ASSERT_TRUE(engine_->Delete("vec", "v8").ok());
  ASSERT_TRUE(engine_->Upsert("vec", {VectorItem(300), VectorItem(301)}).ok());
  std::map<std::string, std::vector<std::string>> before;
  for (const std::string space : {"flat", "hnsw", "ivf"}) {
    before[space] = HitIds(Near(space, {107, 2, 1, 0.07f}, 5));
    EXPECT_EQ(before[space][0], "v7") << space;
  }
  engine_.reset();  // no Flush: simulate a crash by reopening from the old index files
  Open();
  ASSERT_TRUE(engine_->Stats("vec", &stats).ok());
  EXPECT_EQ(stats.items, 301u);
  for (const auto& s : stats.spaces) EXPECT_EQ(s.vectors, 301u) << s.name;
  for (const std::string space : {"flat", "hnsw", "ivf"}) {
    EXPECT_EQ(HitIds(Near(space, {107, 2, 1, 0.07f}, 5)), before[space]) << space;
    for (const auto& h : Near(space, {8 % 17, 8 % 5, 8 % 3, 0.08f}, 20)) EXPECT_NE(h.id, "v8");
  }
}

TEST_F(IndexedEngineTest, ACorruptIndexFileIsRebuiltFromStorage) {
  Open();
  CreateVectors(200);
  ASSERT_TRUE(engine_->Flush().ok());
  engine_.reset();
  size_t corrupted = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_.Sub("data/indexes"))) {
    std::filesystem::resize_file(entry.path(), std::filesystem::file_size(entry.path()) / 2);
    ++corrupted;
  }
  EXPECT_EQ(corrupted, 3u);
  Open();
  CollectionStats stats;
  ASSERT_TRUE(engine_->Stats("vec", &stats).ok());
  for (const auto& s : stats.spaces) EXPECT_EQ(s.vectors, 200u) << s.name;
  EXPECT_EQ(Near("flat", {5, 0, 2, 0.05f}, 1)[0].id, "v5");
}

TEST_F(IndexedEngineTest, BackgroundTrainingAndRebuildsSwapInWithoutLosingWrites) {
  Open(TEST_PLUGIN_DIR, /*background=*/true);
  CreateVectors(150);  // below the IVF train threshold of 200
  CollectionStats stats;
  ASSERT_TRUE(engine_->Stats("vec", &stats).ok());
  EXPECT_FALSE(stats.spaces[2].trained);
  std::vector<ItemInput> more;
  for (size_t i = 150; i < 2600; ++i) more.push_back(VectorItem(i));
  ASSERT_TRUE(engine_->Upsert("vec", more).ok());
  // Delete most items so that the HNSW graph is mostly tombstones.
  for (size_t i = 0; i < 1500; ++i)
    ASSERT_TRUE(engine_->Delete("vec", "v" + std::to_string(i)).ok());
  bool trained = false, rebuilt = false;
  for (int i = 0; i < 1200 && !(trained && rebuilt); ++i) {  // up to a minute on a loaded machine
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(engine_->Stats("vec", &stats).ok());
    trained = stats.spaces[2].trained;
    rebuilt = stats.spaces[1].tombstones == 0;
  }
  EXPECT_TRUE(trained) << "IVF space was not trained in the background";
  EXPECT_TRUE(rebuilt) << "HNSW tombstones were not cleared by a rebuild";
  for (const auto& s : stats.spaces) EXPECT_EQ(s.vectors, 1100u) << s.name;
  for (const std::string space : {"flat", "hnsw", "ivf"}) {
    auto hits = Near(space, {2500 % 17, 0, 1, 25.0f}, 1);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].id, "v2500") << space;
  }
  // Index files are written in the background too (up to 30 s on a loaded machine).
  for (int i = 0; i < 600; ++i) {
    ASSERT_TRUE(engine_->Stats("vec", &stats).ok());
    if (stats.spaces[0].snapshot_seq == stats.change_seq) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(stats.spaces[0].snapshot_seq, stats.change_seq);
}

TEST_F(IndexedEngineTest, BackupOpensAsIsAndMissesLaterWrites) {
  Open();
  CreateVectors(120);
  ASSERT_TRUE(engine_->Upsert("vec", {VectorItem(500)}).ok());
  const std::string backup = dir_.Sub("backup");
  ASSERT_TRUE(engine_->Backup(backup).ok());
  EXPECT_EQ(engine_->Backup(backup).code(), Status::Code::kAlreadyExists);
  ASSERT_TRUE(engine_->Upsert("vec", {VectorItem(501)}).ok());
  engine_.reset();
  EngineOptions o;
  o.data_dir = backup;
  o.background = false;
  ASSERT_TRUE(Engine::Open(o, &engine_).ok());
  ItemView view;
  EXPECT_TRUE(engine_->Get("vec", "v500", false, &view).ok());
  EXPECT_TRUE(engine_->Get("vec", "v501", false, &view).IsNotFound());
  CollectionStats stats;
  ASSERT_TRUE(engine_->Stats("vec", &stats).ok());
  EXPECT_EQ(stats.items, 121u);
  for (const auto& s : stats.spaces) {
    EXPECT_EQ(s.vectors, 121u) << s.name;
    EXPECT_GT(s.snapshot_seq, 0u) << s.name << ": the backup's index file was not used";
  }
}

class ContentEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.Sub("root/sub"));
    std::ofstream(dir_.Sub("root/sub/a.png")) << "PNGDATA-123";
    std::ofstream(dir_.Sub("outside.png")) << "secret";
    EngineOptions o;
    o.data_dir = dir_.Sub("data");
    o.plugin_dir = CONTENT_PLUGIN_DIR;
    o.background = false;
    o.content_root = dir_.Sub("root");
    o.max_content_bytes = 1000;
    ASSERT_TRUE(Engine::Open(o, &engine_).ok());
    CollectionConfig c;
    c.name = "pics";
    c.spaces = {SpaceConfig{"img", "blob", {}, 0, "l2", "Flat", {}}};
    ASSERT_TRUE(engine_->CreateCollection(c).ok());
  }

  static ItemInput Pic(const std::string& id, const std::string& bytes,
                       const std::string& type = "image/png") {
    ItemInput in;
    in.id = id;
    in.contents.push_back(ContentInput{type, bytes, ""});
    return in;
  }

  testing::TempDir dir_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(ContentEngineTest, ContentsAreEmbeddedDescribedStoredAndSearchable) {
  ItemInput described = Pic("a", "AAAA");
  described.attributes["kind"] = std::string("mine");  // the user's value wins
  ASSERT_TRUE(engine_->Upsert("pics", {described, Pic("b", "BBBBBBBB", "image/x-test")}).ok());
  ItemView view;
  ASSERT_TRUE(engine_->Get("pics", "a", true, &view).ok());
  ASSERT_EQ(view.contents.size(), 1u);
  EXPECT_EQ(view.contents[0].content_type, "image/png");
  EXPECT_EQ(view.contents[0].size, 4u);
  EXPECT_EQ(std::get<double>(view.item.attributes.at("size")), 4.0);
  EXPECT_EQ(std::get<std::string>(view.item.attributes.at("kind")), "mine");
  ASSERT_EQ(view.vectors.size(), 1u);
  EXPECT_EQ(view.vectors[0].values, (std::vector<float>{4, 'A', 1}));

  // Described attributes are filterable.
  Query q;
  q.collection = "pics";
  q.k = 5;
  q.content = ContentInput{"image/png", "BBBBBBB", ""};
  std::vector<Hit> hits;
  ASSERT_TRUE(engine_->Search(q, &hits).ok());
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].id, "b");
  q.filter = "kind = \"mine\"";
  ASSERT_TRUE(engine_->Search(q, &hits).ok());
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, "a");

  // A server-side path under the root works; escapes and disabled roots do not.
  ItemInput by_path;
  by_path.id = "c";
  by_path.contents.push_back(ContentInput{"", "", "sub/a.png"});
  ASSERT_TRUE(engine_->Upsert("pics", {by_path}).ok());
  ASSERT_TRUE(engine_->Get("pics", "c", true, &view).ok());
  EXPECT_EQ(view.vectors[0].values[0], 11.0f);
  by_path.contents[0].path = "../outside.png";
  Status st = engine_->Upsert("pics", {by_path});
  EXPECT_NE(st.message().find("outside the content root"), std::string::npos) << st.message();
  by_path.contents[0].path = dir_.Sub("outside.png");
  EXPECT_FALSE(engine_->Upsert("pics", {by_path}).ok());

  // Too big, wrong type, failing bytes, nothing to embed: clear errors, nothing written.
  st = engine_->Upsert("pics", {Pic("big", std::string(2000, 'x'))});
  EXPECT_EQ(st.code(), Status::Code::kOutOfRange);
  st = engine_->Upsert("pics", {Pic("d", "data", "application/dicom")});
  EXPECT_NE(st.message().find("nothing to embed"), std::string::npos) << st.message();
  st = engine_->Upsert("pics", {Pic("e", "BAD bytes")});
  EXPECT_EQ(st.code(), Status::Code::kPluginError);
  EXPECT_TRUE(engine_->Get("pics", "e", false, &view).IsNotFound());

  // Replacing an item replaces its contents; deleting removes them.
  ASSERT_TRUE(engine_->Upsert("pics", {Pic("a", "ZZ")}).ok());
  ASSERT_TRUE(engine_->Get("pics", "a", true, &view).ok());
  EXPECT_EQ(view.contents[0].size, 2u);
  ASSERT_TRUE(engine_->Delete("pics", "a").ok());
}

TEST_F(EngineTest, ReembedSwapsInANewModelWhileWritesGoOn) {
  Open();
  CreateShop();
  std::vector<ItemInput> items;
  for (int i = 0; i < 300; ++i) {
    items.push_back(MakeItem("i" + std::to_string(i), "a" + std::string(i % 7 + 1, 'b') + "cd"));
  }
  ASSERT_TRUE(engine_->Upsert("shop", items).ok());
  EXPECT_TRUE(engine_->Reembed("shop", "raw", {}, false).code() == Status::Code::kInvalidArgument);
  EXPECT_TRUE(engine_->Reembed("shop", "nope", {}, false).IsNotFound());
  EXPECT_EQ(engine_->Reembed("shop", "body", {{"refuse", "1"}}, false).code(),
            Status::Code::kInvalidArgument);

  ASSERT_TRUE(engine_->Reembed("shop", "body", {{"flip", "1"}}, false).ok());
  // Writes during the job: an update, a delete, new items.
  ASSERT_TRUE(engine_->Upsert("shop", {MakeItem("i5", "zzzz"), MakeItem("new", "aaaa")}).ok());
  ASSERT_TRUE(engine_->Delete("shop", "i7").ok());
  CollectionStats stats;
  for (int i = 0; i < 1000; ++i) {  // up to 20 s on a loaded machine
    ASSERT_TRUE(engine_->Stats("shop", &stats).ok());
    if (stats.spaces[0].reembed_state == "done") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(stats.spaces[0].reembed_state, "done");
  EXPECT_EQ(stats.spaces[0].fingerprint, "hello-fp-flip");
  EXPECT_EQ(stats.spaces[0].vectors, 300u);
  EXPECT_EQ(stats.items, 300u);

  auto check = [&] {
    ItemView view;
    ASSERT_TRUE(engine_->Get("shop", "new", true, &view).ok());
    EXPECT_EQ(view.vectors[0].provenance.fingerprint, "hello-fp-flip");
    EXPECT_FLOAT_EQ(view.vectors[0].values[3], 1.0f);  // 'a' counted in dim 0, flipped to 3
    ASSERT_TRUE(engine_->Get("shop", "i5", true, &view).ok());
    EXPECT_EQ(view.vectors[0].provenance.fingerprint, "hello-fp-flip");
    EXPECT_TRUE(engine_->Get("shop", "i7", false, &view).IsNotFound());
    Query q;
    q.collection = "shop";
    q.text = "aaaa";
    q.k = 1;
    auto hits = Search(q);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].id, "new");
    EXPECT_NEAR(hits[0].score, 1.0f, 1e-5);
  };
  check();
  CollectionConfig config;
  ASSERT_TRUE(engine_->GetCollection("shop", &config).ok());
  EXPECT_EQ(config.spaces[0].options.at("flip"), "1");
  Open();  // the switch survives a restart, with the new vectors
  check();
  ASSERT_TRUE(engine_->Stats("shop", &stats).ok());
  EXPECT_EQ(stats.spaces[0].vectors, 300u);
}

TEST_F(EngineTest, FittedReembedKeepsWhatThePluginLearntAcrossRestarts) {
  Open();
  CreateShop();
  // Letter groups: 'a' (group 0) is in every text, 'b' (group 1) in a third of them.
  std::vector<ItemInput> items;
  for (int i = 0; i < 30; ++i) {
    items.push_back(MakeItem("i" + std::to_string(i), i % 3 == 0 ? "ab" : "ac"));
  }
  ASSERT_TRUE(engine_->Upsert("shop", items).ok());
  EXPECT_EQ(engine_->Reembed("shop", "raw", {}, true).code(), Status::Code::kInvalidArgument);
  ASSERT_TRUE(engine_->Reembed("shop", "body", {}, true).ok());
  CollectionStats stats;
  for (int i = 0; i < 1000; ++i) {  // up to 20 s on a loaded machine
    ASSERT_TRUE(engine_->Stats("shop", &stats).ok());
    if (stats.spaces[0].reembed_state == "done") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(stats.spaces[0].reembed_state, "done");
  EXPECT_EQ(stats.spaces[0].fingerprint, "hello-fp,fit=30");

  // "ab": a weighs 1/31, b 1/11, so b dominates the normalised vector.
  auto check = [&] {
    ItemView view;
    ASSERT_TRUE(engine_->Get("shop", "i0", true, &view).ok());
    EXPECT_EQ(view.vectors[0].provenance.fingerprint, "hello-fp,fit=30");
    const float a = 1.0f / 31, b = 1.0f / 11, norm = std::sqrt(a * a + b * b);
    EXPECT_NEAR(view.vectors[0].values[0], a / norm, 1e-5);
    EXPECT_NEAR(view.vectors[0].values[1], b / norm, 1e-5);
    // Queries embed with the fitted weights too: the text of i0 finds a vector equal to it.
    Query q;
    q.collection = "shop";
    q.text = "ab";
    q.k = 1;
    auto hits = Search(q);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_NEAR(hits[0].score, 1.0f, 1e-5);
  };
  check();
  Open();  // the learnt state comes back from storage with the vectors
  check();
  ASSERT_TRUE(engine_->Stats("shop", &stats).ok());
  EXPECT_EQ(stats.spaces[0].fingerprint, "hello-fp,fit=30");

  // A re-embed without --fit goes back to the unfitted model (and drops the old state).
  ASSERT_TRUE(engine_->Reembed("shop", "body", {}, false).ok());
  for (int i = 0; i < 1000; ++i) {  // up to 20 s on a loaded machine
    ASSERT_TRUE(engine_->Stats("shop", &stats).ok());
    if (stats.spaces[0].reembed_state == "done") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(stats.spaces[0].fingerprint, "hello-fp");
  Open();
  ASSERT_TRUE(engine_->Stats("shop", &stats).ok());
  EXPECT_EQ(stats.spaces[0].fingerprint, "hello-fp");
}

class EventsEngineTest : public EngineTest {
 protected:
  // Items on a line: x = 0..19 in a 2-d "none" space; category a (x < 10) or b.
  void CreateLine(const std::string& unknown_items = "reject", uint32_t click_window_hours = 24) {
    Open();
    CollectionConfig c;
    c.name = "line";
    c.spaces = {SpaceConfig{"v", "none", {}, 2, "cosine", "Flat", {}}};
    c.unknown_items = unknown_items;
    c.click_window_hours = click_window_hours;
    ASSERT_TRUE(engine_->CreateCollection(c).ok());
    std::vector<ItemInput> items;
    for (int x = 0; x < 20; ++x) {
      ItemInput in;
      in.id = "x" + std::to_string(x);
      float angle = 0.08f * x;
      in.vectors["v"] = {std::cos(angle), std::sin(angle)};
      in.attributes["category"] = std::string(x < 10 ? "a" : "b");
      items.push_back(in);
    }
    ASSERT_TRUE(engine_->Upsert("line", items).ok());
  }

  void Events(std::vector<EventInput> events) {
    EventsResult r;
    Status st = engine_->AddEvents("line", events, &r);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  // Two taste groups: 60 users with 12 events each on items i0-i19, or on i20-i39 when
  // second(u).
  static std::vector<EventInput> TasteGroups(uint32_t seed, const std::string& type,
                                             const std::function<bool(int)>& second) {
    std::vector<EventInput> events;
    std::mt19937 rng(seed);
    for (int u = 0; u < 60; ++u) {
      for (int n = 0; n < 12; ++n) {
        const int item = (second(u) ? 20 : 0) + static_cast<int>(rng() % 20);
        events.push_back(
            {"u" + std::to_string(u), "i" + std::to_string(item), type, 1, 1000 + n, ""});
      }
    }
    return events;
  }

  std::vector<std::string> Recommend(RecommendQuery q) {
    q.collection = "line";
    std::vector<Recommendation> recs;
    Status st = engine_->Recommend(q, &recs);
    EXPECT_TRUE(st.ok()) << st.ToString();
    std::vector<std::string> ids;
    for (const auto& r : recs) ids.push_back(r.id);
    return ids;
  }
};

TEST_F(EventsEngineTest, RecommendsNearTheHistoryExcludingSeenItems) {
  CreateLine();
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  Events({{"ann", "x3", "view", 1, now - 5000, ""}, {"ann", "x4", "purchase", 1, now - 1000, ""}});
  RecommendQuery q;
  q.user = "ann";
  q.k = 3;
  q.explain = true;
  auto ids = Recommend(q);
  ASSERT_EQ(ids.size(), 3u);
  for (const auto& id : ids) {
    EXPECT_NE(id, "x3");
    EXPECT_NE(id, "x4");
  }
  EXPECT_TRUE(ids[0] == "x5" || ids[0] == "x2") << ids[0];
  std::vector<Recommendation> recs;
  q.collection = "line";
  ASSERT_TRUE(engine_->Recommend(q, &recs).ok());
  EXPECT_EQ(recs[0].source, "profile");
  EXPECT_TRUE(recs[0].parts.count("space:v"));
  EXPECT_FALSE(recs[0].because.empty());

  q.filter = "category = \"b\"";
  ids = Recommend(q);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], "x10");
  q.filter = "";
  q.exclude = {"x5", "x2"};
  ids = Recommend(q);
  EXPECT_TRUE(std::find(ids.begin(), ids.end(), "x5") == ids.end());
  q.exclude_seen = false;
  q.exclude = {};
  ids = Recommend(q);
  EXPECT_TRUE(ids[0] == "x4" || ids[0] == "x3") << ids[0];

  // Diversity: MMR spreads the picks along the line.
  RecommendQuery diverse;
  diverse.user = "ann";
  diverse.k = 4;
  diverse.mmr_lambda = 0.3;
  auto spread = Recommend(diverse);
  ASSERT_EQ(spread.size(), 4u);

  // From examples, with a missing example skipped.
  RecommendQuery examples;
  examples.positive = {"x18", "nope"};
  examples.negative = {"x10"};
  examples.k = 2;
  ids = Recommend(examples);
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_TRUE(ids[0] == "x19" || ids[0] == "x17") << ids[0];
}

TEST_F(EventsEngineTest, ColdStartGetsTrendingAndAnalyticsCount) {
  CreateLine();
  std::vector<EventInput> events;
  for (int u = 0; u < 5; ++u) events.push_back({"u" + std::to_string(u), "x7", "click", 1, 0, ""});
  events.push_back({"u0", "x9", "view", 1, 0, ""});
  events.push_back({"u1", "x9", "purchase", 1, 0, ""});
  Events(events);
  RecommendQuery q;
  q.user = "stranger";
  q.k = 2;
  std::vector<Recommendation> recs;
  q.collection = "line";
  ASSERT_TRUE(engine_->Recommend(q, &recs).ok());
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].source, "trending");
  EXPECT_EQ(recs[0].id, "x7");  // 5 clicks (weight 2) beat a view and a purchase (1 + 8)
  q.filter = "category = \"b\"";
  ASSERT_TRUE(engine_->Recommend(q, &recs).ok());
  EXPECT_TRUE(recs.empty());  // nothing trending matches the filter

  std::vector<TopItem> top;
  ASSERT_TRUE(engine_->TopItems("line", "click", 7, 5, &top).ok());
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].id, "x7");
  EXPECT_EQ(top[0].score, 5);
  ASSERT_TRUE(engine_->TopItems("line", "", 7, 5, &top).ok());
  EXPECT_EQ(top.size(), 2u);
  std::vector<DayCount> days;
  ASSERT_TRUE(engine_->EventsPerDay("line", 3, &days).ok());
  ASSERT_EQ(days.size(), 3u);
  EXPECT_EQ(days.back().events, 7u);
  EXPECT_EQ(days.back().users, 5u);
  EXPECT_FALSE(engine_->TopItems("line", "like", 7, 5, &top).ok());
}

TEST_F(EventsEngineTest, BadEventsAreRefusedWholeAndPlaceholdersAreOptIn) {
  CreateLine();
  EventsResult r;
  Status st = engine_->AddEvents(
      "line", {{"ann", "x1", "view", 1, 0, ""}, {"ann", "zzz", "view", 1, 0, ""}}, &r);
  EXPECT_TRUE(st.IsNotFound());
  EXPECT_NE(st.message().find("zzz"), std::string::npos) << st.message();
  st = engine_->AddEvents("line", {{"ann", "x1", "like", 1, 0, ""}}, &r);
  EXPECT_NE(st.message().find("unknown event type 'like'"), std::string::npos) << st.message();
  st = engine_->AddEvents("line", {{"ann", "x1", "view", 1, int64_t{1} << 50, ""}}, &r);
  EXPECT_NE(st.message().find("future"), std::string::npos) << st.message();
  st = engine_->AddEvents("line", {{"", "x1", "view", 1, 0, ""}}, &r);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  std::vector<TopItem> top;
  ASSERT_TRUE(engine_->TopItems("line", "", 7, 5, &top).ok());
  EXPECT_TRUE(top.empty());  // nothing of the refused batches was stored
  // Duplicate events count once.
  ASSERT_TRUE(
      engine_
          ->AddEvents("line",
                      {{"ann", "x1", "view", 1, 1000, ""}, {"ann", "x1", "view", 1, 1000, ""}}, &r)
          .ok());

  engine_.reset();
  testing::TempDir other;
  EngineOptions o;
  o.data_dir = other.Sub("data");
  o.background = false;
  ASSERT_TRUE(Engine::Open(o, &engine_).ok());
  CollectionConfig c;
  c.name = "line";
  c.spaces = {SpaceConfig{"v", "none", {}, 2, "cosine", "Flat", {}}};
  c.unknown_items = "create";
  c.event_types = {{"play", 1}, {"like", 3}};
  ASSERT_TRUE(engine_->CreateCollection(c).ok());
  ASSERT_TRUE(engine_->AddEvents("line", {{"ann", "song-1", "like", 1, 0, ""}}, &r).ok());
  EXPECT_EQ(r.placeholders, 1u);
  ItemView view;
  ASSERT_TRUE(engine_->Get("line", "song-1", false, &view).ok());
  EXPECT_EQ(std::get<bool>(view.item.attributes.at("placeholder")), true);
  EXPECT_FALSE(engine_->AddEvents("line", {{"ann", "song-1", "view", 1, 0, ""}}, &r).ok());
  engine_.reset();  // before `other` goes
}

TEST_F(EventsEngineTest, EvaluatesStrategiesAndTrainsACollaborativeSpace) {
  Open();
  CollectionConfig c;
  c.name = "cf";
  c.spaces = {SpaceConfig{"bpr", "collaborative", {}, 9, "ip", "Flat", {}}};
  c.unknown_items = "create";
  ASSERT_TRUE(engine_->CreateCollection(c).ok());
  // Two taste groups: users 0-29 like items 0-19, users 30-59 like items 20-39.
  const std::vector<EventInput> events = TasteGroups(7, "click", [](int u) { return u >= 30; });
  EventsResult r;
  ASSERT_TRUE(engine_->AddEvents("cf", events, &r).ok());
  EvalRequest eval;
  eval.collection = "cf";
  eval.k = 5;
  std::vector<EvalResult> results;
  Status st = engine_->Evaluate(eval, &results);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(results.size(), 8u);
  std::map<std::string, double> recall;
  for (const auto& x : results) {
    if (x.strategy == "content" || x.strategy == "hybrid") {
      // No content space here: said so, not fatal.
      EXPECT_NE(x.error.find("no content vectors"), std::string::npos) << x.error;
      continue;
    }
    EXPECT_TRUE(x.error.empty()) << x.strategy << ": " << x.error;
    EXPECT_GT(x.users, 0u);
    recall[x.strategy] = x.recall;
  }
  EXPECT_GT(recall["ease"], recall["most-popular"]);
  EXPECT_GT(recall["item-knn"], recall["most-popular"]);
  EXPECT_GT(recall["history-profile"], recall["most-popular"]);  // over in-run BPR vectors
  eval.protocol = "leave-last-out";
  eval.strategies = {"ease"};
  ASSERT_TRUE(engine_->Evaluate(eval, &results).ok());
  EXPECT_EQ(results.size(), 1u);
  eval.protocol = "random";
  EXPECT_EQ(engine_->Evaluate(eval, &results).code(), Status::Code::kInvalidArgument);

  TrainRequest train;
  train.collection = "cf";
  train.epochs = 30;
  TrainResult trained;
  st = engine_->Train(train, &trained);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(trained.items, 40u);
  EXPECT_EQ(trained.users, 60u);
  EXPECT_EQ(trained.warm_items, 0u);
  CollectionStats stats;
  ASSERT_TRUE(engine_->Stats("cf", &stats).ok());
  EXPECT_EQ(stats.spaces[0].vectors, 40u);
  EXPECT_EQ(stats.spaces[0].train_state, "done");
  EXPECT_EQ(stats.spaces[0].train_epoch, 30u);
  EXPECT_EQ(stats.spaces[0].train_epochs, 30u);
  EXPECT_GT(stats.spaces[0].train_loss, 0.0);
  EXPECT_GT(stats.spaces[0].trained_ms, 0);
  // Incremental: starts from the trained vectors, so a few epochs start at a lower loss
  // than training from scratch reached after its first.
  TrainRequest again = train;
  again.incremental = true;
  again.epochs = 1;
  TrainResult warm;
  ASSERT_TRUE(engine_->Train(again, &warm).ok());
  EXPECT_EQ(warm.warm_items, 40u);
  TrainRequest cold = again;
  cold.incremental = false;
  TrainResult scratch;
  ASSERT_TRUE(engine_->Train(cold, &scratch).ok());
  EXPECT_LT(warm.loss, scratch.loss);
  ASSERT_TRUE(engine_->Train(train, &trained).ok());  // back to the 30-epoch model
  // A group-0 user's recommendations come from group 0.
  RecommendQuery q;
  q.collection = "cf";
  q.user = "u3";
  q.k = 3;
  std::vector<Recommendation> recs;
  q.explain = true;
  ASSERT_TRUE(engine_->Recommend(q, &recs).ok());
  ASSERT_FALSE(recs.empty());
  for (const auto& rec : recs) {
    EXPECT_LT(std::stoi(rec.id.substr(1)), 20) << rec.id;
    // A trained user is ranked by the model's own score (user vector . item vector).
    EXPECT_TRUE(rec.parts.count("model:bpr")) << rec.id;
  }
  // A user the model has not seen gets a profile of their items' vectors instead.
  EventsResult late;
  ASSERT_TRUE(engine_->AddEvents("cf", {{"newbie", "i2", "click", 1, 5000, ""}}, &late).ok());
  q.user = "newbie";
  ASSERT_TRUE(engine_->Recommend(q, &recs).ok());
  ASSERT_FALSE(recs.empty());
  EXPECT_TRUE(recs[0].parts.count("space:bpr"));
  q.user = "u3";
  q.explain = false;
  // Upserting item metadata keeps the learned vector.
  ItemInput meta;
  meta.id = "i5";
  meta.attributes["title"] = std::string("five");
  EXPECT_FALSE(engine_->Upsert("cf", {meta}).ok());  // nothing to embed: no content space
  Open();
  ASSERT_TRUE(engine_->Stats("cf", &stats).ok());
  EXPECT_EQ(stats.spaces[0].vectors, 40u);  // the trained vectors survive a restart
}

TEST_F(EventsEngineTest, ServedRecommendationsAreLoggedAndClicksAttributed) {
  CreateLine("reject", /*click_window_hours=*/1);
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  Events({{"ann", "x3", "view", 1, now - 5000, ""}});
  RecommendQuery q;
  q.collection = "line";
  q.user = "ann";
  q.k = 4;
  q.variant = "A";
  RecommendResult a;
  ASSERT_TRUE(engine_->Recommend(q, &a).ok());
  ASSERT_EQ(a.items.size(), 4u);
  ASSERT_EQ(a.request_id.size(), 16u);
  EXPECT_EQ(a.variant, "A");
  const std::string first = a.items[0].id, second = a.items[1].id;

  // A click on a shown item is attributed to the latest impression, once; a purchase names
  // the request explicitly; events on items not shown, or by other users, are not.
  EventsResult r;
  ASSERT_TRUE(engine_->AddEvents("line", {{"ann", first, "click", 1, now + 1000, ""}}, &r).ok());
  EXPECT_EQ(r.attributed, 1u);
  ASSERT_TRUE(engine_->AddEvents("line", {{"ann", first, "click", 1, now + 2000, ""}}, &r).ok());
  EXPECT_EQ(r.attributed, 0u);
  ASSERT_TRUE(
      engine_->AddEvents("line", {{"ann", second, "purchase", 1, now + 3000, a.request_id}}, &r)
          .ok());
  EXPECT_EQ(r.attributed, 1u);
  ASSERT_TRUE(engine_->AddEvents("line", {{"ann", "x3", "click", 1, now + 3000, ""}}, &r).ok());
  EXPECT_EQ(r.attributed, 0u);  // x3 was seen, so not recommended
  ASSERT_TRUE(engine_->AddEvents("line", {{"bob", second, "click", 1, now + 3000, ""}}, &r).ok());
  EXPECT_EQ(r.attributed, 0u);
  // Past the click window (1 hour) a click is not attributed; a purchase (168 h) still is.
  ASSERT_TRUE(engine_
                  ->AddEvents("line",
                              {{"ann", a.items[2].id, "click", 1, now + 7200 * 1000, ""},
                               {"ann", a.items[3].id, "purchase", 1, now + 7200 * 1000, ""}},
                              &r)
                  .ok());
  EXPECT_EQ(r.attributed, 1u);
  // A request id that no answer gave is refused with a clear message; nothing is stored.
  Status st = engine_->AddEvents("line", {{"ann", first, "click", 1, now, "nope"}}, &r);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("request id 'nope'"), std::string::npos) << st.message();

  // Variant B: 5 answers to new users, every first item clicked.
  for (int u = 0; u < 5; ++u) {
    q.user = "b" + std::to_string(u);
    q.variant = "B";
    RecommendResult b;
    ASSERT_TRUE(engine_->Recommend(q, &b).ok());
    ASSERT_EQ(b.items.size(), 4u);
    EXPECT_EQ(b.items[0].source, "trending");
    ASSERT_TRUE(
        engine_->AddEvents("line", {{q.user, b.items[0].id, "click", 1, 0, b.request_id}}, &r)
            .ok());
    EXPECT_EQ(r.attributed, 1u);
  }
  // Not logged: no request id, nothing counted. A bad label is refused.
  q.log = false;
  RecommendResult quiet;
  ASSERT_TRUE(engine_->Recommend(q, &quiet).ok());
  EXPECT_TRUE(quiet.request_id.empty());
  q.log = true;
  q.variant = "bad label";
  EXPECT_EQ(engine_->Recommend(q, &quiet).code(), Status::Code::kInvalidArgument);

  auto check = [&] {
    FeedbackQuery fq;
    fq.collection = "line";
    fq.k = 3;
    FeedbackReport report;
    ASSERT_TRUE(engine_->Feedback(fq, &report).ok());
    EXPECT_EQ(report.catalogue_items, 20u);
    ASSERT_EQ(report.variants.size(), 2u);
    const VariantFeedback& va = report.variants[0];
    const VariantFeedback& vb = report.variants[1];
    EXPECT_EQ(va.variant, "A");
    EXPECT_EQ(va.requests, 1u);
    EXPECT_EQ(va.impressions, 4u);
    EXPECT_EQ(va.clicks, 1u);
    EXPECT_EQ(va.conversions, 2u);
    EXPECT_DOUBLE_EQ(va.ctr, 0.25);
    EXPECT_LT(va.ctr_low, 0.25);
    EXPECT_GT(va.ctr_high, 0.25);
    EXPECT_EQ(vb.variant, "B");
    EXPECT_EQ(vb.requests, 5u);
    EXPECT_EQ(vb.impressions, 20u);
    EXPECT_EQ(vb.clicks, 5u);
    EXPECT_EQ(report.total.impressions, 24u);
    EXPECT_EQ(report.total.clicks, 6u);
    // Coverage and concentration: B showed the same trending items to everyone.
    EXPECT_EQ(vb.items_shown, 4u);
    EXPECT_DOUBLE_EQ(vb.coverage, 4.0 / 20);
    EXPECT_NEAR(vb.gini, 0.8, 1e-9);  // 4 of 20 items share everything equally
    ASSERT_EQ(report.items.size(), 3u);
    EXPECT_GE(report.items[0].impressions, report.items[1].impressions);

    AbQuery ab;
    ab.collection = "line";
    ab.a = "A";
    ab.b = "B";
    AbReport test;
    ASSERT_TRUE(engine_->AbTest(ab, &test).ok());
    ASSERT_EQ(test.metrics.size(), 2u);
    EXPECT_EQ(test.metrics[0].metric, "ctr");
    EXPECT_DOUBLE_EQ(test.metrics[0].a, 0.25);
    EXPECT_DOUBLE_EQ(test.metrics[0].b, 0.25);
    EXPECT_NEAR(test.metrics[0].difference, 0.0, 1e-12);
    EXPECT_LT(test.metrics[0].low, 0);
    EXPECT_GT(test.metrics[0].high, 0);
    EXPECT_FALSE(test.metrics[0].significant);
    EXPECT_NEAR(test.metrics[0].p_value, 1.0, 1e-9);
    EXPECT_EQ(test.metrics[1].metric, "conversion_rate");
    EXPECT_DOUBLE_EQ(test.metrics[1].a, 0.5);
    EXPECT_DOUBLE_EQ(test.metrics[1].b, 0.0);
    ab.b = "C";
    Status missing = engine_->AbTest(ab, &test);
    EXPECT_TRUE(missing.IsNotFound());
    EXPECT_NE(missing.message().find("variants: A, B"), std::string::npos) << missing.message();
  };
  check();
  Open();  // logged impressions and attributions are in RocksDB
  check();
}

TEST_F(EventsEngineTest, ContentHybridAndHistoryStrategiesUseTheContentSpaces) {
  Open();
  CollectionConfig c;
  c.name = "cc";
  c.spaces = {SpaceConfig{"c", "none", {}, 2, "cosine", "Flat", {}}};
  ASSERT_TRUE(engine_->CreateCollection(c).ok());
  // Items 0-19 point one way, 20-39 the other; each user keeps to one group.
  std::mt19937 rng(11);
  std::vector<ItemInput> items;
  for (int i = 0; i < 40; ++i) {
    ItemInput in;
    in.id = "i" + std::to_string(i);
    const float jitter = 0.1f * static_cast<float>(rng() % 10) / 10;
    in.vectors["c"] = i < 20 ? std::vector<float>{1, jitter} : std::vector<float>{jitter, 1};
    items.push_back(in);
  }
  ASSERT_TRUE(engine_->Upsert("cc", items).ok());
  const std::vector<EventInput> events = TasteGroups(12, "view", [](int u) { return u % 2 == 1; });
  EventsResult r;
  ASSERT_TRUE(engine_->AddEvents("cc", events, &r).ok());
  EvalRequest eval;
  eval.collection = "cc";
  eval.k = 5;
  eval.strategies = {"most-popular", "content", "history-profile", "hybrid"};
  std::vector<EvalResult> results;
  Status st = engine_->Evaluate(eval, &results);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(results.size(), 4u);
  std::map<std::string, EvalResult> by;
  for (const auto& x : results) {
    EXPECT_TRUE(x.error.empty()) << x.strategy << ": " << x.error;
    by[x.strategy] = x;
  }
  // The content profile finds the user's group; most-popular mixes both.
  EXPECT_GT(by["content"].recall, by["most-popular"].recall * 1.3);
  EXPECT_GT(by["history-profile"].recall, by["most-popular"].recall);
  EXPECT_GE(by["hybrid"].ndcg, 0.0);
  EXPECT_NE(by["hybrid"].detail.find("content weight"), std::string::npos) << by["hybrid"].detail;
  eval.strategies = {"nope"};
  EXPECT_EQ(engine_->Evaluate(eval, &results).code(), Status::Code::kInvalidArgument);
}

TEST_F(EventsEngineTest, ScheduledRetrainingRunsInTheBackground) {
  Open(TEST_PLUGIN_DIR, /*background=*/true);
  CollectionConfig c;
  c.name = "cf";
  c.spaces = {SpaceConfig{"bpr", "collaborative", {}, 9, "ip", "Flat", {}}};
  c.unknown_items = "create";
  c.retrain_interval_s = 1;
  c.retrain_min_events = 100;
  c.retrain_epochs = 3;
  ASSERT_TRUE(engine_->CreateCollection(c).ok());
  auto add = [&](int count) {
    std::vector<EventInput> events;
    for (int n = 0; n < count; ++n) {
      events.push_back(
          {"u" + std::to_string(n % 20), "i" + std::to_string(n % 30), "click", 1, 1000 + n, ""});
    }
    EventsResult r;
    ASSERT_TRUE(engine_->AddEvents("cf", events, &r).ok());
  };
  add(50);  // fewer than retrain_min_events: nothing happens
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CollectionStats stats;
  ASSERT_TRUE(engine_->Stats("cf", &stats).ok());
  EXPECT_EQ(stats.spaces[0].train_state, "");
  add(200);
  auto wait_done = [&](int64_t after) {
    for (int i = 0; i < 400; ++i) {  // up to 40 s on a loaded machine
      ASSERT_TRUE(engine_->Stats("cf", &stats).ok());
      if (stats.spaces[0].train_state == "done" && stats.spaces[0].trained_ms > after) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL() << "no scheduled training finished; state '" << stats.spaces[0].train_state << "'";
  };
  wait_done(0);
  EXPECT_EQ(stats.spaces[0].vectors, 30u);
  EXPECT_EQ(stats.spaces[0].train_epochs, 40u);  // a first training starts from scratch
  // More events: the next one is incremental, with retrain_epochs.
  const int64_t first = stats.spaces[0].trained_ms;
  add(150);
  wait_done(first);
  EXPECT_EQ(stats.spaces[0].train_epochs, 3u);
  // A manual training in the background while none runs.
  TrainRequest t;
  t.collection = "cf";
  t.epochs = 5;
  t.wait = false;
  TrainResult result;
  ASSERT_TRUE(engine_->Train(t, &result).ok());
  wait_done(stats.spaces[0].trained_ms);
  EXPECT_EQ(stats.spaces[0].train_epoch, 5u);
}

TEST_F(EventsEngineTest, EaseItemModelServesRecommendationsAndSurvivesRestarts) {
  Open();
  CollectionConfig c;
  c.name = "shop";
  c.spaces = {SpaceConfig{"v", "none", {}, 2, "cosine", "Flat", {}}};
  c.unknown_items = "create";
  ASSERT_TRUE(engine_->CreateCollection(c).ok());
  RecommendQuery q;
  q.collection = "shop";
  q.user = "u3";
  q.k = 5;
  q.model = "ease";
  std::vector<Recommendation> recs;
  Status st = engine_->Recommend(q, &recs);
  EXPECT_EQ(st.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("--model ease"), std::string::npos) << st.message();
  // Two taste groups of 20 items each (placeholders: no vectors at all).
  const std::vector<EventInput> events = TasteGroups(5, "view", [](int u) { return u >= 30; });
  EventsResult r;
  ASSERT_TRUE(engine_->AddEvents("shop", events, &r).ok());
  TrainRequest t;
  t.collection = "shop";
  t.model = "ease";
  t.neighbours = 10;
  TrainResult trained;
  ASSERT_TRUE(engine_->Train(t, &trained).ok());
  EXPECT_EQ(trained.items, 40u);
  EXPECT_EQ(trained.users, 60u);
  t.model = "magic";
  EXPECT_EQ(engine_->Train(t, &trained).code(), Status::Code::kInvalidArgument);

  auto check = [&] {
    q.explain = true;
    ASSERT_TRUE(engine_->Recommend(q, &recs).ok());
    ASSERT_EQ(recs.size(), 5u);
    for (const auto& rec : recs) {
      EXPECT_LT(std::stoi(rec.id.substr(1)), 20) << rec.id;  // u3 is in group 0
      EXPECT_TRUE(rec.parts.count("model:ease")) << rec.id;
      EXPECT_GT(rec.score, 0);
    }
    // From examples too, and a filter that matches nothing gives nothing.
    RecommendQuery like;
    like.collection = "shop";
    like.positive = {"i25"};
    like.model = "ease";
    like.k = 3;
    ASSERT_TRUE(engine_->Recommend(like, &recs).ok());
    ASSERT_FALSE(recs.empty());
    for (const auto& rec : recs) EXPECT_GE(std::stoi(rec.id.substr(1)), 20) << rec.id;
  };
  check();
  Open();  // the model's storage id is in the collection config
  check();
  // Retraining replaces the model (the old rows go); a restart keeps the new one.
  t.model = "ease";
  t.neighbours = 5;
  ASSERT_TRUE(engine_->Train(t, &trained).ok());
  check();
  Open();
  check();
  q.model = "svd";
  EXPECT_EQ(engine_->Recommend(q, &recs).code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace engine
}  // namespace reco
