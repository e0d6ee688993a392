#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "recommend/interactions.h"
#include "recommend/split.h"

namespace reco {
namespace recommend {
namespace {

using Pair = std::pair<uint32_t, uint32_t>;

std::set<Pair> Pairs(const std::vector<Interaction>& xs) {
  std::set<Pair> s;
  for (const Interaction& x : xs) s.insert({x.user, x.item});
  return s;
}

std::map<uint32_t, size_t> PerUser(const std::vector<Interaction>& xs) {
  std::map<uint32_t, size_t> m;
  for (const Interaction& x : xs) ++m[x.user];
  return m;
}

// User u interacts with `counts[u]` distinct items (u * 7 + k) % num_items at time k.
std::vector<Interaction> Make(const std::vector<uint32_t>& counts, uint32_t num_items) {
  std::vector<Interaction> xs;
  for (uint32_t u = 0; u < counts.size(); ++u) {
    for (uint32_t k = 0; k < counts[u]; ++k) {
      xs.push_back({u, (u * 7 + k) % num_items, 1.0f, int64_t(1000 + k)});
    }
  }
  return xs;
}

// -------------------------------------------------------------------------------------------
// InteractionMatrix

TEST(InteractionMatrixTest, MergesDuplicatesAndSortsRows) {
  const std::vector<Interaction> xs = {
      {1, 3, 2.0f, 10}, {0, 2, 1.0f, 5}, {1, 0, 1.0f, 1}, {1, 3, 5.0f, 3}, {1, 3, 1.5f, 20}};
  InteractionMatrix m;
  MatrixOptions o;
  o.binary = true;
  ASSERT_TRUE(InteractionMatrix::FromInteractions(2, 4, xs, o, &m).ok());
  EXPECT_EQ(m.nnz(), 3u);
  ASSERT_EQ(m.RowSize(1), 2u);
  EXPECT_EQ(m.RowItems(1)[0], 0u);
  EXPECT_EQ(m.RowItems(1)[1], 3u);
  EXPECT_FLOAT_EQ(m.RowWeights(1)[1], 1.0f);
  EXPECT_TRUE(m.Contains(0, 2));
  EXPECT_FALSE(m.Contains(0, 3));

  o.binary = false;
  o.merge = MergeRule::kSum;
  ASSERT_TRUE(InteractionMatrix::FromInteractions(2, 4, xs, o, &m).ok());
  EXPECT_FLOAT_EQ(m.RowWeights(1)[1], 8.5f);
  o.merge = MergeRule::kMax;
  ASSERT_TRUE(InteractionMatrix::FromInteractions(2, 4, xs, o, &m).ok());
  EXPECT_FLOAT_EQ(m.RowWeights(1)[1], 5.0f);
  o.merge = MergeRule::kLast;  // latest by time: t = 20
  ASSERT_TRUE(InteractionMatrix::FromInteractions(2, 4, xs, o, &m).ok());
  EXPECT_FLOAT_EQ(m.RowWeights(1)[1], 1.5f);

  const std::vector<float> counts = m.ItemCounts();
  EXPECT_EQ(counts, (std::vector<float>{1, 0, 1, 1}));
  const InteractionMatrix t = m.Transposed();
  EXPECT_EQ(t.num_users(), 4u);
  EXPECT_EQ(t.num_items(), 2u);
  ASSERT_EQ(t.RowSize(3), 1u);
  EXPECT_EQ(t.RowItems(3)[0], 1u);
  EXPECT_FLOAT_EQ(t.RowWeights(3)[0], 1.5f);
  EXPECT_EQ(t.RowSize(1), 0u);
}

TEST(InteractionMatrixTest, RejectsIdsOutsideTheShape) {
  InteractionMatrix m;
  const Status st = InteractionMatrix::FromInteractions(2, 4, {{0, 1}, {2, 0}}, {}, &m);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("interaction 1"), std::string::npos) << st.message();
  EXPECT_EQ(InteractionMatrix::FromInteractions(2, 4, {{0, 4}}, {}, &m).code(),
            Status::Code::kInvalidArgument);
}

// -------------------------------------------------------------------------------------------
// Random split

TEST(RandomSplitTest, SizesFollowTheRatiosAndTheSmallUserRule) {
  // n = 10 -> 8/1/1, 20 -> 16/2/2, 25 -> 21/2/2, 3 -> 1/1/1, 5 -> 3/1/1, 2 and 1 -> all train.
  const std::vector<uint32_t> counts = {10, 20, 25, 3, 5, 2, 1, 0};
  Split s;
  ASSERT_TRUE(RandomSplit(8, 40, Make(counts, 40), {}, &s).ok());
  auto tr = PerUser(s.train), va = PerUser(s.valid), te = PerUser(s.test);
  const std::vector<std::tuple<uint32_t, size_t, size_t, size_t>> want = {
      {0, 8, 1, 1}, {1, 16, 2, 2}, {2, 21, 2, 2}, {3, 1, 1, 1},
      {4, 3, 1, 1}, {5, 2, 0, 0},  {6, 1, 0, 0},  {7, 0, 0, 0}};
  for (const auto& [u, a, b, c] : want) {
    EXPECT_EQ(tr[u], a) << "user " << u;
    EXPECT_EQ(va[u], b) << "user " << u;
    EXPECT_EQ(te[u], c) << "user " << u;
  }
}

TEST(RandomSplitTest, DeterministicGivenTheSeed) {
  const auto xs = Make({30, 12, 50, 7}, 60);
  Split a, b, c;
  RandomSplitOptions o;
  o.seed = 7;
  ASSERT_TRUE(RandomSplit(4, 60, xs, o, &a).ok());
  ASSERT_TRUE(RandomSplit(4, 60, xs, o, &b).ok());
  o.seed = 8;
  ASSERT_TRUE(RandomSplit(4, 60, xs, o, &c).ok());
  EXPECT_EQ(Pairs(a.test), Pairs(b.test));
  EXPECT_EQ(Pairs(a.valid), Pairs(b.valid));
  EXPECT_NE(Pairs(a.test), Pairs(c.test));
}

TEST(RandomSplitTest, NoLeakageAndDuplicatesMerged) {
  auto xs = Make({30, 12, 50, 7}, 60);
  const size_t distinct = xs.size();
  // Repeat every third interaction: a pair seen twice must still land in one part.
  for (size_t k = 0; k < distinct; k += 3) xs.push_back(xs[k]);
  Split s;
  ASSERT_TRUE(RandomSplit(4, 60, xs, {}, &s).ok());
  const auto tr = Pairs(s.train), va = Pairs(s.valid), te = Pairs(s.test);
  EXPECT_EQ(tr.size() + va.size() + te.size(), distinct);
  EXPECT_EQ(s.train.size() + s.valid.size() + s.test.size(), distinct);
  for (const Pair& p : te) {
    EXPECT_EQ(tr.count(p), 0u);
    EXPECT_EQ(va.count(p), 0u);
  }
  for (const Pair& p : va) EXPECT_EQ(tr.count(p), 0u);
  std::set<Pair> all = tr;
  all.insert(va.begin(), va.end());
  all.insert(te.begin(), te.end());
  EXPECT_EQ(all, Pairs(xs));
  // A merged pair carries the summed value.
  for (const Interaction& x : s.train) {
    if (x.user == xs[0].user && x.item == xs[0].item) {
      EXPECT_FLOAT_EQ(x.value, 2.0f);
    }
  }
}

TEST(RandomSplitTest, RejectsBadRatiosAndIds) {
  Split s;
  RandomSplitOptions o;
  o.valid_ratio = 0.6;
  o.test_ratio = 0.5;
  EXPECT_EQ(RandomSplit(1, 5, {{0, 1}}, o, &s).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(RandomSplit(1, 5, {{1, 1}}, {}, &s).code(), Status::Code::kInvalidArgument);
}

// -------------------------------------------------------------------------------------------
// Leave-last-out

TEST(LeaveLastOutTest, PicksTheLastByTime) {
  // User 0: items 4 (t=50), 1 (t=10), 2 (t=40), 3 (t=20) -> test 4, valid 2.
  // User 1: item 0 again at t=99 makes it the latest.
  // User 2: two items only -> all train.
  const std::vector<Interaction> xs = {{0, 4, 1, 50}, {0, 1, 1, 10}, {0, 2, 1, 40}, {0, 3, 1, 20},
                                       {1, 0, 1, 5},  {1, 1, 1, 6},  {1, 2, 1, 7},  {1, 0, 1, 99},
                                       {2, 1, 1, 1},  {2, 2, 1, 2}};
  Split s;
  ASSERT_TRUE(LeaveLastOutSplit(3, 5, xs, {}, &s).ok());
  EXPECT_EQ(Pairs(s.test), (std::set<Pair>{{0, 4}, {1, 0}}));
  EXPECT_EQ(Pairs(s.valid), (std::set<Pair>{{0, 2}, {1, 2}}));
  EXPECT_EQ(Pairs(s.train), (std::set<Pair>{{0, 1}, {0, 3}, {1, 1}, {2, 1}, {2, 2}}));
  Split again;
  ASSERT_TRUE(LeaveLastOutSplit(3, 5, xs, {}, &again).ok());
  EXPECT_EQ(Pairs(again.test), Pairs(s.test));
}

TEST(LeaveLastOutTest, TiesGoToTheLaterInput) {
  const std::vector<Interaction> xs = {{0, 0, 1, 5}, {0, 1, 1, 9}, {0, 2, 1, 9}};
  Split s;
  ASSERT_TRUE(LeaveLastOutSplit(1, 3, xs, {}, &s).ok());
  EXPECT_EQ(Pairs(s.test), (std::set<Pair>{{0, 2}}));
  EXPECT_EQ(Pairs(s.valid), (std::set<Pair>{{0, 1}}));
}

TEST(SplitMatricesTest, TrainValidIsTheUnion) {
  Split s;
  ASSERT_TRUE(RandomSplit(4, 60, Make({30, 12, 50, 7}, 60), {}, &s).ok());
  SplitMatrices m;
  ASSERT_TRUE(BuildSplitMatrices(s, {}, &m).ok());
  EXPECT_EQ(m.train.nnz(), s.train.size());
  EXPECT_EQ(m.valid.nnz(), s.valid.size());
  EXPECT_EQ(m.test.nnz(), s.test.size());
  EXPECT_EQ(m.train_valid.nnz(), s.train.size() + s.valid.size());
  for (const Interaction& x : s.valid) EXPECT_TRUE(m.train_valid.Contains(x.user, x.item));
}

}  // namespace
}  // namespace recommend
}  // namespace reco
