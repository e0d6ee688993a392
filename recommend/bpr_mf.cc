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

// SplitMix64 as a generator: fast, and its draws are fixed across standard libraries.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() { return Mix(state_++); }
  // Uniform in [0, n) by multiply-shift (Lemire), no division.
  uint64_t Below(uint64_t n) { return uint64_t((unsigned __int128)Next() * n >> 64); }

 private:
  uint64_t state_;
};

// -log sigmoid(x) without overflow.
double SoftplusNeg(double x) {
  return x > 0 ? std::log1p(std::exp(-x)) : -x + std::log1p(std::exp(x));
}

// p . (a - b) with independent partial sums, so the compiler can vectorise it.
float DotDiff(const float* p, const float* a, const float* b, size_t d) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t f = 0;
  for (; f + 8 <= d; f += 8) {
    for (int l = 0; l < 8; ++l) acc[l] += p[f + l] * (a[f + l] - b[f + l]);
  }
  float s = 0;
  for (; f < d; ++f) s += p[f] * (a[f] - b[f]);
  for (int l = 0; l < 8; ++l) s += acc[l];
  return s;
}

// Adam state of parameter rows: first and second moments, and per row beta1^t and beta2^t for
// the bias correction (t = the row's own step count: rows are updated sparsely).
struct AdamState {
  std::vector<float> m, v, beta1_t, beta2_t;
  void Init(size_t rows, size_t width) {
    m.assign(rows * width, 0.0f);
    v.assign(rows * width, 0.0f);
    beta1_t.assign(rows, 1.0f);
    beta2_t.assign(rows, 1.0f);
  }
};

void AdamStep(float* param, const float* grad, size_t width, size_t row, AdamState* s,
              const BprOptions& o) {
  const float b1 = o.adam_beta1, b2 = o.adam_beta2;
  s->beta1_t[row] *= b1;
  s->beta2_t[row] *= b2;
  const float step = o.learning_rate / (1.0f - s->beta1_t[row]);
  const float c2 = 1.0f / (1.0f - s->beta2_t[row]);
  float* m = s->m.data() + row * width;
  float* v = s->v.data() + row * width;
#pragma omp simd
  for (size_t f = 0; f < width; ++f) {
    m[f] = b1 * m[f] + (1 - b1) * grad[f];
    v[f] = b2 * v[f] + (1 - b2) * grad[f] * grad[f];
    param[f] -= step * m[f] / (std::sqrt(v[f] * c2) + 1e-8f);
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
  if (!(o.init_std > 0)) return Status::InvalidArgument("BPR init_std: must be > 0");
  if (!(o.adam_beta1 >= 0 && o.adam_beta1 < 1 && o.adam_beta2 >= 0 && o.adam_beta2 < 1)) {
    return Status::InvalidArgument("BPR adam_beta1, adam_beta2: must be in [0, 1)");
  }
  const size_t d = o.dim;

  std::mt19937_64 init_rng(Mix(o.seed));  // normal_distribution: fixed per standard library
  std::normal_distribution<float> normal(0.0f, o.init_std);
  user_factors_.resize(size_t(n_users) * d);
  item_factors_.resize(size_t(n_items) * d);
  for (float& x : user_factors_) x = normal(init_rng);
  for (float& x : item_factors_) x = normal(init_rng);
  item_bias_.assign(n_items, 0.0f);
  if (!o.warm_present.empty()) {
    const size_t row = d + (o.item_bias ? 1 : 0);
    if (o.warm_present.size() != n_items || o.warm_item_vectors.size() != n_items * row) {
      return Status::InvalidArgument("BPR warm start: expected " + std::to_string(n_items) +
                                     " rows of " + std::to_string(row) + " floats");
    }
    for (uint32_t i = 0; i < n_items; ++i) {
      if (!o.warm_present[i]) continue;
      const float* src = o.warm_item_vectors.data() + size_t(i) * row;
      std::copy(src, src + d, item_factors_.begin() + size_t(i) * d);
      if (o.item_bias) item_bias_[i] = src[d];
    }
  }
  epochs_trained_ = 0;
  SetShape(n_users, n_items);  // the callback may score between epochs

  // Entry k of the CSR is (entry_user[k], items[k]).
  const size_t nnz = train.nnz();
  std::vector<uint32_t> entry_user(nnz), entry_item(nnz);
  size_t k = 0;
  for (uint32_t u = 0; u < n_users; ++u) {
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

  // Negative sampling asks "has u an entry for j?" for every triple: a bit matrix answers in
  // one load when it is small enough (<= 64 MiB), else a binary search in the row.
  std::vector<uint64_t> bits;
  const size_t words_per_user = (size_t(n_items) + 63) / 64;
  if (double(n_users) * double(words_per_user) * 8 <= double(64 << 20)) {
    bits.assign(size_t(n_users) * words_per_user, 0);
    for (k = 0; k < nnz; ++k) {
      bits[entry_user[k] * words_per_user + entry_item[k] / 64] |= uint64_t(1)
                                                                   << (entry_item[k] % 64);
    }
  }
  auto has = [&](uint32_t u, uint32_t j) {
    if (bits.empty()) return train.Contains(u, j);
    return (bits[u * words_per_user + j / 64] >> (j % 64) & 1) != 0;
  };

  // The visiting order: (user << 32 | item) of every entry, reshuffled in place each epoch.
  std::vector<uint64_t> order(nnz);
  for (k = 0; k < nnz; ++k) order[k] = uint64_t(entry_user[k]) << 32 | entry_item[k];
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    Rng order_rng(Mix(o.seed ^ Mix(uint64_t(epoch) << 32)));
    for (size_t k = nnz; k > 1; --k) std::swap(order[k - 1], order[order_rng.Below(k)]);

    double loss = 0;
    uint64_t triples = 0;
#pragma omp parallel num_threads(o.num_threads) reduction(+ : loss, triples)
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      Rng rng(Mix(o.seed ^ Mix((uint64_t(epoch) << 32) | uint64_t(t + 1))));
      // Local copies of the three rows: the update loops then vectorise (no aliasing).
      const float lr = o.learning_rate, reg = o.reg;  // locals: stores cannot alias them
      std::vector<float> buf(6 * d);
      float *pu = buf.data(), *qi = pu + d, *qj = qi + d, *gu = qj + d, *gi = gu + d, *gj = gi + d;
      const size_t begin = nnz * size_t(t) / size_t(nt), end = nnz * size_t(t + 1) / size_t(nt);
      for (size_t k = begin; k < end; ++k) {
        const uint32_t u = uint32_t(order[k] >> 32), i = uint32_t(order[k]);
        uint32_t j = 0;
        bool found = false;
        for (int tries = 0; tries < 64 && !found; ++tries) {
          j = uint32_t(rng.Below(n_items));
          found = !has(u, j);
        }
        if (!found) continue;  // the user has (nearly) every item
        float* user_row = user_factors_.data() + size_t(u) * d;
        float* pos_row = item_factors_.data() + size_t(i) * d;
        float* neg_row = item_factors_.data() + size_t(j) * d;
        std::copy_n(user_row, d, pu);
        std::copy_n(pos_row, d, qi);
        std::copy_n(neg_row, d, qj);
        const float x = item_bias_[i] - item_bias_[j] + DotDiff(pu, qi, qj, d);
        loss += SoftplusNeg(x);
        ++triples;
        const float g = 1.0f / (1.0f + std::exp(x));  // sigmoid(-x) = -d loss / d x
        // Gradients of the loss (to descend), L2 included.
#pragma omp simd
        for (size_t f = 0; f < d; ++f) {
          gu[f] = -g * (qi[f] - qj[f]) + reg * pu[f];
          gi[f] = -g * pu[f] + reg * qi[f];
          gj[f] = g * pu[f] + reg * qj[f];
        }
        if (!adam) {
#pragma omp simd
          for (size_t f = 0; f < d; ++f) {
            user_row[f] = pu[f] - lr * gu[f];
            pos_row[f] = qi[f] - lr * gi[f];
            neg_row[f] = qj[f] - lr * gj[f];
          }
        } else {
          AdamStep(user_row, gu, d, u, &adam_users, o);
          AdamStep(pos_row, gi, d, i, &adam_items, o);
          AdamStep(neg_row, gj, d, j, &adam_items, o);
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
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t f = 0;
    for (; f + 8 <= d; f += 8) {
      for (int l = 0; l < 8; ++l) acc[l] += pu[f + l] * qi[f + l];
    }
    float s = item_bias_[i];
    for (; f < d; ++f) s += pu[f] * qi[f];
    for (int l = 0; l < 8; ++l) s += acc[l];
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
