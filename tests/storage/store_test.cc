#include <gtest/gtest.h>

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "storage/store.h"
#include "testutil/temp_dir.h"

namespace reco {
namespace storage {
namespace {

std::unique_ptr<Store> OpenStore(const std::string& dir) {
  std::unique_ptr<Store> store;
  Status st = Store::Open(dir, StoreOptions(), &store);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return store;
}

ItemWrite MakeWrite(const std::string& id, uint64_t iid, std::vector<float> v) {
  ItemWrite w;
  w.item.id = id;
  w.item.internal_id = iid;
  w.item.text = "text of " + id;
  w.item.attributes["n"] = static_cast<double>(iid);
  VectorRecord rec;
  rec.space = 0;
  rec.provenance = {"text", "1.0.0", "fp"};
  rec.values = std::move(v);
  w.vectors.push_back(rec);
  return w;
}

TEST(Store, CollectionsGetIdsAndSurviveReopen) {
  testing::TempDir dir;
  {
    auto store = OpenStore(dir.path());
    CollectionRecord a{0, "shop", "{cfg-a}", 0}, b{0, "media", "{cfg-b}", 0};
    ASSERT_TRUE(store->CreateCollection(&a).ok());
    ASSERT_TRUE(store->CreateCollection(&b).ok());
    EXPECT_NE(a.id, b.id);
    CollectionRecord dup{0, "shop", "", 0};
    EXPECT_EQ(store->CreateCollection(&dup).code(), Status::Code::kAlreadyExists);
  }
  auto store = OpenStore(dir.path());
  std::vector<CollectionRecord> all;
  ASSERT_TRUE(store->ListCollections(&all).ok());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "media");
  EXPECT_EQ(all[0].config, "{cfg-b}");
  EXPECT_EQ(all[1].name, "shop");
  EXPECT_EQ(all[1].next_item_id, 1u);
}

TEST(Store, WritesItemsIdsAndVectorsTogether) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  CollectionRecord c{0, "shop", "{}", 0};
  ASSERT_TRUE(store->CreateCollection(&c).ok());
  std::vector<ItemWrite> writes = {MakeWrite("a", 1, {1, 2, 3}), MakeWrite("b", 2, {4, 5, 6})};
  ASSERT_TRUE(store->WriteItems(c.id, writes, {3, 1}).ok());

  uint64_t iid = 0;
  ASSERT_TRUE(store->LookupId(c.id, "b", &iid).ok());
  EXPECT_EQ(iid, 2u);
  Item item;
  ASSERT_TRUE(store->GetItem(c.id, 2, &item).ok());
  EXPECT_EQ(item.text, "text of b");
  VectorRecord v;
  ASSERT_TRUE(store->GetVector(c.id, 0, 2, &v).ok());
  EXPECT_EQ(v.values, (std::vector<float>{4, 5, 6}));
  EXPECT_EQ(v.provenance.plugin, "text");
  EXPECT_EQ(v.provenance.fingerprint, "fp");

  std::vector<uint64_t> seen;
  ASSERT_TRUE(store
                  ->ScanVectors(c.id, 0,
                                [&](uint64_t id, const float* x, size_t d) {
                                  EXPECT_EQ(d, 3u);
                                  EXPECT_EQ(x[0], id == 1 ? 1.0f : 4.0f);
                                  seen.push_back(id);
                                })
                  .ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2}));

  std::vector<CollectionRecord> all;
  ASSERT_TRUE(store->ListCollections(&all).ok());
  EXPECT_EQ(all[0].next_item_id, 3u);

  ASSERT_TRUE(store->DeleteItem(c.id, "a", 1, {0}, 0, {3, 2}).ok());
  EXPECT_TRUE(store->LookupId(c.id, "a", &iid).IsNotFound());
  EXPECT_TRUE(store->GetItem(c.id, 1, &item).IsNotFound());
  EXPECT_TRUE(store->GetVector(c.id, 0, 1, &v).IsNotFound());
  size_t items = 0;
  ASSERT_TRUE(store->ScanItems(c.id, [&](const Item&) { ++items; }).ok());
  EXPECT_EQ(items, 1u);
}

TEST(Store, ClearSpacesRemovesAnOldVector) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  CollectionRecord c{0, "shop", "{}", 0};
  ASSERT_TRUE(store->CreateCollection(&c).ok());
  ASSERT_TRUE(store->WriteItems(c.id, {MakeWrite("a", 1, {1, 2})}, {2, 1}).ok());
  ItemWrite w = MakeWrite("a", 1, {});
  w.vectors.clear();
  w.clear_spaces = {0};
  ASSERT_TRUE(store->WriteItems(c.id, {w}, {2, 2}).ok());
  VectorRecord v;
  EXPECT_TRUE(store->GetVector(c.id, 0, 1, &v).IsNotFound());
}

TEST(Store, DropRemovesEverythingOfOneCollectionOnly) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  CollectionRecord a{0, "a", "{}", 0}, b{0, "b", "{}", 0};
  ASSERT_TRUE(store->CreateCollection(&a).ok());
  ASSERT_TRUE(store->CreateCollection(&b).ok());
  ASSERT_TRUE(store->WriteItems(a.id, {MakeWrite("x", 1, {1})}, {2, 1}).ok());
  ASSERT_TRUE(store->WriteItems(b.id, {MakeWrite("x", 1, {2})}, {2, 1}).ok());
  ASSERT_TRUE(store->DropCollection(a).ok());
  uint64_t iid;
  EXPECT_TRUE(store->LookupId(a.id, "x", &iid).IsNotFound());
  ASSERT_TRUE(store->LookupId(b.id, "x", &iid).ok());
  VectorRecord v;
  ASSERT_TRUE(store->GetVector(b.id, 0, 1, &v).ok());
  EXPECT_EQ(v.values[0], 2.0f);
  std::vector<CollectionRecord> all;
  ASSERT_TRUE(store->ListCollections(&all).ok());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].name, "b");
}

TEST(Store, OpeningAFileThatIsNotADatabaseFails) {
  testing::TempDir dir;
  std::unique_ptr<Store> store;
  StoreOptions options;
  options.create_if_missing = false;
  Status st = Store::Open(dir.Sub("missing"), options, &store);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("missing"), std::string::npos) << st.message();
}

TEST(Store, ChangeRecordsReplayTrimAndSurviveReopen) {
  testing::TempDir dir;
  uint32_t cid = 0;
  {
    auto store = OpenStore(dir.path());
    CollectionRecord c{0, "shop", "{}", 0};
    ASSERT_TRUE(store->CreateCollection(&c).ok());
    cid = c.id;
    ASSERT_TRUE(
        store->WriteItems(c.id, {MakeWrite("a", 1, {1}), MakeWrite("b", 2, {2})}, {3, 1}).ok());
    ASSERT_TRUE(store->WriteItems(c.id, {MakeWrite("c", 3, {3})}, {4, 2}).ok());
    ASSERT_TRUE(store->DeleteItem(c.id, "a", 1, {0}, 0, {4, 3}).ok());
  }
  auto store = OpenStore(dir.path());
  std::vector<CollectionRecord> all;
  ASSERT_TRUE(store->ListCollections(&all).ok());
  EXPECT_EQ(all[0].change_seq, 3u);
  EXPECT_EQ(all[0].next_item_id, 4u);
  std::vector<std::pair<uint64_t, std::vector<uint64_t>>> seen;
  auto collect = [&](uint64_t seq, const std::vector<uint64_t>& ids) {
    seen.push_back({seq, ids});
  };
  ASSERT_TRUE(store->ScanChanges(cid, 0, collect).ok());
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].second, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(seen[2].first, 3u);
  EXPECT_EQ(seen[2].second, (std::vector<uint64_t>{1}));
  seen.clear();
  ASSERT_TRUE(store->ScanChanges(cid, 1, collect).ok());
  EXPECT_EQ(seen.size(), 2u);
  ASSERT_TRUE(store->TrimChanges(cid, 2).ok());
  seen.clear();
  ASSERT_TRUE(store->ScanChanges(cid, 0, collect).ok());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first, 3u);
}

TEST(Store, SnapshotScansDoNotSeeLaterWritesAndCheckpointsOpen) {
  testing::TempDir dir;
  auto store = OpenStore(dir.Sub("db"));
  CollectionRecord c{0, "shop", "{}", 0};
  ASSERT_TRUE(store->CreateCollection(&c).ok());
  ASSERT_TRUE(store->WriteItems(c.id, {MakeWrite("a", 1, {1})}, {2, 1}).ok());
  auto snap = store->GetSnapshot();
  ASSERT_TRUE(store->WriteItems(c.id, {MakeWrite("b", 2, {2})}, {3, 2}).ok());
  size_t n = 0;
  ASSERT_TRUE(store
                  ->ScanVectors(
                      c.id, 0, [&](uint64_t, const float*, size_t) { ++n; }, snap.get())
                  .ok());
  EXPECT_EQ(n, 1u);
  n = 0;
  ASSERT_TRUE(store->ScanVectors(c.id, 0, [&](uint64_t, const float*, size_t) { ++n; }).ok());
  EXPECT_EQ(n, 2u);

  ASSERT_TRUE(store->Checkpoint(dir.Sub("backup")).ok());
  EXPECT_FALSE(store->Checkpoint(dir.Sub("backup")).ok());  // exists already
  ASSERT_TRUE(store->WriteItems(c.id, {MakeWrite("c", 3, {3})}, {4, 3}).ok());
  store.reset();
  auto copy = OpenStore(dir.Sub("backup"));
  uint64_t iid;
  EXPECT_TRUE(copy->LookupId(c.id, "b", &iid).ok());
  EXPECT_TRUE(copy->LookupId(c.id, "c", &iid).IsNotFound());
}

TEST(Store, ContentsAreReplacedAndDeletedWithTheirItem) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  CollectionRecord c{0, "shop", "{}", 0};
  ASSERT_TRUE(store->CreateCollection(&c).ok());
  ItemWrite w = MakeWrite("a", 1, {1});
  std::string big(100000, 'x');
  w.contents = {{"image/png", big}, {"application/dicom", "DICM"}};
  ASSERT_TRUE(store->WriteItems(c.id, {w}, {2, 1}).ok());
  std::vector<Content> got;
  ASSERT_TRUE(store->GetContents(c.id, 1, &got).ok());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].content_type, "image/png");
  EXPECT_EQ(got[0].data, big);
  EXPECT_EQ(got[1].data, "DICM");
  Item item;
  ASSERT_TRUE(store->GetItem(c.id, 1, &item).ok());
  EXPECT_EQ(item.contents, 2u);

  ItemWrite update = MakeWrite("a", 1, {2});
  update.contents = {{"image/jpeg", "jpeg bytes"}};
  update.previous_contents = item.contents;
  ASSERT_TRUE(store->WriteItems(c.id, {update}, {2, 2}).ok());
  ASSERT_TRUE(store->GetContents(c.id, 1, &got).ok());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].content_type, "image/jpeg");

  ASSERT_TRUE(store->DeleteItem(c.id, "a", 1, {0}, 1, {2, 3}).ok());
  ASSERT_TRUE(store->GetContents(c.id, 1, &got).ok());
  EXPECT_TRUE(got.empty());
}

TEST(Store, EventsByUserAndTimeWithCountersAndRetention) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  CollectionRecord c{0, "shop", "{}", 0};
  ASSERT_TRUE(store->CreateCollection(&c).ok());
  const int64_t day = 86400000;
  std::vector<EventRecord> events = {{1, 10, 0, 1, 5 * day + 1},
                                     {1, 11, 1, 1, 5 * day + 2},
                                     {2, 10, 0, 4.5f, 6 * day},
                                     {1, 12, 0, 1, 7 * day}};
  ASSERT_TRUE(store->WriteEvents(c.id, {{"alice", 1}, {"bob", 2}}, 3, events).ok());
  // The same event again is idempotent (no double count): re-sent later, twice in one batch,
  // and after a reopen (the newest-event cache starts empty).
  ASSERT_TRUE(store->WriteEvents(c.id, {}, 3, {events[0]}).ok());
  const EventRecord later{2, 13, 0, 1, 8 * day};
  ASSERT_TRUE(store->WriteEvents(c.id, {}, 3, {later, later}).ok());
  store.reset();
  store = OpenStore(dir.path());
  ASSERT_TRUE(store->WriteEvents(c.id, {}, 3, {later, events[2]}).ok());
  uint64_t later_count = 0;
  ASSERT_TRUE(store
                  ->ScanCounts(c.id, 8, 8,
                               [&](int32_t, uint8_t, uint64_t item, uint64_t n) {
                                 if (item == 13) later_count += n;
                               })
                  .ok());
  EXPECT_EQ(later_count, 1u);
  uint64_t uid = 0, next = 0;
  ASSERT_TRUE(store->LookupUser(c.id, "bob", &uid).ok());
  EXPECT_EQ(uid, 2u);
  EXPECT_TRUE(store->LookupUser(c.id, "carol", &uid).IsNotFound());
  ASSERT_TRUE(store->NextUserId(c.id, &next).ok());
  EXPECT_EQ(next, 3u);

  std::vector<int64_t> times;
  ASSERT_TRUE(store
                  ->ScanUserEvents(c.id, 1,
                                   [&](const EventRecord& e) {
                                     times.push_back(e.time_ms);
                                     return true;
                                   })
                  .ok());
  EXPECT_EQ(times, (std::vector<int64_t>{7 * day, 5 * day + 2, 5 * day + 1}));  // newest first
  size_t all = 0;
  ASSERT_TRUE(store->ScanEvents(c.id, [&](const EventRecord&) { ++all; }).ok());
  EXPECT_EQ(all, 5u);

  std::map<std::pair<int32_t, uint64_t>, uint64_t> counts;
  ASSERT_TRUE(store
                  ->ScanCounts(c.id, 5, 6,
                               [&](int32_t d, uint8_t type, uint64_t item, uint64_t n) {
                                 if (type == 0) counts[{d, item}] += n;
                               })
                  .ok());
  EXPECT_EQ(counts[std::make_pair(5, uint64_t{10})], 1u);
  EXPECT_EQ(counts[std::make_pair(6, uint64_t{10})], 1u);
  EXPECT_EQ(counts.count(std::make_pair(7, uint64_t{12})), 0u);  // day 7 outside the range

  ASSERT_TRUE(store->DropEventsBefore(c.id, 6 * day).ok());
  all = 0;
  ASSERT_TRUE(store->ScanEvents(c.id, [&](const EventRecord&) { ++all; }).ok());
  EXPECT_EQ(all, 3u);
  size_t old_counts = 0;
  ASSERT_TRUE(
      store->ScanCounts(c.id, 0, 5, [&](int32_t, uint8_t, uint64_t, uint64_t) { ++old_counts; })
          .ok());
  EXPECT_EQ(old_counts, 0u);
}

TEST(Store, ImpressionsAttributionsFeedbackCountersAndTheirRetention) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  CollectionRecord c{0, "shop", "{}", 0};
  ASSERT_TRUE(store->CreateCollection(&c).ok());
  const int64_t day = 86400000;
  ImpressionRecord old{11, 1, 2 * day + 5, "A", {100, 101, 102}};
  ImpressionRecord recent{12, 1, 9 * day, "B", {101, 103}};
  ImpressionRecord other{13, 2, 9 * day + 1, "A", {100}};
  ASSERT_TRUE(store->WriteImpression(c.id, {{"ann", 1}}, 2, old).ok());
  ASSERT_TRUE(store->WriteImpression(c.id, {}, 2, recent).ok());
  ASSERT_TRUE(store->WriteImpression(c.id, {{"bob", 2}}, 3, other).ok());
  uint64_t uid = 0;
  ASSERT_TRUE(store->LookupUser(c.id, "bob", &uid).ok());  // introduced by its impression
  EXPECT_EQ(uid, 2u);

  ImpressionRecord got;
  ASSERT_TRUE(store->GetImpression(c.id, 12, &got).ok());
  EXPECT_EQ(got.user, 1u);
  EXPECT_EQ(got.time_ms, 9 * day);
  EXPECT_EQ(got.variant, "B");
  EXPECT_EQ(got.items, (std::vector<uint64_t>{101, 103}));
  EXPECT_TRUE(store->GetImpression(c.id, 99, &got).IsNotFound());
  // A user's impressions newest first, from a time on; other users' are not seen.
  std::vector<uint64_t> requests;
  auto scan = [&](int64_t since) {
    requests.clear();
    EXPECT_TRUE(store
                    ->ScanUserImpressions(c.id, 1, since,
                                          [&](const ImpressionRecord& r) {
                                            requests.push_back(r.request);
                                            return true;
                                          })
                    .ok());
  };
  scan(0);
  EXPECT_EQ(requests, (std::vector<uint64_t>{12, 11}));
  scan(3 * day);
  EXPECT_EQ(requests, (std::vector<uint64_t>{12}));

  // An attribution is written with its event and counted once on the impression's day.
  AttributionRecord click{12, 103, FeedbackMetric::kClicks, 9 * day, "B"};
  bool counted = true;
  ASSERT_TRUE(store->HasAttribution(c.id, click, &counted).ok());
  EXPECT_FALSE(counted);
  ASSERT_TRUE(
      store->WriteEventsAttributed(c.id, {}, 3, {{1, 103, 1, 1, 9 * day + 60000}}, {click}).ok());
  ASSERT_TRUE(store->HasAttribution(c.id, click, &counted).ok());
  EXPECT_TRUE(counted);
  std::map<std::tuple<int32_t, int, std::string, uint64_t>, uint64_t> counters;
  auto read = [&] {
    counters.clear();
    ASSERT_TRUE(store
                    ->ScanFeedback(c.id, 0, 20,
                                   [&](int32_t d, FeedbackMetric m, const std::string& v,
                                       uint64_t item, uint64_t n) {
                                     counters[{d, static_cast<int>(m), v, item}] += n;
                                   })
                    .ok());
  };
  read();
  EXPECT_EQ((counters[{2, 0, "A", 0}]), 1u);  // requests
  EXPECT_EQ((counters[{9, 0, "A", 0}]), 1u);
  EXPECT_EQ((counters[{9, 1, "B", 101}]), 1u);  // impressions
  EXPECT_EQ((counters[{2, 1, "A", 100}]), 1u);
  EXPECT_EQ((counters[{9, 2, "B", 103}]), 1u);  // the click
  EXPECT_EQ(counters.size(), 10u);

  // Retention drops the old impression, its request index and its counters; the rest stays.
  ASSERT_TRUE(store->DropEventsBefore(c.id, 5 * day).ok());
  EXPECT_TRUE(store->GetImpression(c.id, 11, &got).IsNotFound());
  ASSERT_TRUE(store->GetImpression(c.id, 12, &got).ok());
  scan(0);
  EXPECT_EQ(requests, (std::vector<uint64_t>{12}));
  read();
  EXPECT_EQ(counters.count({2, 0, "A", 0}), 0u);
  EXPECT_EQ((counters[{9, 2, "B", 103}]), 1u);
  // Dropping the collection drops them all.
  ASSERT_TRUE(store->DropCollection(c).ok());
  EXPECT_TRUE(store->GetImpression(c.id, 12, &got).IsNotFound());
}

}  // namespace
}  // namespace storage
}  // namespace reco
