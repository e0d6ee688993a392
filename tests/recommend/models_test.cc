#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "recommend/bpr_mf.h"
#include "recommend/ease.h"
#include "recommend/evaluation.h"
#include "recommend/item_knn.h"
#include "recommend/most_popular.h"
#include "recommend/split.h"

namespace reco {
namespace recommend {
namespace {

InteractionMatrix Matrix(uint32_t users, uint32_t items, const std::vector<Interaction>& xs,
                         bool binary = true) {
  InteractionMatrix m;
  MatrixOptions o;
  o.binary = binary;
  EXPECT_TRUE(InteractionMatrix::FromInteractions(users, items, xs, o, &m).ok());
  return m;
}

// Planted structure: users fall into 5 taste groups of 20 items each and pick 15 items of
// their group, plus 2 random items anywhere. Item popularity is nearly flat, so MostPopular
// has little to go on while a collaborative model can recover the groups.
Split PlantedSplit() {
  const uint32_t users = 300, items = 100, groups = 5, per_group = items / groups;
  std::mt19937 rng(42);
  std::vector<Interaction> xs;
  for (uint32_t u = 0; u < users; ++u) {
    const uint32_t g = u % groups;
    std::vector<uint32_t> mine(per_group);
    for (uint32_t k = 0; k < per_group; ++k) mine[k] = g * per_group + k;
    std::shuffle(mine.begin(), mine.end(), rng);
    for (uint32_t k = 0; k < 15; ++k) xs.push_back({u, mine[k]});
    for (int k = 0; k < 2; ++k) xs.push_back({u, uint32_t(rng() % items)});
  }
  Split s;
  EXPECT_TRUE(RandomSplit(users, items, xs, {}, &s).ok());
  return s;
}

Metrics TestMetrics(Recommender* model, const SplitMatrices& data) {
  Metrics m;
  Status st = model->Fit(data.train);
  EXPECT_TRUE(st.ok()) << st.ToString();
  st = Evaluate(*model, data, EvalPart::kTest, {}, &m);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return m;
}

// -------------------------------------------------------------------------------------------

TEST(RecommenderTest, ScoreChecksStateAndUser) {
  MostPopular pop;
  std::vector<float> s;
  EXPECT_EQ(pop.Score(0, &s).code(), Status::Code::kFailedPrecondition);
  ASSERT_TRUE(pop.Fit(Matrix(2, 3, {{0, 1}, {1, 1}, {1, 2}})).ok());
  EXPECT_EQ(pop.Score(2, &s).code(), Status::Code::kOutOfRange);
  ASSERT_TRUE(pop.Score(0, &s).ok());
  EXPECT_EQ(s, (std::vector<float>{0, 2, 1}));
  EXPECT_EQ(pop.ScoreHistory({5}, {}, &s).code(), Status::Code::kOutOfRange);
  EXPECT_EQ(pop.ScoreHistory({1}, {1, 2}, &s).code(), Status::Code::kInvalidArgument);
}

TEST(ItemKnnTest, CosineNeighboursByHand) {
  // Columns: item 0 <- users {0, 1, 3}, item 1 <- {0, 1}, item 2 <- {1, 2}.
  const InteractionMatrix x =
      Matrix(4, 3, {{0, 0}, {0, 1}, {1, 0}, {1, 1}, {1, 2}, {2, 2}, {3, 0}});
  const float s01 = 2 / std::sqrt(6.0f), s02 = 1 / std::sqrt(6.0f), s12 = 0.5f;
  ItemKnnOptions o;
  o.k = 1;
  ItemKnn knn1(o);
  ASSERT_TRUE(knn1.Fit(x).ok());
  ASSERT_EQ(knn1.Neighbours(0).size(), 1u);
  EXPECT_EQ(knn1.Neighbours(0)[0].first, 1u);
  EXPECT_NEAR(knn1.Neighbours(0)[0].second, s01, 1e-6);
  EXPECT_EQ(knn1.Neighbours(2)[0].first, 1u);
  EXPECT_NEAR(knn1.Neighbours(2)[0].second, s12, 1e-6);

  o.k = 2;
  ItemKnn knn(o);
  ASSERT_TRUE(knn.Fit(x).ok());
  std::vector<float> s;
  ASSERT_TRUE(knn.Score(2, &s).ok());  // history {2}
  EXPECT_NEAR(s[0], s02, 1e-6);
  EXPECT_NEAR(s[1], s12, 1e-6);
  EXPECT_EQ(s[2], 0.0f);
  ASSERT_TRUE(knn.Score(3, &s).ok());  // history {0}: item 1 is the closer one
  EXPECT_GT(s[1], s[2]);

  o.shrink = 1.0f;
  ItemKnn shrunk(o);
  ASSERT_TRUE(shrunk.Fit(x).ok());
  EXPECT_NEAR(shrunk.Neighbours(0)[0].second, 2 / (std::sqrt(6.0f) + 1), 1e-6);
}

TEST(ItemKnnTest, BeatsMostPopularOnPlantedGroups) {
  SplitMatrices data;
  ASSERT_TRUE(BuildSplitMatrices(PlantedSplit(), {}, &data).ok());
  MostPopular pop;
  ItemKnn knn;
  const Metrics p = TestMetrics(&pop, data), k = TestMetrics(&knn, data);
  EXPECT_GT(k.recall, 2 * p.recall) << k.recall << " vs " << p.recall;
}

// -------------------------------------------------------------------------------------------
// EASE

TEST(EaseTest, TwoItemsByHand) {
  // X = [[1, 1], [1, 0]], lambda 1: X'X + I = [[3, 1], [1, 2]], P = [[2, -1], [-1, 3]] / 5,
  // B[0][1] = -P01 / P11 = 1/3, B[1][0] = -P10 / P00 = 1/2.
  EaseOptions o;
  o.lambda = 1.0f;
  Ease ease(o);
  ASSERT_TRUE(ease.Fit(Matrix(2, 2, {{0, 0}, {0, 1}, {1, 0}})).ok());
  const std::vector<float>& b = ease.weights();
  EXPECT_FLOAT_EQ(b[0], 0.0f);
  EXPECT_NEAR(b[1], 1.0 / 3, 1e-6);
  EXPECT_NEAR(b[2], 0.5, 1e-6);
  EXPECT_FLOAT_EQ(b[3], 0.0f);
  std::vector<float> s;
  ASSERT_TRUE(ease.Score(1, &s).ok());  // history {0}
  EXPECT_NEAR(s[1], 1.0 / 3, 1e-6);
}

// Naive reference: B from a Gauss-Jordan inverse in double precision.
std::vector<double> NaiveEase(const InteractionMatrix& x, double lambda) {
  const size_t n = x.num_items();
  std::vector<double> a(n * 2 * n, 0.0);  // [G + lambda I | I]
  for (uint32_t u = 0; u < x.num_users(); ++u) {
    for (size_t p = 0; p < x.RowSize(u); ++p) {
      for (size_t q = 0; q < x.RowSize(u); ++q) {
        a[x.RowItems(u)[p] * 2 * n + x.RowItems(u)[q]] +=
            double(x.RowWeights(u)[p]) * x.RowWeights(u)[q];
      }
    }
  }
  for (size_t i = 0; i < n; ++i) {
    a[i * 2 * n + i] += lambda;
    a[i * 2 * n + n + i] = 1.0;
  }
  for (size_t c = 0; c < n; ++c) {
    size_t pivot = c;
    for (size_t r = c + 1; r < n; ++r) {
      if (std::fabs(a[r * 2 * n + c]) > std::fabs(a[pivot * 2 * n + c])) pivot = r;
    }
    for (size_t k = 0; k < 2 * n; ++k) std::swap(a[c * 2 * n + k], a[pivot * 2 * n + k]);
    const double d = a[c * 2 * n + c];
    for (size_t k = 0; k < 2 * n; ++k) a[c * 2 * n + k] /= d;
    for (size_t r = 0; r < n; ++r) {
      if (r == c) continue;
      const double f = a[r * 2 * n + c];
      for (size_t k = 0; k < 2 * n; ++k) a[r * 2 * n + k] -= f * a[c * 2 * n + k];
    }
  }
  std::vector<double> b(n * n);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) {
      const double pij = a[i * 2 * n + n + j], pjj = a[j * 2 * n + n + j];
      b[i * n + j] = i == j ? 0.0 : -pij / pjj;
    }
  }
  return b;
}

TEST(EaseTest, MatchesGaussJordanReferenceWithBothGramMethods) {
  std::mt19937 rng(3);
  std::vector<Interaction> xs;
  for (uint32_t u = 0; u < 40; ++u) {
    for (uint32_t i = 0; i < 12; ++i) {
      if (rng() % 5 < 2) xs.push_back({u, i, float(1 + rng() % 5), 0});
    }
  }
  for (bool binary : {true, false}) {
    const InteractionMatrix x = Matrix(40, 12, xs, binary);
    const std::vector<double> want = NaiveEase(x, 3.0);
    for (GramMethod method : {GramMethod::kSparse, GramMethod::kDense}) {
      EaseOptions o;
      o.lambda = 3.0f;
      o.gram = method;
      Ease ease(o);
      ASSERT_TRUE(ease.Fit(x).ok());
      ASSERT_EQ(ease.weights().size(), want.size());
      for (size_t k = 0; k < want.size(); ++k) {
        ASSERT_NEAR(ease.weights()[k], want[k], 1e-4 * (1 + std::fabs(want[k])))
            << "entry " << k << " binary " << binary << " method " << int(method);
      }
    }
    // Scoring an ad-hoc history equals scoring the same user row.
    EaseOptions o;
    o.lambda = 3.0f;
    Ease ease(o);
    ASSERT_TRUE(ease.Fit(x).ok());
    std::vector<float> a, b;
    ASSERT_TRUE(ease.Score(5, &a).ok());
    ASSERT_TRUE(
        ease.ScoreHistory(std::vector<uint32_t>(x.RowItems(5), x.RowItems(5) + x.RowSize(5)),
                          std::vector<float>(x.RowWeights(5), x.RowWeights(5) + x.RowSize(5)), &b)
            .ok());
    EXPECT_EQ(a, b);
  }
}

TEST(EaseTest, RefusesCatalogueAboveTheMemoryLimitAndBadLambda) {
  EaseOptions o;
  o.max_memory_bytes = 100;  // 12 items need 576 bytes
  Ease ease(o);
  const Status st = ease.Fit(Matrix(1, 12, {{0, 3}}));
  EXPECT_EQ(st.code(), Status::Code::kOutOfRange);
  EXPECT_NE(st.message().find("12 items"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("max_memory_bytes"), std::string::npos) << st.message();
  EXPECT_FALSE(ease.fitted());
  o = EaseOptions();
  o.lambda = 0;
  Ease zero(o);
  EXPECT_EQ(zero.Fit(Matrix(1, 2, {{0, 1}})).code(), Status::Code::kInvalidArgument);
}

TEST(EaseTest, BeatsMostPopularOnPlantedGroups) {
  SplitMatrices data;
  ASSERT_TRUE(BuildSplitMatrices(PlantedSplit(), {}, &data).ok());
  MostPopular pop;
  EaseOptions o;
  o.lambda = 10;
  Ease ease(o);
  const Metrics p = TestMetrics(&pop, data), e = TestMetrics(&ease, data);
  EXPECT_GT(e.recall, 2 * p.recall) << e.recall << " vs " << p.recall;
  EXPECT_GT(e.ndcg, 2 * p.ndcg);
}

// -------------------------------------------------------------------------------------------
// BPR-MF

BprOptions SmallBpr() {
  BprOptions o;
  o.dim = 16;
  o.epochs = 40;
  o.num_threads = 1;
  return o;
}

TEST(BprTest, BeatsMostPopularOnPlantedGroups) {
  SplitMatrices data;
  ASSERT_TRUE(BuildSplitMatrices(PlantedSplit(), {}, &data).ok());
  MostPopular pop;
  std::vector<double> losses;
  BprOptions o = SmallBpr();
  o.num_threads = 2;
  o.on_epoch = [&](const BprEpoch& e) {
    EXPECT_EQ(e.epoch, int(losses.size()) + 1);
    EXPECT_GT(e.triples, 0u);
    losses.push_back(e.loss);
    return true;
  };
  BprMf bpr(o);
  const Metrics p = TestMetrics(&pop, data), b = TestMetrics(&bpr, data);
  EXPECT_GT(b.recall, 2 * p.recall) << b.recall << " vs " << p.recall;
  EXPECT_GT(b.ndcg, 2 * p.ndcg) << b.ndcg << " vs " << p.ndcg;
  ASSERT_EQ(losses.size(), 40u);
  EXPECT_LT(losses.back(), 0.6 * losses.front());
  EXPECT_EQ(bpr.epochs_trained(), 40);
}

TEST(BprTest, AdamAlsoLearnsThePlantedGroups) {
  SplitMatrices data;
  ASSERT_TRUE(BuildSplitMatrices(PlantedSplit(), {}, &data).ok());
  MostPopular pop;
  BprOptions o = SmallBpr();
  o.optimizer = BprOptimizer::kAdam;
  o.learning_rate = 0.01f;
  BprMf bpr(o);
  const Metrics p = TestMetrics(&pop, data), b = TestMetrics(&bpr, data);
  EXPECT_GT(b.recall, 2 * p.recall) << b.recall << " vs " << p.recall;
}

TEST(BprTest, SeededSingleThreadIsDeterministicAndVectorsGiveTheScore) {
  SplitMatrices data;
  ASSERT_TRUE(BuildSplitMatrices(PlantedSplit(), {}, &data).ok());
  BprOptions o = SmallBpr();
  o.epochs = 3;
  BprMf a(o), b(o);
  ASSERT_TRUE(a.Fit(data.train).ok());
  ASSERT_TRUE(b.Fit(data.train).ok());
  std::vector<float> va, vb, user;
  uint32_t dim = 0;
  ASSERT_TRUE(a.ItemVectors(&va, &dim));
  ASSERT_TRUE(b.ItemVectors(&vb, &dim));
  EXPECT_EQ(va, vb);
  EXPECT_EQ(dim, 17u);  // 16 factors + the item bias
  ASSERT_TRUE(a.UserVector(7, &user));
  std::vector<float> scores;
  ASSERT_TRUE(a.Score(7, &scores).ok());
  for (uint32_t i = 0; i < a.num_items(); ++i) {
    float dot = 0;
    for (uint32_t f = 0; f < dim; ++f) dot += user[f] * va[i * dim + f];
    EXPECT_NEAR(dot, scores[i], 1e-5);
  }
  std::vector<float> s;
  EXPECT_EQ(a.ScoreHistory({1, 2}, {}, &s).code(), Status::Code::kFailedPrecondition);
}

TEST(BprTest, CallbackCanStopTraining) {
  SplitMatrices data;
  ASSERT_TRUE(BuildSplitMatrices(PlantedSplit(), {}, &data).ok());
  BprOptions o = SmallBpr();
  o.on_epoch = [](const BprEpoch& e) { return e.epoch < 3; };
  BprMf bpr(o);
  ASSERT_TRUE(bpr.Fit(data.train).ok());
  EXPECT_EQ(bpr.epochs_trained(), 3);
  o.dim = 0;
  BprMf bad(o);
  EXPECT_EQ(bad.Fit(data.train).code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace recommend
}  // namespace reco
