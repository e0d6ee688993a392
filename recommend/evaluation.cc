#include "recommend/evaluation.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>

namespace reco {
namespace recommend {
namespace {

// Heap order: the worst of the kept items on top.
struct Worse {
  bool operator()(const std::pair<float, uint32_t>& a, const std::pair<float, uint32_t>& b) const {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  }
};

// Top k of scores[0..n) where masked[i] is false; writes best first into `out`.
void TopKMasked(const float* scores, uint32_t n, const uint8_t* masked, uint32_t k,
                std::vector<std::pair<float, uint32_t>>* heap, std::vector<uint32_t>* out) {
  heap->clear();
  out->clear();
  if (k == 0) return;
  const Worse worse;
  for (uint32_t i = 0; i < n; ++i) {
    const float s = scores[i];
    if ((masked && masked[i]) || std::isnan(s) || s == -std::numeric_limits<float>::infinity()) {
      continue;
    }
    if (heap->size() < k) {
      heap->emplace_back(s, i);
      std::push_heap(heap->begin(), heap->end(), worse);
    } else if (worse(std::make_pair(s, i), heap->front())) {
      std::pop_heap(heap->begin(), heap->end(), worse);
      heap->back() = {s, i};
      std::push_heap(heap->begin(), heap->end(), worse);
    }
  }
  std::sort_heap(heap->begin(), heap->end(), worse);  // best first
  for (const auto& e : *heap) out->push_back(e.second);
}

}  // namespace

Metrics RankingMetrics(const std::vector<uint32_t>& ranked, const std::vector<uint32_t>& relevant,
                       uint32_t k) {
  Metrics m;
  m.k = k;
  if (relevant.empty() || k == 0) return m;
  m.users = 1;
  std::vector<uint32_t> rel = relevant;
  std::sort(rel.begin(), rel.end());
  const size_t top = std::min<size_t>(k, ranked.size());
  double hits = 0, dcg = 0;
  for (size_t r = 0; r < top; ++r) {
    if (!std::binary_search(rel.begin(), rel.end(), ranked[r])) continue;
    hits += 1;
    dcg += 1.0 / std::log2(double(r) + 2.0);
    if (m.mrr == 0) m.mrr = 1.0 / double(r + 1);
  }
  double idcg = 0;
  for (size_t r = 0; r < std::min<size_t>(k, rel.size()); ++r)
    idcg += 1.0 / std::log2(double(r) + 2.0);
  m.recall = hits / double(rel.size());
  m.precision = hits / double(k);
  m.hr = hits > 0 ? 1.0 : 0.0;
  m.ndcg = dcg / idcg;
  return m;
}

std::vector<uint32_t> TopK(const std::vector<float>& scores, uint32_t k,
                           const std::vector<uint32_t>& exclude) {
  std::vector<uint8_t> masked(scores.size(), 0);
  for (uint32_t i : exclude) {
    if (i < masked.size()) masked[i] = 1;
  }
  std::vector<std::pair<float, uint32_t>> heap;
  std::vector<uint32_t> out;
  TopKMasked(scores.data(), uint32_t(scores.size()), masked.data(), k, &heap, &out);
  return out;
}

Status EvaluateRanking(const Recommender& model, const InteractionMatrix& seen,
                       const InteractionMatrix& held_out, const EvalOptions& options,
                       Metrics* out) {
  if (!model.fitted()) return Status::FailedPrecondition(model.Name() + ": evaluate before Fit");
  if (options.k == 0) return Status::InvalidArgument("k: must be >= 1");
  const uint32_t n_users = held_out.num_users(), n_items = held_out.num_items();
  if (seen.num_users() != n_users || seen.num_items() != n_items || model.num_users() != n_users ||
      model.num_items() != n_items) {
    return Status::InvalidArgument(
        "evaluation: model (" + std::to_string(model.num_users()) + " x " +
        std::to_string(model.num_items()) + "), seen (" + std::to_string(seen.num_users()) + " x " +
        std::to_string(seen.num_items()) + ") and held-out (" + std::to_string(n_users) + " x " +
        std::to_string(n_items) + ") matrices differ in shape");
  }
  const int threads = options.num_threads > 0 ? options.num_threads : omp_get_max_threads();
  std::vector<std::vector<uint8_t>> covered(static_cast<size_t>(threads));
  double recall = 0, ndcg = 0, hr = 0, precision = 0, mrr = 0;
  int64_t users = 0;
  Status failure;
#pragma omp parallel num_threads(threads) reduction(+ : recall, ndcg, hr, precision, mrr, users)
  {
    std::vector<uint8_t>& cov = covered[size_t(omp_get_thread_num())];
    cov.assign(n_items, 0);
    std::vector<float> scores;
    std::vector<uint8_t> masked(n_items, 0);
    std::vector<std::pair<float, uint32_t>> heap;
    std::vector<uint32_t> top, relevant;
#pragma omp for schedule(dynamic, 8)
    for (int64_t uu = 0; uu < int64_t(n_users); ++uu) {
      const uint32_t u = uint32_t(uu);
      if (held_out.RowSize(u) == 0) continue;
      Status st = model.Score(u, &scores);
      if (!st.ok()) {
#pragma omp critical
        failure = st;
        continue;
      }
      const uint32_t* s_items = seen.RowItems(u);
      for (size_t q = 0; q < seen.RowSize(u); ++q) masked[s_items[q]] = 1;
      TopKMasked(scores.data(), n_items, masked.data(), options.k, &heap, &top);
      for (size_t q = 0; q < seen.RowSize(u); ++q) masked[s_items[q]] = 0;
      relevant.assign(held_out.RowItems(u), held_out.RowItems(u) + held_out.RowSize(u));
      const Metrics m = RankingMetrics(top, relevant, options.k);
      recall += m.recall;
      ndcg += m.ndcg;
      hr += m.hr;
      precision += m.precision;
      mrr += m.mrr;
      users += 1;
      for (uint32_t i : top) cov[i] = 1;
    }
  }
  if (!failure.ok()) return failure;
  Metrics m;
  m.k = options.k;
  m.users = uint32_t(users);
  if (users > 0) {
    const double n = double(users);
    m.recall = recall / n;
    m.ndcg = ndcg / n;
    m.hr = hr / n;
    m.precision = precision / n;
    m.mrr = mrr / n;
  }
  size_t distinct = 0;
  for (uint32_t i = 0; i < n_items; ++i) {
    for (const auto& cov : covered) {
      if (!cov.empty() && cov[i]) {
        ++distinct;
        break;
      }
    }
  }
  m.coverage = n_items ? double(distinct) / double(n_items) : 0.0;
  *out = m;
  return Status::OK();
}

Status Evaluate(const Recommender& model, const SplitMatrices& data, EvalPart part,
                const EvalOptions& options, Metrics* out) {
  return part == EvalPart::kValid
             ? EvaluateRanking(model, data.train, data.valid, options, out)
             : EvaluateRanking(model, data.train_valid, data.test, options, out);
}

std::vector<ModelResult> FitAndEvaluate(const std::vector<Recommender*>& models,
                                        const SplitMatrices& data, EvalPart part,
                                        const EvalOptions& options) {
  using Clock = std::chrono::steady_clock;
  std::vector<ModelResult> results;
  for (Recommender* model : models) {
    ModelResult r;
    r.name = model->Name();
    const auto t0 = Clock::now();
    r.status = model->Fit(data.train);
    const auto t1 = Clock::now();
    r.fit_seconds = std::chrono::duration<double>(t1 - t0).count();
    if (r.status.ok()) {
      r.status = Evaluate(*model, data, part, options, &r.metrics);
      r.eval_seconds = std::chrono::duration<double>(Clock::now() - t1).count();
    }
    r.status = r.status.WithContext(r.name);
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace recommend
}  // namespace reco
