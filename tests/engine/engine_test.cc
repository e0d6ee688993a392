#include <gtest/gtest.h>

#include "engine/engine.h"
#include "testutil/temp_dir.h"

namespace reco {
namespace engine {
namespace {

class EngineTest : public ::testing::Test {
 protected:
  void Open(const std::string& plugin_dir = TEST_PLUGIN_DIR) {
    engine_.reset();
    EngineOptions o;
    o.data_dir = dir_.Sub("data");
    o.plugin_dir = plugin_dir;
    o.max_k = 100;
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
  ASSERT_TRUE(engine_->Upsert("shop", {MakeItem("d", "dddd", {0, 0, 1})}).ok());
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
  c.spaces = {SpaceConfig{"s", "hello", {}, 0, "cosine", "Flat"}};
  EXPECT_EQ(engine_->CreateCollection(c).code(), Status::Code::kInvalidArgument);
  c.name = "shop";
  c.spaces = {};
  EXPECT_EQ(engine_->CreateCollection(c).code(), Status::Code::kInvalidArgument);
  c.spaces = {SpaceConfig{"s", "missing-plugin", {}, 0, "cosine", "Flat"}};
  EXPECT_TRUE(engine_->CreateCollection(c).IsNotFound());
  c.spaces = {SpaceConfig{"s", "hello", {}, 0, "cosine", "Bogus12"}};
  Status st = engine_->CreateCollection(c);
  EXPECT_NE(st.message().find("Bogus12"), std::string::npos) << st.message();
  c.spaces = {SpaceConfig{"s", "hello", {}, 0, "manhattan", "Flat"}};
  EXPECT_FALSE(engine_->CreateCollection(c).ok());
  c.spaces = {SpaceConfig{"s", "none", {}, 0, "cosine", "Flat"}};
  EXPECT_FALSE(engine_->CreateCollection(c).ok());
  c.spaces = {SpaceConfig{"s", "hello", {}, 7, "cosine", "Flat"}};
  EXPECT_FALSE(engine_->CreateCollection(c).ok());  // dim does not match the plugin
  c.spaces = {SpaceConfig{"s", "hello", {}, 0, "cosine", "HNSW16"},
              SpaceConfig{"v", "none", {}, 8, "ip", "IVF4,Flat"}};
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

}  // namespace
}  // namespace engine
}  // namespace reco
