#include "recommend/bpr_mf.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <string>

namespace reco {
namespace recommend {
namespace {

uint64_t Mix(uint64_t x) {  // SplitMix64
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// -log sigmoid(x) without overflow.
double SoftplusNeg(double x) { return x > 0 ? std::log1p(std::exp(-x)) : -x + std::log1p(std::exp(x)); }

// Adam state of one parameter row: first and second moments, and the row's step count.
struct AdamState {
  std::vector<float> m, v;
  std::vector<uint32_t> steps;  // per row
  void Init(size_t rows, size_t width) {
    m.assign(rows * width, 0.0f);
    v.assign(rows * width, 0.0f);
    steps.assign(rows, 0);
  }
};

void AdamStep(float* param, const float* grad, size_t width, size_t row, AdamState* s,
              const BprOptions& o) {
  const uint32_t t = ++s->steps[row];
  const float c1 = 1.0f - std::pow(o.adam_beta1, float(t));
  const float c2 = 1.0f - std::pow(o.adam_beta2, float(t));
  float* m = s->m.data() + row * width;
  float* v = s->v.data() + row * width;
  for (size_t f = 0; f < width; ++f) {
    m[f] = o.adam_beta1 * m[f] + (1 - o.adam_beta1) * grad[f];
    v[f] = o.adam_beta2 * v[f] + (1 - o.adam_beta2) * grad[f] * grad[f];
    param[f] -= o.learning_rate * (m[f] / c1) / (std::sqrt(v[f] / c2) + 1e-8f);
  }
}

}  // namespace

Status BprMf::Fit(const InteractionMatrix& train) {
  const BprOptions& o = options_;
  const uint32_t n_users = train.num_users(), n_items = train.num_items();
  if (n_items < 2) return Status::InvalidArgument("train: BPR-MF needs at least 2 items");
  if (o.dim == 0) return Status::InvalidArgument("BPR dim: must be >= 1");
  if (o.epochs < 0) return Status::InvalidArgument("BPR epochs: must be >= 0");
  if (!(o.learning_rate > 0)) return Status::InvalidArgument("BPR learning_rate: must be > 0");
  if (!(o.reg >= 0) || !(o.bias_reg >= 0)) return Status::InvalidArgument("BPR reg: must be >= 0");
  if (o.num_threads < 1) return Status::InvalidArgument("BPR num_threads: must be >= 1");
  const size_t d = o.dim;

  std::mt19937_64 init_rng(Mix(o.seed));
  std::normal_distribution<float> normal(0.0f, o.init_std);
  user_factors_.resize(size_t(n_users) * d);
  item_factors_.resize(size_t(n_items) * d);
  for (float& x : user_factors_) x = normal(init_rng);
  for (float& x : item_factors_) x = normal(init_rng);
  item_bias_.assign(n_items, 0.0f);
  epochs_trained_ = 0;
  SetShape(n_users, n_items);  // the callback may score between epochs

  // Entry k of the CSR is (entry_user[k], items[k]).
  const size_t nnz = train.nnz();
  std::vector<uint32_t> entry_user(nnz), entry_item(nnz);
  for (uint32_t u = 0, k = 0; u < n_users; ++u) {
    for (size_t q = 0; q < train.RowSize(u); ++q, ++k) {
      entry_user[k] = u;
      entry_item[k] = train.RowItems(u)[q];
    }
  }
  AdamState adam_users, adam_items, adam_bias;
  const bool adam = o.optimizer == BprOptimizer::kAdam;
  if (adam) {
    adam_users.Init(n_users, d);
    adam_items.Init(n_items, d);
    adam_bias.Init(n_items, 1);
  }

  std::vector<uint32_t> order(nnz);
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    for (size_t k = 0; k < nnz; ++k) order[k] = uint32_t(k);
    std::mt19937_64 order_rng(Mix(o.seed ^ Mix(uint64_t(epoch) << 32)));
    for (size_t k = nnz; k > 1; --k) std::swap(order[k - 1], order[order_rng() % k]);

    double loss = 0;
    uint64_t triples = 0;
#pragma omp parallel num_threads(o.num_threads) reduction(+ : loss, triples)
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      std::mt19937_64 rng(Mix(o.seed ^ Mix((uint64_t(epoch) << 32) | uint64_t(t + 1))));
      std::vector<float> gu(d), gi(d), gj(d);
      const size_t begin = nnz * size_t(t) / size_t(nt), end = nnz * size_t(t + 1) / size_t(nt);
      for (size_t k = begin; k < end; ++k) {
        const uint32_t u = entry_user[order[k]], i = entry_item[order[k]];
        uint32_t j = 0;
        bool found = false;
        for (int tries = 0; tries < 64 && !found; ++tries) {
          j = uint32_t(rng() % n_items);
          found = !train.Contains(u, j);
        }
        if (!found) continue;  // the user has (nearly) every item
        float* pu = user_factors_.data() + size_t(u) * d;
        float* qi = item_factors_.data() + size_t(i) * d;
        float* qj = item_factors_.data() + size_t(j) * d;
        float x = item_bias_[i] - item_bias_[j];
        for (size_t f = 0; f < d; ++f) x += pu[f] * (qi[f] - qj[f]);
        loss += SoftplusNeg(x);
        ++triples;
        const float g = 1.0f / (1.0f + std::exp(x));  // sigmoid(-x) = -d loss / d x
        // Gradients of the loss (to descend), L2 included.
        for (size_t f = 0; f < d; ++f) {
          gu[f] = -g * (qi[f] - qj[f]) + o.reg * pu[f];
          gi[f] = -g * pu[f] + o.reg * qi[f];
          gj[f] = g * pu[f] + o.reg * qj[f];
        }
        if (!adam) {
          for (size_t f = 0; f < d; ++f) {
            pu[f] -= o.learning_rate * gu[f];
            qi[f] -= o.learning_rate * gi[f];
            qj[f] -= o.learning_rate * gj[f];
          }
        } else {
          AdamStep(pu, gu.data(), d, u, &adam_users, o);
          AdamStep(qi, gi.data(), d, i, &adam_items, o);
          AdamStep(qj, gj.data(), d, j, &adam_items, o);
        }
        if (o.item_bias) {
          const float gbi = -g + o.bias_reg * item_bias_[i];
          const float gbj = g + o.bias_reg * item_bias_[j];
          if (!adam) {
            item_bias_[i] -= o.learning_rate * gbi;
            item_bias_[j] -= o.learning_rate * gbj;
          } else {
            AdamStep(&item_bias_[i], &gbi, 1, i, &adam_bias, o);
            AdamStep(&item_bias_[j], &gbj, 1, j, &adam_bias, o);
          }
        }
      }
    }
    epochs_trained_ = epoch;
    if (o.on_epoch) {
      BprEpoch info;
      info.epoch = epoch;
      info.triples = triples;
      info.loss = triples ? loss / double(triples) : 0.0;
      info.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (!o.on_epoch(info)) break;
    }
  }
  return Status::OK();
}

void BprMf::ScoreUser(uint32_t user, float* scores) const {
  const size_t d = options_.dim;
  const float* pu = user_factors_.data() + size_t(user) * d;
  for (uint32_t i = 0; i < num_items(); ++i) {
    const float* qi = item_factors_.data() + size_t(i) * d;
    float s = item_bias_[i];
    for (size_t f = 0; f < d; ++f) s += pu[f] * qi[f];
    scores[i] = s;
  }
}

bool BprMf::ItemVectors(std::vector<float>* vectors, uint32_t* dim) const {
  if (!fitted()) return false;
  const size_t d = options_.dim, w = d + (options_.item_bias ? 1 : 0);
  vectors->resize(size_t(num_items()) * w);
  for (uint32_t i = 0; i < num_items(); ++i) {
    std::copy_n(item_factors_.data() + size_t(i) * d, d, vectors->data() + size_t(i) * w);
    if (options_.item_bias) (*vectors)[size_t(i) * w + d] = item_bias_[i];
  }
  *dim = uint32_t(w);
  return true;
}

bool BprMf::UserVector(uint32_t user, std::vector<float>* vector) const {
  if (!fitted() || user >= num_users()) return false;
  const size_t d = options_.dim;
  vector->assign(user_factors_.begin() + size_t(user) * d,
                 user_factors_.begin() + size_t(user + 1) * d);
  if (options_.item_bias) vector->push_back(1.0f);
  return true;
}

}  // namespace recommend
}  // namespace reco
