#include "engine/learning.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <shared_mutex>
#include <unordered_map>

#include "recommend/bpr_mf.h"
#include "recommend/ease.h"
#include "recommend/evaluation.h"
#include "recommend/hybrid.h"
#include "recommend/item_knn.h"
#include "recommend/most_popular.h"
#include "recommend/split.h"

namespace reco {
namespace engine {
namespace internal {

Status CollectInteractions(storage::Store* store, const Collection& c,
                           const std::vector<std::string>& types,
                           std::vector<recommend::Interaction>* out, std::vector<uint64_t>* items,
                           uint32_t* num_users, std::vector<uint64_t>* users) {
  std::set<uint8_t> wanted;
  for (const auto& t : types) {
    auto it = c.event_type_index.find(t);
    if (it == c.event_type_index.end()) {
      return Status::InvalidArgument("unknown event type '" + t + "' (types: " + EventTypeNames(c) +
                                     ")");
    }
    wanted.insert(it->second);
  }
  std::unordered_map<uint64_t, uint32_t> user_of, item_of;
  out->clear();
  items->clear();
  RECO_RETURN_IF_ERROR(store->ScanEvents(c.record.id, [&](const storage::EventRecord& e) {
    if (!wanted.empty() && !wanted.count(e.type)) return;
    if (!c.external_ids.count(e.item)) return;
    auto [u, new_user] = user_of.try_emplace(e.user, static_cast<uint32_t>(user_of.size()));
    if (new_user && users != nullptr) users->push_back(e.user);
    auto [i, new_item] = item_of.try_emplace(e.item, static_cast<uint32_t>(item_of.size()));
    if (new_item) items->push_back(e.item);
    const EventType& t =
        c.config.event_types[std::min<size_t>(e.type, c.config.event_types.size() - 1)];
    recommend::Interaction in;
    in.user = u->second;
    in.item = i->second;
    in.value = static_cast<float>(t.weight * (t.name == "rating" ? e.value : 1.0));
    in.time = e.time_ms;
    out->push_back(in);
  }));
  *num_users = static_cast<uint32_t>(user_of.size());
  return Status::OK();
}

// The vectors of every content space (a plugin or "none" space, not a learned one) for the
// dense items of an evaluation, one table per space holding any of them.
Status ContentTables(storage::Store* store, const Collection& c, const std::vector<uint64_t>& items,
                     std::vector<recommend::ItemVectorTable>* out) {
  out->clear();
  std::unordered_map<uint64_t, uint32_t> dense;
  for (size_t i = 0; i < items.size(); ++i) dense[items[i]] = static_cast<uint32_t>(i);
  for (const auto& s : c.spaces) {
    if (IsLearned(*s)) continue;
    recommend::ItemVectorTable t;
    t.name = s->config.name;
    t.dim = s->config.dim;
    t.vectors.assign(items.size() * size_t{t.dim}, 0.0f);
    t.present.assign(items.size(), 0);
    size_t found = 0;
    RECO_RETURN_IF_ERROR(store->ScanVectors(
        c.record.id, s->storage, [&](uint64_t iid, const float* values, size_t dim) {
          auto it = dense.find(iid);
          if (it == dense.end() || dim != t.dim) return;
          std::copy(values, values + dim, t.vectors.begin() + size_t{it->second} * dim);
          t.present[it->second] = 1;
          ++found;
        }));
    if (found > 0) out->push_back(std::move(t));
  }
  return Status::OK();
}

namespace {

// What `recommend --model ease` serves, for the offline evaluation: EASE with only the
// `neighbours` strongest positive weights of each row kept (the stored item model).
class ServedEase final : public recommend::Recommender {
 public:
  explicit ServedEase(uint32_t neighbours) : neighbours_(neighbours) {}
  std::string Name() const override { return "EASE-served"; }
  Status Fit(const recommend::InteractionMatrix& train) override {
    recommend::Ease ease;
    RECO_RETURN_IF_ERROR(ease.Fit(train));
    const uint32_t n = train.num_items();
    const std::vector<float>& b = ease.weights();
    rows_.assign(n, {});
    std::vector<uint32_t> order(n);
    for (uint32_t i = 0; i < n; ++i) {
      const float* row = b.data() + size_t(i) * n;
      for (uint32_t j = 0; j < n; ++j) order[j] = j;
      const size_t keep = std::min<size_t>(size_t{neighbours_} + 1, n);
      std::partial_sort(order.begin(), order.begin() + keep, order.end(),
                        [&](uint32_t x, uint32_t y) { return row[x] > row[y]; });
      for (size_t r = 0; r < keep && rows_[i].size() < neighbours_; ++r) {
        if (!(row[order[r]] > 0)) break;
        if (order[r] != i) rows_[i].emplace_back(order[r], row[order[r]]);
      }
    }
    train_ = train;
    SetShape(train.num_users(), n);
    return Status::OK();
  }

 protected:
  void ScoreUser(uint32_t user, float* scores) const override {
    for (size_t q = 0; q < train_.RowSize(user); ++q) {
      for (const auto& [j, w] : rows_[train_.RowItems(user)[q]]) scores[j] += w;
    }
  }

 private:
  uint32_t neighbours_;
  recommend::InteractionMatrix train_;
  std::vector<std::vector<std::pair<uint32_t, float>>> rows_;
};

}  // namespace

Status FitItemModel(const std::vector<recommend::Interaction>& interactions,
                    const std::vector<uint64_t>& items, uint32_t num_users, uint32_t neighbours,
                    ItemRows* rows) {
  rows->clear();
  const uint32_t n = static_cast<uint32_t>(items.size());
  recommend::InteractionMatrix matrix;
  RECO_RETURN_IF_ERROR(recommend::InteractionMatrix::FromInteractions(
      num_users, n, interactions, recommend::MatrixOptions(), &matrix));
  recommend::Ease ease;
  RECO_RETURN_IF_ERROR(ease.Fit(matrix));
  const std::vector<float>& b = ease.weights();
  const size_t keep = std::min<size_t>(neighbours, n > 0 ? n - 1 : 0);
  std::vector<uint32_t> order(n);
  rows->reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    const float* row = b.data() + size_t(i) * n;
    for (uint32_t j = 0; j < n; ++j) order[j] = j;
    auto by_weight = [&](uint32_t x, uint32_t y) {
      return row[x] != row[y] ? row[x] > row[y] : x < y;
    };
    std::partial_sort(order.begin(), order.begin() + std::min<size_t>(keep + 1, n), order.end(),
                      by_weight);
    std::vector<std::pair<uint64_t, float>> kept;
    kept.reserve(keep);
    // The first keep + 1 are sorted: the item's own weight is 0, and only positive weights
    // vote for an item.
    for (size_t r = 0; r < std::min<size_t>(keep + 1, n) && kept.size() < keep; ++r) {
      const uint32_t j = order[r];
      if (!(row[j] > 0)) break;
      if (j != i) kept.emplace_back(items[j], row[j]);
    }
    rows->emplace_back(items[i], std::move(kept));
  }
  return Status::OK();
}

Status EvaluateCollection(storage::Store* store, const Collection& collection, const EvalRequest& r,
                          std::vector<EvalResult>* out) {
  out->clear();
  const Collection* c = &collection;
  if (r.k == 0 || r.k > 1000) return Status::OutOfRange("k must be 1..1000");
  static const std::vector<std::string> kAll = {"most-popular",    "item-knn", "ease",
                                                "ease-served",     "bpr",      "content",
                                                "history-profile", "hybrid"};
  std::vector<std::string> strategies = r.strategies;
  if (strategies.empty()) strategies = kAll;
  for (const auto& name : strategies) {
    if (std::find(kAll.begin(), kAll.end(), name) == kAll.end()) {
      return Status::InvalidArgument("unknown strategy '" + name +
                                     "' (most-popular, item-knn, ease, ease-served, bpr, content, "
                                     "history-profile, hybrid)");
    }
  }
  auto wants = [&](const char* name) {
    return std::find(strategies.begin(), strategies.end(), name) != strategies.end();
  };
  std::vector<recommend::Interaction> interactions;
  std::vector<uint64_t> items;
  std::vector<recommend::ItemVectorTable> content;
  uint32_t num_users = 0;
  {
    std::shared_lock<std::shared_mutex> lock(c->mu);
    RECO_RETURN_IF_ERROR(
        CollectInteractions(store, *c, r.event_types, &interactions, &items, &num_users));
    if (wants("content") || wants("history-profile") || wants("hybrid")) {
      RECO_RETURN_IF_ERROR(ContentTables(store, *c, items, &content));
    }
  }
  if (interactions.empty()) {
    return Status::FailedPrecondition("collection " + Quote(r.collection) +
                                      " has no events to evaluate on");
  }
  recommend::Split split;
  const uint32_t num_items = static_cast<uint32_t>(items.size());
  if (r.protocol == "random-80-10-10") {
    recommend::RandomSplitOptions o;
    o.seed = r.seed;
    RECO_RETURN_IF_ERROR(recommend::RandomSplit(num_users, num_items, interactions, o, &split));
  } else if (r.protocol == "leave-last-out") {
    RECO_RETURN_IF_ERROR(
        recommend::LeaveLastOutSplit(num_users, num_items, interactions, {}, &split));
  } else {
    return Status::InvalidArgument("unknown protocol '" + r.protocol +
                                   "' (random-80-10-10, leave-last-out)");
  }
  recommend::SplitMatrices data;
  RECO_RETURN_IF_ERROR(recommend::BuildSplitMatrices(split, recommend::MatrixOptions(), &data));
  const recommend::EvalPart part =
      r.on_valid ? recommend::EvalPart::kValid : recommend::EvalPart::kTest;
  recommend::EvalOptions eo;
  eo.k = r.k;
  const std::string no_content =
      "the collection has no content vectors for its evaluated items (a plugin or \"none\" "
      "space with vectors)";

  // Every strategy is fitted on the train part only, in this run.
  recommend::BprOptions bpr_options;
  bpr_options.seed = r.seed;
  std::map<std::string, std::unique_ptr<recommend::Recommender>> models;
  std::map<std::string, std::string> errors;
  std::map<std::string, recommend::ModelResult> results;
  for (const auto& name : strategies) {
    if (name == "most-popular") models[name] = std::make_unique<recommend::MostPopular>();
    if (name == "item-knn") models[name] = std::make_unique<recommend::ItemKnn>();
    if (name == "ease") models[name] = std::make_unique<recommend::Ease>();
    if (name == "bpr") models[name] = std::make_unique<recommend::BprMf>(bpr_options);
    if (name == "ease-served") models[name] = std::make_unique<ServedEase>(200);
    if (name == "content") {
      if (content.empty()) {
        errors[name] = no_content;
        continue;
      }
      recommend::VectorProfileOptions o;
      o.name = "content";
      models[name] = std::make_unique<recommend::VectorProfile>(content, o);
    }
  }
  std::vector<recommend::Recommender*> plain;
  std::vector<std::string> plain_names;
  for (auto& [name, model] : models) {
    plain.push_back(model.get());
    plain_names.push_back(name);
  }
  auto fitted = recommend::FitAndEvaluate(plain, data, part, eo);
  for (size_t i = 0; i < fitted.size(); ++i) results[plain_names[i]] = std::move(fitted[i]);

  // history-profile: what Recommend does for a user — a recency-weighted profile of their
  // latest events over every vector space, here the content spaces and the item vectors of
  // a BPR-MF model trained on the train part (the collaborative space, without leakage).
  if (wants("history-profile")) {
    const auto start = std::chrono::steady_clock::now();
    recommend::BprMf bpr(bpr_options);
    recommend::ModelResult result;
    result.status = bpr.Fit(data.train);
    std::vector<recommend::ItemVectorTable> tables = content;
    if (result.status.ok()) {
      recommend::ItemVectorTable learned;
      learned.name = "collaborative";
      if (bpr.ItemVectors(&learned.vectors, &learned.dim)) tables.push_back(std::move(learned));
      recommend::VectorProfileOptions o;
      o.name = "history-profile";
      o.half_life = 14.0 * 86400000.0;  // Recommend's default, in event milliseconds
      o.history = 50;
      recommend::VectorProfile profile(std::move(tables), o);
      result.status = profile.SetTimes(split.train);
      if (result.status.ok()) result.status = profile.Fit(data.train);
      result.fit_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (result.status.ok()) {
        result.status = recommend::Evaluate(profile, data, part, eo, &result.metrics);
      }
    }
    results["history-profile"] = std::move(result);
  }

  // hybrid: EASE (or item-kNN when EASE cannot run) blended with the content profile by
  // standardised scores, the blend weight chosen on the valid part.
  if (wants("hybrid")) {
    if (content.empty()) {
      errors["hybrid"] = no_content;
    } else {
      const auto start = std::chrono::steady_clock::now();
      recommend::Ease ease;
      recommend::ItemKnn knn;
      recommend::Recommender* collaborative = &ease;
      recommend::ModelResult result;
      if (!ease.Fit(data.train).ok()) {
        collaborative = &knn;
        result.status = knn.Fit(data.train);
      }
      recommend::VectorProfileOptions o;
      o.name = "content";
      recommend::VectorProfile profile(content, o);
      if (result.status.ok()) result.status = profile.Fit(data.train);
      recommend::HybridOptions ho;
      ho.name = "hybrid";
      ho.fit_parts = false;
      recommend::Hybrid hybrid({{collaborative, 1.0f}, {&profile, 0.0f}}, ho);
      recommend::HybridTuneOptions to;
      to.eval = eo;
      to.fit = false;
      recommend::HybridTuneResult tuned;
      if (result.status.ok()) result.status = hybrid.Fit(data.train);
      if (result.status.ok())
        result.status = recommend::TuneHybridWeight(&hybrid, data, to, &tuned);
      result.fit_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (result.status.ok()) {
        result.status = recommend::Evaluate(hybrid, data, part, eo, &result.metrics);
      }
      result.name = "content weight " + std::to_string(tuned.weight).substr(0, 4);
      results["hybrid"] = std::move(result);
    }
  }

  for (const auto& name : strategies) {
    EvalResult e;
    e.strategy = name;
    e.k = r.k;
    auto err = errors.find(name);
    auto res = results.find(name);
    if (err != errors.end()) {
      e.error = err->second;
    } else if (res != results.end()) {
      if (!res->second.status.ok()) e.error = res->second.status.message();
      const auto& m = res->second.metrics;
      e.recall = m.recall;
      e.ndcg = m.ndcg;
      e.hr = m.hr;
      e.precision = m.precision;
      e.mrr = m.mrr;
      e.coverage = m.coverage;
      e.users = m.users;
      e.fit_seconds = res->second.fit_seconds;
      if (name == "hybrid") e.detail = res->second.name;
    }
    out->push_back(e);
  }
  return Status::OK();
}

}  // namespace internal
}  // namespace engine
}  // namespace reco
