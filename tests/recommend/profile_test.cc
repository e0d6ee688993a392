#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "recommend/evaluation.h"
#include "recommend/hybrid.h"
#include "recommend/item_knn.h"
#include "recommend/most_popular.h"
#include "recommend/profile.h"
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

// Items 0..n/2-1 form cluster A (vectors near e0), the rest cluster B (near e1); every
// coordinate is >= 0, so every cosine is >= 0.
ItemVectorTable TwoClusters(uint32_t n, uint32_t dim = 8, uint64_t seed = 1) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::uniform_real_distribution<float> noise(0.0f, 0.2f);
  ItemVectorTable t;
  t.name = "clusters";
  t.dim = dim;
  t.vectors.assign(size_t(n) * dim, 0.0f);
  for (uint32_t i = 0; i < n; ++i) {
    for (uint32_t d = 0; d < dim; ++d) t.vectors[size_t(i) * dim + d] = noise(rng);
    t.vectors[size_t(i) * dim + (i < n / 2 ? 0 : 1)] += 1.0f;
  }
  return t;
}

std::vector<float> Scores(const Recommender& m, uint32_t user) {
  std::vector<float> s;
  const Status st = m.Score(user, &s);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return s;
}

float MinOf(const std::vector<float>& s, uint32_t begin, uint32_t end) {
  return *std::min_element(s.begin() + begin, s.begin() + end);
}
float MaxOf(const std::vector<float>& s, uint32_t begin, uint32_t end) {
  return *std::max_element(s.begin() + begin, s.begin() + end);
}

// Scores a fixed pseudo-random number per (user, item): no signal at all.
class NoiseModel : public Recommender {
 public:
  std::string Name() const override { return "Noise"; }
  Status Fit(const InteractionMatrix& train) override {
    SetShape(train.num_users(), train.num_items());
    return Status::OK();
  }

 protected:
  void ScoreUser(uint32_t user, float* scores) const override {
    for (uint32_t j = 0; j < num_items(); ++j) {
      uint64_t x = (uint64_t(user) << 32 | j) + 0x9e3779b97f4a7c15ULL;
      x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
      x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
      scores[j] = float((x ^ (x >> 31)) >> 40) / float(1 << 24);
    }
  }
};

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

// Planted structure (as in models_test): 300 users in 5 taste groups of 20 items each, 15
// items of their group plus 2 random ones. Item vectors: the group's one-hot axis plus noise.
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

ItemVectorTable PlantedVectors() {
  const uint32_t items = 100, dim = 8;
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0.0f, 0.3f);
  ItemVectorTable t;
  t.dim = dim;
  t.vectors.resize(items * dim);
  for (uint32_t i = 0; i < items; ++i) {
    for (uint32_t d = 0; d < dim; ++d) t.vectors[i * dim + d] = noise(rng);
    t.vectors[i * dim + i / 20] += 1.0f;
  }
  return t;
}

// -------------------------------------------------------------------------------------------
// VectorProfile

TEST(VectorProfileTest, CosineScoresByHand) {
  // v0 = (1, 0), v1 = (3, 4) -> (0.6, 0.8), v2 = (0, 2) -> (0, 1). User 0 has {0, 2}: the
  // profile (1, 1) / sqrt(2).
  ItemVectorTable t;
  t.dim = 2;
  t.vectors = {1, 0, 3, 4, 0, 2};
  VectorProfile model({t});
  EXPECT_EQ(model.Name(), "content-profile");
  std::vector<float> s;
  EXPECT_EQ(model.Score(0, &s).code(), Status::Code::kFailedPrecondition);
  ASSERT_TRUE(model.Fit(Matrix(2, 3, {{0, 0}, {0, 2}, {1, 1}})).ok());
  s = Scores(model, 0);
  const float r = 1 / std::sqrt(2.0f);
  EXPECT_NEAR(s[0], r, 1e-6);
  EXPECT_NEAR(s[1], 1.4f * r, 1e-6);
  EXPECT_NEAR(s[2], r, 1e-6);
  s = Scores(model, 1);  // history {1}: the cosine with v1
  EXPECT_NEAR(s[0], 0.6f, 1e-6);
  EXPECT_NEAR(s[1], 1.0f, 1e-6);
  EXPECT_NEAR(s[2], 0.8f, 1e-6);

  model.set_name("content");
  EXPECT_EQ(model.Name(), "content");
}

TEST(VectorProfileTest, UsersOfAClusterGetThatClusterFirst) {
  const uint32_t n = 40;
  VectorProfile model({TwoClusters(n)});
  // User 0: cluster A items; user 1: cluster B items; user 2: one of each, A weighted 5.
  ASSERT_TRUE(
      model
          .Fit(Matrix(3, n, {{0, 0}, {0, 3}, {0, 7}, {1, 25}, {1, 31}, {2, 2, 5.0f}, {2, 30, 1.0f}},
                      /*binary=*/false))
          .ok());
  std::vector<float> s = Scores(model, 0);
  EXPECT_GT(MinOf(s, 0, n / 2), MaxOf(s, n / 2, n));
  const std::vector<uint32_t> top = TopK(s, 10, {0, 3, 7});
  ASSERT_EQ(top.size(), 10u);
  for (uint32_t i : top) EXPECT_LT(i, n / 2);
  s = Scores(model, 1);
  EXPECT_GT(MinOf(s, n / 2, n), MaxOf(s, 0, n / 2));
  s = Scores(model, 2);  // the matrix weights count
  EXPECT_GT(MinOf(s, 0, n / 2), MaxOf(s, n / 2, n));

  // Ad-hoc histories score like the same matrix row.
  std::vector<float> adhoc;
  ASSERT_TRUE(model.ScoreHistory({2, 30}, {5.0f, 1.0f}, &adhoc).ok());
  EXPECT_EQ(adhoc, s);
  ASSERT_TRUE(model.ScoreHistory({30, 31}, {}, &adhoc).ok());
  EXPECT_GT(MinOf(adhoc, n / 2, n), MaxOf(adhoc, 0, n / 2));

  // use_weights = false: both items weigh 1.
  VectorProfileOptions o;
  o.use_weights = false;
  VectorProfile flat({TwoClusters(n)}, o);
  ASSERT_TRUE(flat.Fit(Matrix(3, n, {{2, 2, 5.0f}, {2, 30, 1.0f}, {2, 31, 1.0f}}, false)).ok());
  s = Scores(flat, 2);
  EXPECT_GT(MinOf(s, n / 2, n), MaxOf(s, 0, n / 2));
}

TEST(VectorProfileTest, RecencyDecidesBetweenClusters) {
  const uint32_t n = 40;
  // Six cluster-A items long ago, then two cluster-B items recently.
  std::vector<Interaction> events;
  for (uint32_t k = 0; k < 6; ++k) events.push_back({0, k, 1.0f, int64_t(k)});
  events.push_back({0, 20, 1.0f, 100});
  events.push_back({0, 21, 1.0f, 101});
  // User 1 has the same item twice: the event weights add up.
  events.push_back({1, 5, 1.0f, 10});
  events.push_back({1, 5, 2.0f, 12});
  const InteractionMatrix train = Matrix(2, n, events);

  VectorProfileOptions o;
  o.half_life = 2;  // short: the recent B items dominate
  VectorProfile recent({TwoClusters(n)}, o);
  EXPECT_EQ(recent.Fit(train).code(), Status::Code::kFailedPrecondition);  // needs SetTimes
  ASSERT_TRUE(recent.SetTimes(events).ok());
  ASSERT_TRUE(recent.Fit(train).ok());
  std::vector<float> s = Scores(recent, 0);
  EXPECT_GT(MinOf(s, n / 2, n), MaxOf(s, 0, n / 2));
  std::vector<uint32_t> items;
  std::vector<float> weights;
  ASSERT_TRUE(recent.UserHistory(0, &items, &weights).ok());
  ASSERT_EQ(items.size(), 8u);
  EXPECT_EQ(items[0], 21u);  // newest first
  EXPECT_FLOAT_EQ(weights[0], 1.0f);
  EXPECT_NEAR(weights[1], std::exp2(-0.5), 1e-6);               // item 20: age 1
  EXPECT_NEAR(weights[2], std::exp2(-(101.0 - 5) / 2), 1e-20);  // item 5: age 96
  ASSERT_TRUE(recent.UserHistory(1, &items, &weights).ok());
  ASSERT_EQ(items.size(), 1u);
  EXPECT_NEAR(weights[0], 2.0 + 1.0 * 0.5, 1e-6);  // value 2 now + value 1 at age 2

  o.half_life = 1e9;  // no decay to speak of: the six A items outweigh the two B items
  VectorProfile slow({TwoClusters(n)}, o);
  ASSERT_TRUE(slow.SetTimes(events).ok());
  ASSERT_TRUE(slow.Fit(train).ok());
  s = Scores(slow, 0);
  EXPECT_GT(MinOf(s, 0, n / 2), MaxOf(s, n / 2, n));

  o.history = 2;  // only the two most recent events form the profile
  VectorProfile last2({TwoClusters(n)}, o);
  ASSERT_TRUE(last2.SetTimes(events).ok());
  ASSERT_TRUE(last2.Fit(train).ok());
  s = Scores(last2, 0);
  EXPECT_GT(MinOf(s, n / 2, n), MaxOf(s, 0, n / 2));
  ASSERT_TRUE(last2.UserHistory(0, &items, &weights).ok());
  EXPECT_EQ(items, (std::vector<uint32_t>{21, 20}));

  // An empty SetTimes goes back to the matrix rows (and then recency options are refused).
  VectorProfile plain({TwoClusters(n)});
  ASSERT_TRUE(plain.SetTimes(events).ok());
  ASSERT_TRUE(plain.SetTimes({}).ok());
  ASSERT_TRUE(plain.Fit(train).ok());
  ASSERT_TRUE(plain.UserHistory(0, &items, &weights).ok());
  EXPECT_EQ(items.size(), 8u);
  EXPECT_EQ(weights, std::vector<float>(8, 1.0f));

  // Timed interactions outside the matrix.
  VectorProfile bad({TwoClusters(n)});
  ASSERT_TRUE(bad.SetTimes({{5, 0, 1.0f, 0}, {4000000000u, 1, 1.0f, 0}}).ok());  // no bucket per id
  EXPECT_EQ(bad.Fit(train).code(), Status::Code::kInvalidArgument);
  o.half_life = -1;
  VectorProfile negative({TwoClusters(n)}, o);
  EXPECT_EQ(negative.SetTimes(events).code(), Status::Code::kInvalidArgument);
}

TEST(VectorProfileTest, ItemsWithoutVectorsScoreZeroAndRankLast) {
  const uint32_t n = 40;
  ItemVectorTable t = TwoClusters(n);
  t.present.assign(n, 1);
  for (uint32_t i : {4u, 9u, 11u, 30u}) t.present[i] = 0;
  t.vectors[4 * t.dim] = std::nanf("");  // the rows of absent items are never read
  VectorProfile model({t});
  // User 1's history has only items without vectors: an empty profile.
  ASSERT_TRUE(model.Fit(Matrix(2, n, {{0, 0}, {0, 4}, {1, 9}, {1, 11}})).ok());
  std::vector<float> s = Scores(model, 0);
  for (uint32_t i : {4u, 9u, 11u, 30u}) EXPECT_EQ(s[i], 0.0f) << i;
  const std::vector<uint32_t> ranked = TopK(s, n);
  ASSERT_EQ(ranked.size(), n);
  for (uint32_t r = 0; r < n - 4; ++r) EXPECT_GT(s[ranked[r]], 0.0f) << "rank " << r;
  // The absent item 4 in the history adds nothing: the same scores as history {0} alone.
  std::vector<float> only0;
  ASSERT_TRUE(model.ScoreHistory({0}, {}, &only0).ok());
  EXPECT_EQ(only0, s);
  EXPECT_EQ(Scores(model, 1), std::vector<float>(n, 0.0f));
}

TEST(VectorProfileTest, TablesBlendByWeightAndVectorsGiveTheScore) {
  // Table a: 2-d; table b: 1-d with item 1 absent.
  ItemVectorTable a, b;
  a.name = "a";
  a.dim = 2;
  a.vectors = {1, 0, 0, 1, 1, 1};
  a.weight = 0.25f;
  b.name = "b";
  b.dim = 3;
  b.vectors = {1, 0, 0, 9, 9, 9, 1, 1, 0};
  b.present = {1, 0, 1};
  b.weight = 2.0f;
  VectorProfile model({a, b});
  ASSERT_TRUE(model.Fit(Matrix(1, 3, {{0, 0}})).ok());  // history {0}
  const std::vector<float> s = Scores(model, 0);
  const float r = 1 / std::sqrt(2.0f);
  EXPECT_NEAR(s[0], 0.25f * 1 + 2.0f * 1, 1e-6);
  EXPECT_NEAR(s[1], 0.25f * 0 + 0, 1e-6);
  EXPECT_NEAR(s[2], 0.25f * r + 2.0f * r, 1e-6);

  std::vector<float> items, user;
  uint32_t dim = 0;
  ASSERT_TRUE(model.ItemVectors(&items, &dim));
  ASSERT_EQ(dim, 5u);
  EXPECT_EQ(model.total_dim(), 5u);
  ASSERT_TRUE(model.UserVector(0, &user));
  for (uint32_t j = 0; j < 3; ++j) {
    float dot = 0;
    for (uint32_t d = 0; d < dim; ++d) dot += user[d] * items[j * dim + d];
    EXPECT_NEAR(dot, s[j], 1e-6);
  }
}

TEST(VectorProfileTest, FitChecksTheTables) {
  const InteractionMatrix x = Matrix(1, 4, {{0, 1}});
  ItemVectorTable good = TwoClusters(4);
  auto fit = [&](ItemVectorTable t) {
    VectorProfile m({std::move(t)});
    return m.Fit(x).code();
  };
  ItemVectorTable t = good;
  t.vectors.pop_back();
  EXPECT_EQ(fit(t), Status::Code::kInvalidArgument);
  t = good;
  t.dim = 0;
  t.vectors.clear();
  EXPECT_EQ(fit(t), Status::Code::kInvalidArgument);
  t = good;
  t.weight = -1;
  EXPECT_EQ(fit(t), Status::Code::kInvalidArgument);
  t = good;
  t.present = {1, 1};
  EXPECT_EQ(fit(t), Status::Code::kInvalidArgument);
  t = good;
  t.vectors[3] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(fit(t), Status::Code::kInvalidArgument);
  VectorProfile none({});
  EXPECT_EQ(none.Fit(x).code(), Status::Code::kInvalidArgument);

  // A refit keeps the prepared tables; another item count is refused.
  VectorProfile m({good});
  ASSERT_TRUE(m.Fit(x).ok());
  ASSERT_TRUE(m.Fit(Matrix(3, 4, {{2, 3}})).ok());
  EXPECT_EQ(m.num_users(), 3u);
  EXPECT_EQ(m.Fit(Matrix(1, 5, {{0, 1}})).code(), Status::Code::kInvalidArgument);
}

TEST(VectorProfileTest, BeatsRandomOnPlantedClusters) {
  SplitMatrices data;
  ASSERT_TRUE(BuildSplitMatrices(PlantedSplit(), {}, &data).ok());
  VectorProfile content({PlantedVectors()});
  NoiseModel noise;
  MostPopular pop;
  Metrics c, r, p;
  ASSERT_TRUE(content.Fit(data.train).ok());
  ASSERT_TRUE(noise.Fit(data.train).ok());
  ASSERT_TRUE(pop.Fit(data.train).ok());
  ASSERT_TRUE(Evaluate(content, data, EvalPart::kTest, {}, &c).ok());
  ASSERT_TRUE(Evaluate(noise, data, EvalPart::kTest, {}, &r).ok());
  ASSERT_TRUE(Evaluate(pop, data, EvalPart::kTest, {}, &p).ok());
  EXPECT_EQ(c.users, 300u);
  EXPECT_GT(c.ndcg, 3 * r.ndcg) << c.ndcg << " vs random " << r.ndcg;
  EXPECT_GT(c.recall, 3 * r.recall) << c.recall << " vs random " << r.recall;
  EXPECT_GT(c.ndcg, 2 * p.ndcg) << c.ndcg << " vs popular " << p.ndcg;
}

// -------------------------------------------------------------------------------------------
// Hybrid

TEST(HybridTest, StandardizeHandlesConstantAndNonFiniteScores) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> s = {3, 3, 3, 3};
  Hybrid::Standardize(s.data(), s.size());
  EXPECT_EQ(s, std::vector<float>(4, 0.0f));

  s = {1, std::nanf(""), 3, -inf, 5};
  Hybrid::Standardize(s.data(), s.size());
  const float sd = std::sqrt(8.0f / 3);
  EXPECT_NEAR(s[0], -2 / sd, 1e-6);
  EXPECT_EQ(s[1], -inf);
  EXPECT_NEAR(s[2], 0, 1e-6);
  EXPECT_EQ(s[3], -inf);
  EXPECT_NEAR(s[4], 2 / sd, 1e-6);

  s = {std::nanf(""), -inf};  // nothing finite
  Hybrid::Standardize(s.data(), s.size());
  EXPECT_EQ(s, std::vector<float>(2, -inf));

  // A constant part blended with another: no NaN anywhere.
  TableModel constant({{7, 7, 7, 7}}), varied({{1, 4, 2, 3}});
  Hybrid h({{&constant, 0.5f}, {&varied, 0.5f}});
  ASSERT_TRUE(h.Fit(Matrix(1, 4, {{0, 0}})).ok());
  const std::vector<float> b = Scores(h, 0);
  for (float x : b) EXPECT_TRUE(std::isfinite(x));
  EXPECT_EQ(TopK(b, 4), (std::vector<uint32_t>{1, 3, 2, 0}));
}

TEST(HybridTest, ExtremeWeightsRankLikeOnePart) {
  const uint32_t users = 20, items = 50;
  std::vector<Interaction> xs;
  std::mt19937 rng(5);
  for (uint32_t u = 0; u < users; ++u) {
    for (int k = 0; k < 6; ++k) xs.push_back({u, uint32_t(rng() % items)});
  }
  const InteractionMatrix train = Matrix(users, items, xs);
  ItemKnn knn;
  NoiseModel noise;
  Hybrid h({{&knn, 1.0f}, {&noise, 0.0f}});
  EXPECT_EQ(h.Name(), "hybrid");
  ASSERT_TRUE(h.Fit(train).ok());  // fits both parts
  ASSERT_TRUE(knn.fitted());
  for (uint32_t u = 0; u < users; ++u) {
    // Ties rank the lower id first, both in the part and in the blend.
    EXPECT_EQ(TopK(Scores(h, u), items), TopK(Scores(knn, u), items)) << "user " << u;
  }
  ASSERT_TRUE(h.SetWeights({0.0f, 1.0f}).ok());
  for (uint32_t u = 0; u < users; ++u) {
    EXPECT_EQ(TopK(Scores(h, u), items), TopK(Scores(noise, u), items)) << "user " << u;
  }
  // In between, the blend is the weighted sum of the z-scores.
  ASSERT_TRUE(h.SetWeights({0.3f, 0.7f}).ok());
  std::vector<float> zk = Scores(knn, 3), zn = Scores(noise, 3);
  Hybrid::Standardize(zk.data(), zk.size());
  Hybrid::Standardize(zn.data(), zn.size());
  const std::vector<float> blend = Scores(h, 3);
  for (uint32_t j = 0; j < items; ++j) EXPECT_NEAR(blend[j], 0.3f * zk[j] + 0.7f * zn[j], 1e-5);

  EXPECT_EQ(h.SetWeights({0.0f, 0.0f}).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(h.SetWeights({1.0f}).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(h.SetWeights({-1.0f, 2.0f}).code(), Status::Code::kInvalidArgument);

  // Ad-hoc histories: every weighted part must fold in.
  std::vector<float> s;
  EXPECT_EQ(h.ScoreHistory({1, 2}, {}, &s).code(), Status::Code::kFailedPrecondition);
  ASSERT_TRUE(h.SetWeights({1.0f, 0.0f}).ok());
  ASSERT_TRUE(h.ScoreHistory({1, 2}, {}, &s).ok());
  std::vector<float> direct;
  ASSERT_TRUE(knn.ScoreHistory({1, 2}, {}, &direct).ok());
  EXPECT_EQ(TopK(s, items), TopK(direct, items));
}

TEST(HybridTest, PrefittedPartsAreCheckedNotRefitted) {
  const InteractionMatrix train = Matrix(4, 6, {{0, 1}, {1, 2}, {2, 3}, {3, 1}});
  MostPopular pop;
  NoiseModel noise;
  HybridOptions o;
  o.fit_parts = false;
  o.name = "blend";
  Hybrid h({{&pop, 1.0f}, {&noise, 1.0f}}, o);
  EXPECT_EQ(h.Fit(train).code(), Status::Code::kFailedPrecondition);  // parts not fitted
  ASSERT_TRUE(pop.Fit(train).ok());
  ASSERT_TRUE(noise.Fit(Matrix(4, 7, {{0, 1}})).ok());
  EXPECT_EQ(h.Fit(train).code(), Status::Code::kFailedPrecondition);  // another shape
  ASSERT_TRUE(noise.Fit(train).ok());
  ASSERT_TRUE(h.Fit(train).ok());
  EXPECT_EQ(h.Name(), "blend");
  EXPECT_EQ(Scores(h, 0).size(), 6u);

  Hybrid empty({});
  EXPECT_EQ(empty.Fit(train).code(), Status::Code::kInvalidArgument);
  Hybrid null({{nullptr, 1.0f}});
  EXPECT_EQ(null.Fit(train).code(), Status::Code::kInvalidArgument);
}

TEST(HybridTest, TuningOnValidGivesTheNoisePartNoWeight) {
  SplitMatrices data;
  ASSERT_TRUE(BuildSplitMatrices(PlantedSplit(), {}, &data).ok());
  VectorProfile content({PlantedVectors()});
  NoiseModel noise;
  Hybrid h({{&content, 1.0f}, {&noise, 1.0f}});
  HybridTuneResult r;
  ASSERT_TRUE(TuneHybridWeight(&h, data, {}, &r).ok());
  ASSERT_EQ(r.grid.size(), 6u);
  ASSERT_EQ(r.valid_ndcg.size(), 6u);
  EXPECT_LE(r.weight, 0.05f);
  const size_t chosen = size_t(std::find(r.grid.begin(), r.grid.end(), r.weight) - r.grid.begin());
  ASSERT_LT(chosen, r.grid.size());
  EXPECT_EQ(r.valid_ndcg[chosen], *std::max_element(r.valid_ndcg.begin(), r.valid_ndcg.end()));
  EXPECT_DOUBLE_EQ(r.valid.ndcg, r.valid_ndcg[chosen]);
  EXPECT_GT(r.valid_ndcg.front(), r.valid_ndcg.back());  // more noise, worse
  EXPECT_NEAR(h.weights()[1], r.weight, 1e-7);
  EXPECT_NEAR(h.weights()[0], 1 - r.weight, 1e-7);

  // The tuned hybrid is ready for the test figures and matches content on its own.
  Metrics test, alone;
  ASSERT_TRUE(Evaluate(h, data, EvalPart::kTest, {}, &test).ok());
  ASSERT_TRUE(Evaluate(content, data, EvalPart::kTest, {}, &alone).ok());
  EXPECT_GT(test.ndcg, 0.8 * alone.ndcg);

  // Tuning the other part (content) on an already fitted hybrid: content gets the top weight.
  HybridTuneOptions o;
  o.part = 0;
  o.fit = false;
  o.grid = {0.0f, 0.5f, 1.0f};
  ASSERT_TRUE(TuneHybridWeight(&h, data, o, &r).ok());
  EXPECT_EQ(r.weight, 1.0f);

  o.grid = {1.5f};
  EXPECT_EQ(TuneHybridWeight(&h, data, o, &r).code(), Status::Code::kInvalidArgument);
  o.grid = {};
  EXPECT_EQ(TuneHybridWeight(&h, data, o, &r).code(), Status::Code::kInvalidArgument);
  o = HybridTuneOptions();
  o.part = 2;
  EXPECT_EQ(TuneHybridWeight(&h, data, o, &r).code(), Status::Code::kInvalidArgument);
}

TEST(HybridTest, ContentPlusCollaborativeOnPlantedData) {
  SplitMatrices data;
  ASSERT_TRUE(BuildSplitMatrices(PlantedSplit(), {}, &data).ok());
  VectorProfile content({PlantedVectors()});
  ItemKnn knn;
  Hybrid h({{&knn, 1.0f}, {&content, 1.0f}});
  HybridTuneResult r;
  ASSERT_TRUE(TuneHybridWeight(&h, data, {}, &r).ok());
  Metrics m;
  ASSERT_TRUE(Evaluate(h, data, EvalPart::kTest, {}, &m).ok());
  NoiseModel noise;
  ASSERT_TRUE(noise.Fit(data.train).ok());
  Metrics rnd;
  ASSERT_TRUE(Evaluate(noise, data, EvalPart::kTest, {}, &rnd).ok());
  EXPECT_GT(m.ndcg, 3 * rnd.ndcg);
  for (double v : r.valid_ndcg) EXPECT_TRUE(v >= 0 && v <= 1);
}

}  // namespace
}  // namespace recommend
}  // namespace reco
