#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "recommend/rerank.h"

namespace reco {
namespace recommend {
namespace {

std::vector<uint32_t> Ids(const std::vector<ScoredItem>& xs) {
  std::vector<uint32_t> ids;
  for (const ScoredItem& x : xs) ids.push_back(x.item);
  return ids;
}

// Candidates 10 and 11 are near-duplicates (same direction); 12 points elsewhere.
const std::vector<ScoredItem> kCands = {{10, 1.0f}, {11, 0.95f}, {12, 0.9f}};
const std::vector<float> kVecs = {1, 0, 2, 0, 0, 1};

TEST(MmrTest, LambdaOneKeepsTheScoreOrder) {
  MmrOptions o;
  o.lambda = 1.0f;
  o.k = 3;
  std::vector<ScoredItem> out;
  ASSERT_TRUE(MmrRerank(kCands, kVecs, 2, o, &out).ok());
  EXPECT_EQ(Ids(out), (std::vector<uint32_t>{10, 11, 12}));
  EXPECT_FLOAT_EQ(out[1].score, 0.95f);  // original scores come back
}

TEST(MmrTest, DemotesNearDuplicates) {
  // lambda 0.5, scores scaled to 1, 0.5, 0: after 10, item 11 is worth 0.25 - 0.5 and item 12
  // is worth 0 - 0, so 12 comes second.
  MmrOptions o;
  o.lambda = 0.5f;
  o.k = 3;
  std::vector<ScoredItem> out;
  ASSERT_TRUE(MmrRerank(kCands, kVecs, 2, o, &out).ok());
  EXPECT_EQ(Ids(out), (std::vector<uint32_t>{10, 12, 11}));
  o.k = 2;
  ASSERT_TRUE(MmrRerank(kCands, kVecs, 2, o, &out).ok());
  EXPECT_EQ(Ids(out), (std::vector<uint32_t>{10, 12}));
}

TEST(MmrTest, RejectsBadInput) {
  MmrOptions o;
  std::vector<ScoredItem> out;
  o.lambda = 1.5f;
  EXPECT_EQ(MmrRerank(kCands, kVecs, 2, o, &out).code(), Status::Code::kInvalidArgument);
  o.lambda = 0.5f;
  EXPECT_EQ(MmrRerank(kCands, {1, 0}, 2, o, &out).code(), Status::Code::kInvalidArgument);
  ASSERT_TRUE(MmrRerank({}, {}, 2, o, &out).ok());
  EXPECT_TRUE(out.empty());
}

TEST(BlendTest, PopularityAndFreshnessByHand) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const std::vector<float> scores = {2, 4, 3, ninf};
  const std::vector<float> pop = {0, 3, 15, 1};
  const std::vector<int64_t> times = {100, 0, 100, 100};
  BlendOptions o;
  std::vector<float> out;
  ASSERT_TRUE(BlendScores(scores, {}, {}, o, &out).ok());
  EXPECT_EQ(out, (std::vector<float>{0, 1, 0.5f, ninf}));

  o.popularity_weight = 0.5f;
  o.freshness_weight = 0.25f;
  o.half_life = 50;
  o.now = 100;
  ASSERT_TRUE(BlendScores(scores, pop, times, o, &out).ok());
  // pop term: log(1+p)/log(16) = 0, 0.5, 1; fresh term: age 0 -> 1, age 100 -> 1/4.
  EXPECT_NEAR(out[0], 0 + 0 + 0.25, 1e-6);
  EXPECT_NEAR(out[1], 1 + 0.25 + 0.25 * 0.25, 1e-6);
  EXPECT_NEAR(out[2], 0.5 + 0.5 + 0.25, 1e-6);
  EXPECT_EQ(out[3], ninf);
}

TEST(BlendTest, RejectsBadInput) {
  BlendOptions o;
  std::vector<float> out;
  o.popularity_weight = 0.5f;
  EXPECT_EQ(BlendScores({1, 2}, {1}, {}, o, &out).code(), Status::Code::kInvalidArgument);
  o.popularity_weight = -1;
  EXPECT_EQ(BlendScores({1, 2}, {1, 2}, {}, o, &out).code(), Status::Code::kInvalidArgument);
  o.popularity_weight = 0;
  o.freshness_weight = 0.5f;
  EXPECT_EQ(BlendScores({1, 2}, {}, {1}, o, &out).code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace recommend
}  // namespace reco
