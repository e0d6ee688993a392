#include "recommend/profile.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <unordered_map>

namespace reco {
namespace recommend {
namespace {

std::string TableName(const ItemVectorTable& t, size_t index) {
  return "vector table " + (t.name.empty() ? "#" + std::to_string(index) : "'" + t.name + "'");
}

// a . b with independent partial sums, so the compiler can vectorise it.
float Dot(const float* a, const float* b, uint32_t d) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  uint32_t f = 0;
  for (; f + 8 <= d; f += 8) {
    for (int l = 0; l < 8; ++l) acc[l] += a[f + l] * b[f + l];
  }
  float s = 0;
  for (; f < d; ++f) s += a[f] * b[f];
  for (int l = 0; l < 8; ++l) s += acc[l];
  return s;
}

}  // namespace

VectorProfile::VectorProfile(std::vector<ItemVectorTable> tables, VectorProfileOptions options)
    : options_(std::move(options)), input_(std::move(tables)) {}

Status VectorProfile::SetTimes(const std::vector<Interaction>& train_interactions) {
  if (!(options_.half_life >= 0)) {
    return Status::InvalidArgument("half_life: must be >= 0, got " +
                                   std::to_string(options_.half_life));
  }
  have_times_ = false;
  times_max_user_ = times_max_item_ = 0;
  std::vector<uint32_t>().swap(times_users_);
  std::vector<uint32_t>().swap(times_items_);
  std::vector<float>().swap(times_weights_);
  if (train_interactions.empty()) return Status::OK();

  // Positions by user, then newest first; equal times: the later input position first. (A
  // sort rather than buckets by id: ids are checked against the matrix only at Fit.)
  std::vector<size_t> order(train_interactions.size());
  for (size_t p = 0; p < order.size(); ++p) order[p] = p;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const Interaction &x = train_interactions[a], &y = train_interactions[b];
    if (x.user != y.user) return x.user < y.user;
    return x.time != y.time ? x.time > y.time : a > b;
  });

  std::vector<uint32_t> users, items;
  std::vector<float> weights;
  std::unordered_map<uint32_t, size_t> slot;  // item -> its entry, within one user
  for (size_t begin = 0, end = 0; begin < order.size(); begin = end) {
    const uint32_t user = train_interactions[order[begin]].user;
    end = begin;
    while (end < order.size() && train_interactions[order[end]].user == user) ++end;
    size_t count = end - begin;
    if (options_.history > 0) count = std::min<size_t>(count, options_.history);
    const int64_t newest = train_interactions[order[begin]].time;
    slot.clear();
    for (size_t k = begin; k < begin + count; ++k) {
      const Interaction& x = train_interactions[order[k]];
      double w = options_.use_weights ? double(x.value) : 1.0;
      if (options_.half_life > 0) w *= std::exp2(-double(newest - x.time) / options_.half_life);
      auto [it, fresh] = slot.try_emplace(x.item, items.size());
      if (fresh) {
        users.push_back(user);
        items.push_back(x.item);
        weights.push_back(0.0f);
      }
      weights[it->second] += float(w);
    }
    times_max_user_ = std::max(times_max_user_, user);
  }
  for (uint32_t item : items) times_max_item_ = std::max(times_max_item_, item);
  have_times_ = true;
  times_users_ = std::move(users);
  times_items_ = std::move(items);
  times_weights_ = std::move(weights);
  return Status::OK();
}

Status VectorProfile::PrepareTables(uint32_t num_items) {
  if (!tables_.empty()) {
    if (prepared_items_ != num_items) {
      return Status::InvalidArgument("vector tables have " + std::to_string(prepared_items_) +
                                     " items, the matrix has " + std::to_string(num_items));
    }
    return Status::OK();
  }
  if (input_.empty()) return Status::InvalidArgument(Name() + ": no vector tables");
  const size_t n = num_items;
  for (size_t t = 0; t < input_.size(); ++t) {
    const ItemVectorTable& in = input_[t];
    if (in.dim == 0) return Status::InvalidArgument(TableName(in, t) + ": dim must be >= 1");
    if (in.vectors.size() != n * in.dim) {
      return Status::InvalidArgument(TableName(in, t) + ": " + std::to_string(in.vectors.size()) +
                                     " floats, expected " + std::to_string(n) + " items x " +
                                     std::to_string(in.dim));
    }
    if (!in.present.empty() && in.present.size() != n) {
      return Status::InvalidArgument(TableName(in, t) + ": " + std::to_string(in.present.size()) +
                                     " present flags for " + std::to_string(n) + " items");
    }
    if (!(in.weight >= 0) || !std::isfinite(in.weight)) {
      return Status::InvalidArgument(TableName(in, t) + ": weight must be finite and >= 0");
    }
    for (size_t i = 0; i < n; ++i) {
      if (!in.present.empty() && !in.present[i]) continue;
      const float* row = in.vectors.data() + i * in.dim;
      for (uint32_t d = 0; d < in.dim; ++d) {
        if (!std::isfinite(row[d])) {
          return Status::InvalidArgument(TableName(in, t) + ": item " + std::to_string(i) +
                                         " has a non-finite value");
        }
      }
    }
  }
  std::vector<Table> tables(input_.size());
  uint32_t offset = 0;
  for (size_t t = 0; t < input_.size(); ++t) {
    ItemVectorTable& in = input_[t];
    Table& out = tables[t];
    out.name = in.name;
    out.dim = in.dim;
    out.offset = offset;
    out.weight = in.weight;
    offset += in.dim;
    out.present.assign(n, 0);
    for (size_t i = 0; i < n; ++i) {
      float* row = in.vectors.data() + i * in.dim;
      double norm = 0;
      if (in.present.empty() || in.present[i]) {
        for (uint32_t d = 0; d < in.dim; ++d) norm += double(row[d]) * row[d];
      }
      if (norm == 0) {  // absent, or a zero vector (similar to nothing): an all-zero row
        std::fill(row, row + in.dim, 0.0f);
        continue;
      }
      const double inv = 1.0 / std::sqrt(norm);
      for (uint32_t d = 0; d < in.dim; ++d) row[d] = float(row[d] * inv);
      out.present[i] = 1;
    }
    out.vectors = std::move(in.vectors);  // normalised in place: one copy of the vectors
    std::vector<uint8_t>().swap(in.present);
  }
  std::vector<ItemVectorTable>().swap(input_);
  tables_ = std::move(tables);
  prepared_items_ = num_items;
  total_dim_ = offset;
  return Status::OK();
}

Status VectorProfile::Fit(const InteractionMatrix& train) {
  const uint32_t n = train.num_items();
  if (n == 0) return Status::InvalidArgument("train: no items");
  if (!have_times_ && (options_.half_life > 0 || options_.history > 0)) {
    return Status::FailedPrecondition(Name() +
                                      ": half_life and history need the event times "
                                      "(SetTimes before Fit)");
  }
  if (have_times_ && (times_max_user_ >= train.num_users() || times_max_item_ >= n)) {
    return Status::InvalidArgument(
        Name() + ": the timed interactions reach user " + std::to_string(times_max_user_) +
        " and item " + std::to_string(times_max_item_) + ", outside the matrix (" +
        std::to_string(train.num_users()) + " x " + std::to_string(n) + ")");
  }
  RECO_RETURN_IF_ERROR(PrepareTables(n));

  const uint32_t users = train.num_users();
  std::vector<size_t> ptr(size_t(users) + 1, 0);
  std::vector<uint32_t> items;
  std::vector<float> weights;
  if (have_times_) {
    items = times_items_;
    weights = times_weights_;
    for (uint32_t u : times_users_) ++ptr[u + 1];  // grouped by user, ascending
    for (uint32_t u = 0; u < users; ++u) ptr[u + 1] += ptr[u];
  } else {
    items.reserve(train.nnz());
    weights.reserve(train.nnz());
    for (uint32_t u = 0; u < users; ++u) {
      const uint32_t* row = train.RowItems(u);
      const float* w = train.RowWeights(u);
      for (size_t p = 0; p < train.RowSize(u); ++p) {
        items.push_back(row[p]);
        weights.push_back(options_.use_weights ? w[p] : 1.0f);
      }
      ptr[u + 1] = items.size();
    }
  }
  hist_ptr_ = std::move(ptr);
  hist_items_ = std::move(items);
  hist_weights_ = std::move(weights);
  SetShape(users, n);
  return Status::OK();
}

Status VectorProfile::UserHistory(uint32_t user, std::vector<uint32_t>* items,
                                  std::vector<float>* weights) const {
  if (!fitted()) return Status::FailedPrecondition(Name() + ": UserHistory before Fit");
  if (user >= num_users()) {
    return Status::OutOfRange(Name() + ": user " + std::to_string(user) + " is not one of the " +
                              std::to_string(num_users()) + " users");
  }
  items->assign(hist_items_.begin() + static_cast<std::ptrdiff_t>(hist_ptr_[user]),
                hist_items_.begin() + static_cast<std::ptrdiff_t>(hist_ptr_[user + 1]));
  weights->assign(hist_weights_.begin() + static_cast<std::ptrdiff_t>(hist_ptr_[user]),
                  hist_weights_.begin() + static_cast<std::ptrdiff_t>(hist_ptr_[user + 1]));
  return Status::OK();
}

void VectorProfile::Profile(const uint32_t* items, const float* weights, size_t count,
                            float* profile) const {
  std::fill(profile, profile + total_dim_, 0.0f);
  for (const Table& t : tables_) {
    float* p = profile + t.offset;
    for (size_t k = 0; k < count; ++k) {
      const uint32_t i = items[k];
      if (!t.present[i]) continue;
      const float w = weights[k];
      const float* row = t.vectors.data() + size_t(i) * t.dim;
      for (uint32_t d = 0; d < t.dim; ++d) p[d] += w * row[d];
    }
    if (options_.normalize_profile) {
      double norm = 0;
      for (uint32_t d = 0; d < t.dim; ++d) norm += double(p[d]) * p[d];
      if (norm > 0) {
        const float inv = float(1.0 / std::sqrt(norm));
        for (uint32_t d = 0; d < t.dim; ++d) p[d] *= inv;
      }
    }
  }
}

void VectorProfile::ScoreProfile(const float* profile, float* scores) const {
  const size_t n = prepared_items_;
  for (const Table& t : tables_) {
    if (t.weight == 0) continue;
    const float* p = profile + t.offset;
    bool zero = true;
    for (uint32_t d = 0; d < t.dim && zero; ++d) zero = p[d] == 0;
    if (zero) continue;  // no history item has a vector here: every item gets 0
    const float* rows = t.vectors.data();
    const uint8_t* present = t.present.data();
    for (size_t j = 0; j < n; ++j) {
      if (present[j]) scores[j] += t.weight * Dot(rows + j * t.dim, p, t.dim);
    }
  }
}

void VectorProfile::ScoreUser(uint32_t user, float* scores) const {
  std::vector<float> profile(total_dim_);
  const size_t begin = hist_ptr_[user];
  Profile(hist_items_.data() + begin, hist_weights_.data() + begin, hist_ptr_[user + 1] - begin,
          profile.data());
  ScoreProfile(profile.data(), scores);
}

Status VectorProfile::ScoreItems(const uint32_t* items, const float* weights, size_t n,
                                 float* scores) const {
  std::vector<float> profile(total_dim_);
  Profile(items, weights, n, profile.data());
  ScoreProfile(profile.data(), scores);
  return Status::OK();
}

bool VectorProfile::ItemVectors(std::vector<float>* vectors, uint32_t* dim) const {
  if (!fitted()) return false;
  const size_t n = prepared_items_;
  vectors->assign(n * total_dim_, 0.0f);
  for (const Table& t : tables_) {
    for (size_t i = 0; i < n; ++i) {
      float* row = vectors->data() + i * total_dim_ + t.offset;
      const float* in = t.vectors.data() + i * t.dim;
      for (uint32_t d = 0; d < t.dim; ++d) row[d] = t.weight * in[d];
    }
  }
  *dim = total_dim_;
  return true;
}

bool VectorProfile::UserVector(uint32_t user, std::vector<float>* vector) const {
  if (!fitted() || user >= num_users()) return false;
  vector->assign(total_dim_, 0.0f);
  const size_t begin = hist_ptr_[user];
  Profile(hist_items_.data() + begin, hist_weights_.data() + begin, hist_ptr_[user + 1] - begin,
          vector->data());
  return true;
}

}  // namespace recommend
}  // namespace reco
