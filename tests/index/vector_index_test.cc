#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "index/vector_index.h"
#include "testutil/temp_dir.h"

#include <filesystem>
#include <fstream>
#include <set>

namespace reco {
namespace index {
namespace {

std::vector<float> RandomVectors(size_t n, size_t d, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist;
  std::vector<float> v(n * d);
  for (auto& x : v) x = dist(rng);
  return v;
}

float Score(const float* a, const float* b, size_t d, Metric m) {
  double dot = 0, na = 0, nb = 0, l2 = 0;
  for (size_t i = 0; i < d; ++i) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
    l2 += (a[i] - b[i]) * (a[i] - b[i]);
  }
  if (m == Metric::kL2) return static_cast<float>(-l2);
  if (m == Metric::kCosine) return static_cast<float>(dot / std::sqrt(na * nb));
  return static_cast<float>(dot);
}

// Brute-force top k ids over the live (id -> vector) set.
std::vector<uint64_t> BruteForce(const std::vector<uint64_t>& ids, const std::vector<float>& x,
                                 const float* q, size_t d, size_t k, Metric m) {
  std::vector<std::pair<float, uint64_t>> scored;
  for (size_t i = 0; i < ids.size(); ++i) scored.push_back({Score(&x[i * d], q, d, m), ids[i]});
  std::sort(scored.begin(), scored.end(), [](auto& a, auto& b) { return a.first > b.first; });
  std::vector<uint64_t> out;
  for (size_t i = 0; i < std::min(k, scored.size()); ++i) out.push_back(scored[i].second);
  return out;
}

std::unique_ptr<VectorIndex> Make(const std::string& spec, uint32_t dim, Metric m,
                                  size_t train_threshold = 0) {
  IndexOptions o;
  o.spec = spec;
  o.dim = dim;
  o.metric = m;
  o.train_threshold = train_threshold;
  o.train_inline = true;
  std::unique_ptr<VectorIndex> index;
  Status st = VectorIndex::Create(o, &index);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return index;
}

std::vector<uint64_t> Ids(const std::vector<Neighbor>& ns) {
  std::vector<uint64_t> out;
  for (const auto& n : ns) out.push_back(n.id);
  return out;
}

class FlatMetrics : public ::testing::TestWithParam<Metric> {};

TEST_P(FlatMetrics, FlatEqualsBruteForceWithLargeIds) {
  const size_t n = 500, d = 16, k = 10;
  auto x = RandomVectors(n, d, 1);
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = (uint64_t{1} << 40) + i * 7;  // sparse, large labels
  auto index = Make("Flat", d, GetParam());
  ASSERT_TRUE(index->Add(ids.data(), x.data(), n).ok());
  EXPECT_EQ(index->size(), n);
  auto queries = RandomVectors(20, d, 2);
  for (size_t qi = 0; qi < 20; ++qi) {
    std::vector<Neighbor> got;
    ASSERT_TRUE(index->Search(&queries[qi * d], k, {}, nullptr, &got).ok());
    EXPECT_EQ(Ids(got), BruteForce(ids, x, &queries[qi * d], d, k, GetParam()));
    for (size_t i = 1; i < got.size(); ++i) EXPECT_GE(got[i - 1].score, got[i].score);
    size_t top = (got[0].id - (uint64_t{1} << 40)) / 7;
    EXPECT_NEAR(got[0].score, Score(&x[top * d], &queries[qi * d], d, GetParam()), 1e-3);
  }
}

INSTANTIATE_TEST_SUITE_P(Metrics, FlatMetrics,
                         ::testing::Values(Metric::kCosine, Metric::kInnerProduct, Metric::kL2));

TEST(VectorIndex, ScoresAreTheMetricValues) {
  auto index = Make("Flat", 2, Metric::kL2);
  uint64_t ids[] = {5, 6};
  float x[] = {0, 0, 3, 4};
  ASSERT_TRUE(index->Add(ids, x, 2).ok());
  float q[] = {0, 0};
  std::vector<Neighbor> got;
  ASSERT_TRUE(index->Search(q, 2, {}, nullptr, &got).ok());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id, 5u);
  EXPECT_FLOAT_EQ(got[0].score, 0.0f);
  EXPECT_FLOAT_EQ(got[1].score, -25.0f);

  auto cos = Make("Flat", 2, Metric::kCosine);
  float y[] = {10, 0, 1, 1};
  ASSERT_TRUE(cos->Add(ids, y, 2).ok());
  float q2[] = {2, 0};
  ASSERT_TRUE(cos->Search(q2, 2, {}, nullptr, &got).ok());
  EXPECT_NEAR(got[0].score, 1.0f, 1e-6);
  EXPECT_NEAR(got[1].score, std::sqrt(0.5f), 1e-6);
}

class AllSpecs : public ::testing::TestWithParam<std::string> {};

TEST_P(AllSpecs, RemoveAndUpdateKeepKResultsAndNeverReturnRemovedIds) {
  const size_t n = 2000, d = 8, k = 10;
  auto x = RandomVectors(n, d, 3);
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = i + 100;
  auto index = Make(GetParam(), d, Metric::kL2, /*train_threshold=*/1000);
  ASSERT_TRUE(index->Add(ids.data(), x.data(), n).ok());
  EXPECT_TRUE(index->Stats().trained);

  // Remove every other id; update some of the survivors to a far-away point.
  std::vector<uint64_t> removed;
  for (size_t i = 0; i < n; i += 2) removed.push_back(ids[i]);
  ASSERT_TRUE(index->Remove(removed.data(), removed.size()).ok());
  EXPECT_EQ(index->size(), n / 2);
  std::vector<float> far(d, 1000.0f);
  uint64_t moved = ids[1];
  ASSERT_TRUE(index->Add(&moved, far.data(), 1).ok());
  EXPECT_EQ(index->size(), n / 2);

  auto queries = RandomVectors(10, d, 4);
  for (size_t qi = 0; qi < 10; ++qi) {
    std::vector<Neighbor> got;
    ASSERT_TRUE(index->Search(&queries[qi * d], k, {}, nullptr, &got).ok());
    EXPECT_EQ(got.size(), k);
    for (const auto& nb : got) {
      EXPECT_EQ((nb.id - 100) % 2, 1u) << "removed id " << nb.id << " returned";
      EXPECT_NE(nb.id, moved) << "updated vector found at its old place";
    }
  }
  std::vector<Neighbor> got;
  ASSERT_TRUE(index->Search(far.data(), 1, {}, nullptr, &got).ok());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, moved);
  EXPECT_TRUE(index->Contains(moved));
  EXPECT_FALSE(index->Contains(ids[0]));
}

INSTANTIATE_TEST_SUITE_P(Specs, AllSpecs,
                         ::testing::Values("Flat", "HNSW16", "IVF16,Flat", "IVF8,PQ4x4", "SQ8"));

TEST(VectorIndex, IvfAnswersExactlyUntilTrained) {
  const size_t d = 8;
  auto index = Make("IVF16,Flat", d, Metric::kCosine, /*train_threshold=*/700);
  auto x = RandomVectors(1000, d, 5);
  std::vector<uint64_t> ids(1000);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = i;
  ASSERT_TRUE(index->Add(ids.data(), x.data(), 600).ok());
  EXPECT_FALSE(index->Stats().trained);
  std::vector<Neighbor> got;
  ASSERT_TRUE(index->Search(&x[5 * d], 5, {}, nullptr, &got).ok());
  std::vector<uint64_t> live(ids.begin(), ids.begin() + 600);
  EXPECT_EQ(Ids(got), BruteForce(live, x, &x[5 * d], d, 5, Metric::kCosine));
  ASSERT_TRUE(index->Add(ids.data() + 600, x.data() + 600 * d, 400).ok());
  EXPECT_TRUE(index->Stats().trained);
  EXPECT_EQ(index->size(), 1000u);
  ASSERT_TRUE(index->Search(&x[5 * d], 1, {}, nullptr, &got).ok());
  EXPECT_EQ(got[0].id, 5u);
}

TEST(VectorIndex, HnswCountsTombstones) {
  auto index = Make("HNSW8", 4, Metric::kInnerProduct);
  auto x = RandomVectors(50, 4, 6);
  std::vector<uint64_t> ids(50);
  for (size_t i = 0; i < 50; ++i) ids[i] = i;
  ASSERT_TRUE(index->Add(ids.data(), x.data(), 50).ok());
  ASSERT_TRUE(index->Remove(ids.data(), 45).ok());
  EXPECT_EQ(index->Stats().tombstones, 45u);
  std::vector<Neighbor> got;
  ASSERT_TRUE(index->Search(x.data(), 10, {}, nullptr, &got).ok());
  EXPECT_EQ(got.size(), 5u);  // only five live vectors
  for (const auto& nb : got) EXPECT_GE(nb.id, 45u);
}

TEST(VectorIndex, RefusesBadSpecsDimsAndValues) {
  IndexOptions o;
  o.dim = 8;
  o.spec = "NoSuchIndex42";
  std::unique_ptr<VectorIndex> index;
  Status st = VectorIndex::Create(o, &index);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("NoSuchIndex42"), std::string::npos) << st.message();
  o.spec = "Flat";
  o.dim = 0;
  EXPECT_FALSE(VectorIndex::Create(o, &index).ok());

  auto flat = Make("Flat", 2, Metric::kL2);
  uint64_t id = 1;
  float bad[] = {1.0f, std::nanf("")};
  EXPECT_EQ(flat->Add(&id, bad, 1).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(flat->size(), 0u);
  std::vector<Neighbor> got;
  EXPECT_FALSE(flat->Search(bad, 1, {}, nullptr, &got).ok());
  float ok[] = {1, 2};
  EXPECT_FALSE(flat->Search(ok, 0, {}, nullptr, &got).ok());
  ASSERT_TRUE(flat->Search(ok, 3, {}, nullptr, &got).ok());
  EXPECT_TRUE(got.empty());

  Metric m;
  EXPECT_TRUE(ParseMetric("cosine", &m).ok());
  EXPECT_FALSE(ParseMetric("manhattan", &m).ok());
}

// A set of ids for filtered searches.
class SetFilter : public IdFilter {
 public:
  explicit SetFilter(std::set<uint64_t> ids) : ids_(std::move(ids)) {}
  bool Contains(uint64_t id) const override { return ids_.count(id) != 0; }
  size_t Count() const override { return ids_.size(); }
  void ForEach(const std::function<void(uint64_t)>& fn) const override {
    for (uint64_t id : ids_) fn(id);
  }

 private:
  std::set<uint64_t> ids_;
};

class FilteredSpecs : public ::testing::TestWithParam<std::string> {};

TEST_P(FilteredSpecs, FilteredSearchReturnsExactlyKMatchingIds) {
  const size_t n = 6000, d = 12, k = 10;
  auto x = RandomVectors(n, d, 7);
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = i + 1;
  auto index = Make(GetParam(), d, Metric::kL2, /*train_threshold=*/2000);
  ASSERT_TRUE(index->Add(ids.data(), x.data(), n).ok());
  auto queries = RandomVectors(5, d, 8);
  for (size_t modulus : {2u, 10u, 100u, 1000u}) {  // 50%, 10%, 1%, 0.1% selectivity
    std::set<uint64_t> keep;
    std::vector<uint64_t> kept_ids;
    std::vector<float> kept_x;
    for (size_t i = 0; i < n; ++i) {
      if (ids[i] % modulus == 0) {
        keep.insert(ids[i]);
        kept_ids.push_back(ids[i]);
        kept_x.insert(kept_x.end(), &x[i * d], &x[(i + 1) * d]);
      }
    }
    SetFilter filter(keep);
    for (size_t qi = 0; qi < 5; ++qi) {
      std::vector<Neighbor> got;
      ASSERT_TRUE(index->Search(&queries[qi * d], k, {}, &filter, &got).ok());
      EXPECT_EQ(got.size(), std::min(k, keep.size())) << GetParam() << " 1/" << modulus;
      for (const auto& nb : got) EXPECT_TRUE(keep.count(nb.id)) << nb.id;
      auto truth = BruteForce(kept_ids, kept_x, &queries[qi * d], d, k, Metric::kL2);
      // Exact paths: Flat always, and selective filters on indexes that keep raw vectors.
      const bool raw = GetParam() == "Flat" || GetParam() == "HNSW16" || GetParam() == "IVF16,Flat";
      if (GetParam() == "Flat" || (raw && modulus >= 100)) {
        EXPECT_EQ(Ids(got), truth) << GetParam() << " 1/" << modulus;
      } else {
        size_t hit = 0;
        for (auto id : Ids(got)) hit += std::count(truth.begin(), truth.end(), id);
        EXPECT_GE(hit, 6u) << GetParam() << " 1/" << modulus << ": recall too low";
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Specs, FilteredSpecs,
                         ::testing::Values("Flat", "HNSW16", "IVF16,Flat", "HNSW16,SQ8"));

class SavedSpecs : public ::testing::TestWithParam<std::string> {};

TEST_P(SavedSpecs, SaveAndLoadGiveTheSameAnswers) {
  testing::TempDir dir;
  const size_t n = 3000, d = 8;
  auto x = RandomVectors(n, d, 9);
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = 10 * i + 3;
  auto index = Make(GetParam(), d, Metric::kCosine, /*train_threshold=*/1500);
  ASSERT_TRUE(index->Add(ids.data(), x.data(), n).ok());
  ASSERT_TRUE(index->Remove(ids.data(), 100).ok());
  const std::string path = dir.Sub("index.bin");
  ASSERT_TRUE(index->Save(path).ok());
  std::unique_ptr<VectorIndex> loaded;
  Status st = VectorIndex::Load(index->options(), path, &loaded);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(loaded->size(), index->size());
  EXPECT_EQ(loaded->Stats().tombstones, index->Stats().tombstones);
  EXPECT_FALSE(loaded->Contains(ids[0]));
  EXPECT_TRUE(loaded->Contains(ids[100]));
  auto queries = RandomVectors(10, d, 10);
  for (size_t qi = 0; qi < 10; ++qi) {
    std::vector<Neighbor> a, b;
    ASSERT_TRUE(index->Search(&queries[qi * d], 10, {}, nullptr, &a).ok());
    ASSERT_TRUE(loaded->Search(&queries[qi * d], 10, {}, nullptr, &b).ok());
    EXPECT_EQ(Ids(a), Ids(b));
  }
  // The loaded index keeps working: updates and removals.
  ASSERT_TRUE(loaded->Add(ids.data(), x.data(), 10).ok());
  EXPECT_EQ(loaded->size(), index->size() + 10);

  // Another spec or dim is refused; a flipped byte or a truncated file is Corruption.
  IndexOptions other = index->options();
  other.dim = d + 1;
  EXPECT_EQ(VectorIndex::Load(other, path, &loaded).code(), Status::Code::kCorruption);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    char c;
    f.read(&c, 1);
    f.seekp(200);
    c ^= 0x40;
    f.write(&c, 1);
  }
  st = VectorIndex::Load(index->options(), path, &loaded);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_NE(st.message().find("checksum"), std::string::npos) << st.message();
  ASSERT_TRUE(index->Save(path).ok());
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 20);
  EXPECT_EQ(VectorIndex::Load(index->options(), path, &loaded).code(), Status::Code::kCorruption);
  EXPECT_TRUE(VectorIndex::Load(index->options(), dir.Sub("missing"), &loaded).IsNotFound());
}

INSTANTIATE_TEST_SUITE_P(Specs, SavedSpecs,
                         ::testing::Values("Flat", "HNSW16", "IVF16,Flat", "IVF8,PQ4x4", "SQ8",
                                           "HNSW8,SQ8"));

TEST(VectorIndex, UntrainedIndexAsksForARebuildInsteadOfTrainingInline) {
  IndexOptions o;
  o.spec = "IVF16,Flat";
  o.dim = 4;
  o.train_threshold = 1000;
  std::unique_ptr<VectorIndex> index;
  ASSERT_TRUE(VectorIndex::Create(o, &index).ok());
  auto x = RandomVectors(1200, 4, 11);
  std::vector<uint64_t> ids(1200);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = i;
  ASSERT_TRUE(index->Add(ids.data(), x.data(), 999).ok());
  EXPECT_FALSE(index->NeedsRebuild());
  ASSERT_TRUE(index->Add(ids.data() + 999, x.data() + 999 * 4, 201).ok());
  EXPECT_TRUE(index->NeedsRebuild());
  EXPECT_FALSE(index->Stats().trained);  // still exact
  // Training on demand uses everything held, and the index keeps all its vectors.
  ASSERT_TRUE(index->TrainNow().ok());
  EXPECT_TRUE(index->Stats().trained);
  EXPECT_FALSE(index->NeedsRebuild());
  EXPECT_EQ(index->size(), 1200u);
  std::vector<Neighbor> got;
  ASSERT_TRUE(index->Search(x.data() + 1100 * 4, 1, SearchParams{0, 16}, nullptr, &got).ok());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, 1100u);
}

TEST(VectorIndex, TrainedIndexAsksToBeRetrainedWhenItHasDoubled) {
  IndexOptions o;
  o.spec = "IVF16,Flat";
  o.dim = 4;
  o.train_threshold = 1000;
  std::unique_ptr<VectorIndex> index;
  ASSERT_TRUE(VectorIndex::Create(o, &index).ok());
  auto x = RandomVectors(2600, 4, 13);
  std::vector<uint64_t> ids(2600);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = i;
  ASSERT_TRUE(index->Add(ids.data(), x.data(), 1000).ok());
  ASSERT_TRUE(index->TrainNow().ok());
  EXPECT_FALSE(index->NeedsRebuild());
  ASSERT_TRUE(index->Add(ids.data() + 1000, x.data() + 1000 * 4, 999).ok());
  EXPECT_FALSE(index->NeedsRebuild());  // 1,999 < 2 x 1,000
  ASSERT_TRUE(index->Add(ids.data() + 1999, x.data() + 1999 * 4, 1).ok());
  EXPECT_TRUE(index->NeedsRebuild());
  // A rebuild (a fresh index given everything, then TrainNow) is trained on all 2,000.
  std::unique_ptr<VectorIndex> fresh;
  ASSERT_TRUE(VectorIndex::Create(o, &fresh).ok());
  ASSERT_TRUE(fresh->Add(ids.data(), x.data(), 2000).ok());
  ASSERT_TRUE(fresh->TrainNow().ok());
  EXPECT_FALSE(fresh->NeedsRebuild());
  ASSERT_TRUE(fresh->Add(ids.data() + 2000, x.data() + 2000 * 4, 600).ok());
  EXPECT_FALSE(fresh->NeedsRebuild());
  // Past FAISS's training sample (256 points per list, at least 256 x 256) it stops asking.
  o.train_threshold = 70000;
  std::unique_ptr<VectorIndex> big;
  ASSERT_TRUE(VectorIndex::Create(o, &big).ok());
  auto y = RandomVectors(140000, 4, 14);
  std::vector<uint64_t> big_ids(140000);
  for (size_t i = 0; i < big_ids.size(); ++i) big_ids[i] = i;
  ASSERT_TRUE(big->Add(big_ids.data(), y.data(), 70000).ok());
  ASSERT_TRUE(big->TrainNow().ok());
  ASSERT_TRUE(big->Add(big_ids.data() + 70000, y.data() + 70000 * 4, 70000).ok());
  EXPECT_FALSE(big->NeedsRebuild());
}

TEST(VectorIndex, HnswAsksForARebuildAfterManyRemovals) {
  auto index = Make("HNSW8", 4, Metric::kL2);
  auto x = RandomVectors(5000, 4, 12);
  std::vector<uint64_t> ids(5000);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = i;
  ASSERT_TRUE(index->Add(ids.data(), x.data(), 5000).ok());
  ASSERT_TRUE(index->Remove(ids.data(), 1000).ok());
  EXPECT_FALSE(index->NeedsRebuild());
  ASSERT_TRUE(index->Remove(ids.data() + 1000, 1000).ok());
  EXPECT_TRUE(index->NeedsRebuild());
  // A removed id that comes back is live again and no longer a tombstone.
  ASSERT_TRUE(index->Add(ids.data(), x.data(), 1).ok());
  EXPECT_TRUE(index->Contains(0));
  EXPECT_EQ(index->Stats().tombstones, 1999u);
  std::vector<Neighbor> got;
  ASSERT_TRUE(index->Search(x.data(), 1, {}, nullptr, &got).ok());
  EXPECT_EQ(got[0].id, 0u);
}

TEST(VectorIndex, HigherEfNeverLowersHnswRecall) {
  const size_t n = 20000, d = 32, k = 10;
  auto x = RandomVectors(n, d, 13);
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = i;
  IndexOptions o;
  o.spec = "HNSW8";
  o.dim = d;
  o.metric = Metric::kL2;
  o.ef_construction = 40;
  std::unique_ptr<VectorIndex> index;
  ASSERT_TRUE(VectorIndex::Create(o, &index).ok());
  ASSERT_TRUE(index->Add(ids.data(), x.data(), n).ok());
  auto queries = RandomVectors(50, d, 14);
  auto recall = [&](uint32_t ef) {
    size_t hit = 0;
    for (size_t qi = 0; qi < 50; ++qi) {
      std::vector<Neighbor> got;
      SearchParams p;
      p.ef = ef;
      EXPECT_TRUE(index->Search(&queries[qi * d], k, p, nullptr, &got).ok());
      auto truth = BruteForce(ids, x, &queries[qi * d], d, k, Metric::kL2);
      for (auto id : Ids(got)) hit += std::count(truth.begin(), truth.end(), id);
    }
    return double(hit) / (50 * k);
  };
  double low = recall(10), high = recall(400);
  EXPECT_GT(high, 0.95);
  EXPECT_GE(high, low);
}

TEST(VectorIndex, FlatBatchEqualsSingleQueries) {
  const size_t n = 3000, d = 16, nq = 40;
  auto x = RandomVectors(n, d, 15);
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = 2 * i;
  for (Metric m : {Metric::kCosine, Metric::kL2}) {
    auto index = Make("Flat", d, m);
    ASSERT_TRUE(index->Add(ids.data(), x.data(), n).ok());
    auto queries = RandomVectors(nq, d, 16);
    std::vector<std::vector<Neighbor>> batch;
    SetFilter evens({});
    ASSERT_TRUE(index->SearchBatch(queries.data(), nq, 7, {}, nullptr, &batch).ok());
    ASSERT_EQ(batch.size(), nq);
    for (size_t qi = 0; qi < nq; ++qi) {
      std::vector<Neighbor> one;
      ASSERT_TRUE(index->Search(&queries[qi * d], 7, {}, nullptr, &one).ok());
      EXPECT_EQ(Ids(batch[qi]), Ids(one));
      for (size_t j = 0; j < one.size(); ++j) EXPECT_NEAR(batch[qi][j].score, one[j].score, 1e-3);
    }
  }
}

TEST(VectorIndex, FlatSearchSplitOverThreadsEqualsOneThread) {
  const size_t n = 40000, d = 16;  // enough rows for two shards
  auto x = RandomVectors(n, d, 17);
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = i;
  IndexOptions one;
  one.spec = "Flat";
  one.dim = d;
  one.search_threads = 1;
  IndexOptions two = one;
  two.search_threads = 2;
  std::unique_ptr<VectorIndex> a, b;
  ASSERT_TRUE(VectorIndex::Create(one, &a).ok());
  ASSERT_TRUE(VectorIndex::Create(two, &b).ok());
  ASSERT_TRUE(a->Add(ids.data(), x.data(), n).ok());
  ASSERT_TRUE(b->Add(ids.data(), x.data(), n).ok());
  auto queries = RandomVectors(5, d, 18);
  for (size_t qi = 0; qi < 5; ++qi) {
    std::vector<Neighbor> ra, rb;
    ASSERT_TRUE(a->Search(&queries[qi * d], 25, {}, nullptr, &ra).ok());
    ASSERT_TRUE(b->Search(&queries[qi * d], 25, {}, nullptr, &rb).ok());
    EXPECT_EQ(Ids(ra), Ids(rb));
  }
}

}  // namespace
}  // namespace index
}  // namespace reco
