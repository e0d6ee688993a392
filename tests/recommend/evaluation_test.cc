#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "recommend/evaluation.h"
#include "recommend/most_popular.h"

namespace reco {
namespace recommend {
namespace {

// A model whose scores are a fixed table (user x item).
class TableModel : public Recommender {
 public:
  explicit TableModel(std::vector<std::vector<float>> table) : table_(std::move(table)) {}
  std::string Name() const override { return "Table"; }
  Status Fit(const InteractionMatrix& train) override {
    SetShape(train.num_users(), train.num_items());
    return Status::OK();
  }

 protected:
  void ScoreUser(uint32_t user, float* scores) const override {
    for (size_t i = 0; i < table_[user].size(); ++i) scores[i] = table_[user][i];
  }

 private:
  std::vector<std::vector<float>> table_;
};

InteractionMatrix Matrix(uint32_t users, uint32_t items, const std::vector<Interaction>& xs) {
  InteractionMatrix m;
  EXPECT_TRUE(InteractionMatrix::FromInteractions(users, items, xs, {}, &m).ok());
  return m;
}

double L(double r) { return 1.0 / std::log2(r + 1.0); }  // discount at 1-based rank r

TEST(RankingMetricsTest, HandComputed) {
  // Hits at ranks 2 and 5 among 3 relevant items.
  const Metrics m = RankingMetrics({5, 3, 7, 1, 9}, {9, 3, 4}, 5);
  EXPECT_DOUBLE_EQ(m.recall, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.precision, 2.0 / 5.0);
  EXPECT_DOUBLE_EQ(m.hr, 1.0);
  EXPECT_DOUBLE_EQ(m.mrr, 0.5);
  EXPECT_NEAR(m.ndcg, (L(2) + L(5)) / (L(1) + L(2) + L(3)), 1e-12);
  EXPECT_NEAR(m.ndcg, 0.4776237, 1e-6);

  // Only the first k = 2 count.
  const Metrics m2 = RankingMetrics({5, 3, 7, 1, 9}, {9, 3, 4}, 2);
  EXPECT_DOUBLE_EQ(m2.recall, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(m2.precision, 0.5);
  EXPECT_NEAR(m2.ndcg, L(2) / (L(1) + L(2)), 1e-12);

  // Perfect ranking of one relevant item; a miss.
  const Metrics perfect = RankingMetrics({4, 1}, {4}, 10);
  EXPECT_DOUBLE_EQ(perfect.ndcg, 1.0);
  EXPECT_DOUBLE_EQ(perfect.precision, 0.1);
  const Metrics miss = RankingMetrics({1, 2}, {4}, 10);
  EXPECT_EQ(miss.recall + miss.ndcg + miss.hr + miss.mrr + miss.precision, 0.0);
  EXPECT_EQ(miss.users, 1u);
  EXPECT_EQ(RankingMetrics({1}, {}, 10).users, 0u);
}

TEST(TopKTest, TiesExclusionsAndNonFinite) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const std::vector<float> s = {0.5f, 0.9f, 0.5f, std::nanf(""), 0.9f, ninf, 0.1f};
  EXPECT_EQ(TopK(s, 3), (std::vector<uint32_t>{1, 4, 0}));
  EXPECT_EQ(TopK(s, 3, {1}), (std::vector<uint32_t>{4, 0, 2}));
  EXPECT_EQ(TopK(s, 10), (std::vector<uint32_t>{1, 4, 0, 2, 6}));
  EXPECT_TRUE(TopK(s, 0).empty());
}

TEST(EvaluateRankingTest, HandComputedAverageAndCoverage) {
  // 3 users, 6 items. Seen items are masked even though the table scores them highest.
  const std::vector<std::vector<float>> table = {
      {9, 5, 4, 3, 2, 1},  // user 0: seen {0}; ranking 1 2 | 3 4 5 -> top2 = {1, 2}
      {1, 2, 3, 4, 5, 6},  // user 1: seen {5}; top2 = {4, 3}
      {6, 5, 4, 3, 2, 1},  // user 2: no held-out item: skipped
  };
  TableModel model(table);
  const InteractionMatrix seen = Matrix(3, 6, {{0, 0}, {1, 5}, {2, 0}});
  // user 0 held-out {2, 5}: hit at rank 2; user 1 held-out {0}: miss.
  const InteractionMatrix held = Matrix(3, 6, {{0, 2}, {0, 5}, {1, 0}});
  ASSERT_TRUE(model.Fit(seen).ok());
  EvalOptions o;
  o.k = 2;
  o.num_threads = 2;
  Metrics m;
  ASSERT_TRUE(EvaluateRanking(model, seen, held, o, &m).ok());
  EXPECT_EQ(m.users, 2u);
  EXPECT_DOUBLE_EQ(m.recall, (0.5 + 0) / 2);
  EXPECT_DOUBLE_EQ(m.precision, (0.5 + 0) / 2);
  EXPECT_DOUBLE_EQ(m.hr, 0.5);
  EXPECT_DOUBLE_EQ(m.mrr, 0.25);
  EXPECT_NEAR(m.ndcg, (L(2) / (L(1) + L(2))) / 2, 1e-12);
  EXPECT_DOUBLE_EQ(m.coverage, 4.0 / 6.0);  // {1, 2, 3, 4}
}

TEST(EvaluateRankingTest, RejectsMismatchedShapesAndUnfittedModels) {
  MostPopular pop;
  const InteractionMatrix a = Matrix(2, 3, {{0, 1}});
  const InteractionMatrix b = Matrix(2, 4, {{0, 1}});
  Metrics m;
  EXPECT_EQ(EvaluateRanking(pop, a, a, {}, &m).code(), Status::Code::kFailedPrecondition);
  ASSERT_TRUE(pop.Fit(a).ok());
  EXPECT_EQ(EvaluateRanking(pop, a, b, {}, &m).code(), Status::Code::kInvalidArgument);
}

TEST(FitAndEvaluateTest, OneResultPerModel) {
  Split s;
  std::vector<Interaction> xs;
  for (uint32_t u = 0; u < 20; ++u) {
    for (uint32_t i = 0; i < 10; ++i) xs.push_back({u, (u + i) % 15});
  }
  ASSERT_TRUE(RandomSplit(20, 15, xs, {}, &s).ok());
  SplitMatrices data;
  ASSERT_TRUE(BuildSplitMatrices(s, {}, &data).ok());
  MostPopular a, b;
  const auto results = FitAndEvaluate({&a, &b}, data, EvalPart::kTest, {});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].name, "MostPopular");
  EXPECT_TRUE(results[0].status.ok()) << results[0].status.ToString();
  EXPECT_EQ(results[0].metrics.users, 20u);
  EXPECT_DOUBLE_EQ(results[0].metrics.recall, results[1].metrics.recall);
}

TEST(EvaluateTest, TestRankingExcludesTrainAndValid) {
  // One user: train {0}, valid {1}, test {2}; the model prefers 0 > 1 > 2 > 3.
  Split s;
  s.num_users = 1;
  s.num_items = 4;
  s.train = {{0, 0}};
  s.valid = {{0, 1}};
  s.test = {{0, 2}};
  SplitMatrices data;
  ASSERT_TRUE(BuildSplitMatrices(s, {}, &data).ok());
  TableModel model({{4, 3, 2, 1}});
  ASSERT_TRUE(model.Fit(data.train).ok());
  EvalOptions o;
  o.k = 1;
  Metrics valid, test;
  ASSERT_TRUE(Evaluate(model, data, EvalPart::kValid, o, &valid).ok());
  ASSERT_TRUE(Evaluate(model, data, EvalPart::kTest, o, &test).ok());
  EXPECT_DOUBLE_EQ(valid.hr, 1.0);  // item 1 ranks first once 0 is masked
  EXPECT_DOUBLE_EQ(test.hr, 1.0);   // item 2 ranks first once 0 and 1 are masked
  EXPECT_DOUBLE_EQ(test.coverage, 0.25);
}

}  // namespace
}  // namespace recommend
}  // namespace reco
