// The statistics behind `recoctl analytics ctr|coverage|ab`, against published values.
#include "engine/feedback_stats.h"

#include <gtest/gtest.h>

namespace reco {
namespace engine {
namespace {

TEST(FeedbackStats, NormalQuantile) {
  EXPECT_NEAR(NormalQuantileTwoSided(0.95), 1.959964, 1e-6);
  EXPECT_NEAR(NormalQuantileTwoSided(0.99), 2.575829, 1e-6);
  EXPECT_NEAR(NormalQuantileTwoSided(0.90), 1.644854, 1e-6);
}

TEST(FeedbackStats, WilsonIntervals) {
  double low, high;
  // Newcombe (1998), table I: 81/263 -> 0.2553 .. 0.3662 at 95%.
  WilsonInterval(81, 263, 1.959964, &low, &high);
  EXPECT_NEAR(low, 0.2553, 1e-4);
  EXPECT_NEAR(high, 0.3662, 1e-4);
  // 0/10 -> 0 .. 0.2775 (an interval even with no success, unlike the Wald one).
  WilsonInterval(0, 10, 1.959964, &low, &high);
  EXPECT_EQ(low, 0.0);
  EXPECT_NEAR(high, 0.2775, 1e-4);
  WilsonInterval(0, 0, 1.96, &low, &high);
  EXPECT_EQ(low, 0.0);
  EXPECT_EQ(high, 0.0);
}

TEST(FeedbackStats, NewcombeDifferenceAndZTest) {
  // Newcombe (1998), table II example (a): 56/70 vs 48/80, difference 0.2000, method 10 gives
  // 0.0524 .. 0.3339.
  AbMetric m = CompareRates("ctr", 48, 80, 56, 70, 1.959964);
  EXPECT_NEAR(m.difference, 0.2, 1e-12);
  EXPECT_NEAR(m.low, 0.0524, 1e-4);
  EXPECT_NEAR(m.high, 0.3339, 1e-4);
  EXPECT_TRUE(m.significant);
  EXPECT_NEAR(m.lift, 0.2 / 0.6, 1e-12);
  // Pooled two-proportion z-test: z = 0.2 / sqrt(0.6933 * 0.3067 * (1/80 + 1/70)) = 2.650,
  // two-sided p = erfc(2.650 / sqrt 2) = 0.00805.
  EXPECT_NEAR(m.p_value, 0.00805, 1e-5);
  // Equal rates: no difference, p = 1.
  m = CompareRates("ctr", 10, 100, 10, 100, 1.96);
  EXPECT_NEAR(m.difference, 0, 1e-12);
  EXPECT_NEAR(m.p_value, 1.0, 1e-12);
  EXPECT_FALSE(m.significant);
  // No trials on one side: the widest interval, nothing claimed.
  m = CompareRates("ctr", 0, 0, 5, 10, 1.96);
  EXPECT_FALSE(m.significant);
  EXPECT_EQ(m.p_value, 1.0);
}

TEST(FeedbackStats, Gini) {
  EXPECT_EQ(Gini({5, 5, 5, 5}), 0.0);
  EXPECT_NEAR(Gini({0, 0, 0, 10}), 0.75, 1e-12);  // (n - 1) / n for one item taking all
  EXPECT_NEAR(Gini({1, 2, 3, 4}), 0.25, 1e-12);
  EXPECT_EQ(Gini({}), 0.0);
  EXPECT_EQ(Gini({0, 0}), 0.0);
}

}  // namespace
}  // namespace engine
}  // namespace reco
