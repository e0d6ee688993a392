#include "recommend/split.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>

namespace reco {
namespace recommend {
namespace {

// SplitMix64: derives an independent, well-mixed seed per user from (seed, user).
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

Status CheckIds(uint32_t num_users, uint32_t num_items, const std::vector<Interaction>& all) {
  for (size_t k = 0; k < all.size(); ++k) {
    if (all[k].user >= num_users || all[k].item >= num_items) {
      return Status::InvalidArgument(
          "interaction " + std::to_string(k) + ": (user " + std::to_string(all[k].user) +
          ", item " + std::to_string(all[k].item) + ") outside " + std::to_string(num_users) +
          " users x " + std::to_string(num_items) + " items");
    }
  }
  return Status::OK();
}

// Per user, the distinct (user, item) interactions in input order of their first occurrence:
// value summed, time of the latest. `position` keeps the input index of the latest one.
struct Merged {
  Interaction x;
  size_t position = 0;
};

std::vector<std::vector<Merged>> GroupByUser(uint32_t num_users,
                                             const std::vector<Interaction>& all) {
  std::vector<std::vector<uint32_t>> idx(num_users);
  for (size_t k = 0; k < all.size(); ++k) idx[all[k].user].push_back(static_cast<uint32_t>(k));
  std::vector<std::vector<Merged>> groups(num_users);
  std::vector<uint32_t> sorted;
  for (uint32_t u = 0; u < num_users; ++u) {
    sorted = idx[u];
    std::stable_sort(sorted.begin(), sorted.end(),
                     [&](uint32_t a, uint32_t b) { return all[a].item < all[b].item; });
    std::vector<Merged>& g = groups[u];
    for (size_t p = 0; p < sorted.size();) {
      Merged m{all[sorted[p]], sorted[p]};
      size_t q = p + 1;
      for (; q < sorted.size() && all[sorted[q]].item == m.x.item; ++q) {
        const Interaction& y = all[sorted[q]];
        m.x.value += y.value;
        if (y.time >= m.x.time) {
          m.x.time = y.time;
          m.position = sorted[q];
        }
      }
      g.push_back(m);
      p = q;
    }
    // Back to input order (of each pair's first occurrence) so the shuffle sees a fixed order.
    std::vector<size_t> first(g.size());
    for (size_t i = 0, p = 0; i < g.size(); ++i) {
      first[i] = sorted[p];
      while (p < sorted.size() && all[sorted[p]].item == g[i].x.item) ++p;
    }
    std::vector<size_t> order(g.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return first[a] < first[b]; });
    std::vector<Merged> in_order;
    in_order.reserve(g.size());
    for (size_t i : order) in_order.push_back(g[i]);
    g = std::move(in_order);
  }
  return groups;
}

// floor(ratio * n) robust to 0.1 * 30 = 3.0000000000000004 and 0.7 * 10 = 6.999999999999999.
size_t FloorCount(double ratio, size_t n) {
  return static_cast<size_t>(std::floor(ratio * static_cast<double>(n) + 1e-9));
}

}  // namespace

Status RandomSplit(uint32_t num_users, uint32_t num_items,
                   const std::vector<Interaction>& interactions, const RandomSplitOptions& options,
                   Split* out) {
  if (!(options.valid_ratio >= 0 && options.test_ratio >= 0 &&
        options.valid_ratio + options.test_ratio < 1)) {
    return Status::InvalidArgument(
        "valid_ratio and test_ratio must be >= 0 with a sum below 1, got " +
        std::to_string(options.valid_ratio) + " and " + std::to_string(options.test_ratio));
  }
  RECO_RETURN_IF_ERROR(CheckIds(num_users, num_items, interactions));
  Split split;
  split.num_users = num_users;
  split.num_items = num_items;
  std::vector<std::vector<Merged>> groups = GroupByUser(num_users, interactions);
  for (uint32_t u = 0; u < num_users; ++u) {
    std::vector<Merged>& g = groups[u];
    const size_t n = g.size();
    if (n < options.min_interactions || n < 2) {
      for (const Merged& m : g) split.train.push_back(m.x);
      continue;
    }
    std::mt19937_64 rng(Mix(options.seed ^ Mix(u)));
    // Fisher-Yates with our own index draw: std::shuffle's draws are not specified, so they
    // could differ between standard libraries.
    for (size_t i = n - 1; i > 0; --i) {
      const size_t j = static_cast<size_t>(rng() % (i + 1));
      std::swap(g[i], g[j]);
    }
    size_t n_valid = FloorCount(options.valid_ratio, n);
    size_t n_test = FloorCount(options.test_ratio, n);
    size_t n_train = n - n_valid - n_test;
    // RecBole: test first, then valid, each bumped to one while train keeps more than one.
    const double parts[2] = {options.test_ratio, options.valid_ratio};
    size_t* counts[2] = {&n_test, &n_valid};
    for (int p = 0; p < 2; ++p) {
      if (n_train <= 1) break;
      const double expected = parts[p] * static_cast<double>(n);
      if (expected > 0 && expected < 1) {
        ++*counts[p];
        --n_train;
      }
    }
    for (size_t i = 0; i < n; ++i) {
      if (i < n_train) {
        split.train.push_back(g[i].x);
      } else if (i < n_train + n_valid) {
        split.valid.push_back(g[i].x);
      } else {
        split.test.push_back(g[i].x);
      }
    }
  }
  *out = std::move(split);
  return Status::OK();
}

Status LeaveLastOutSplit(uint32_t num_users, uint32_t num_items,
                         const std::vector<Interaction>& interactions,
                         const LeaveLastOutOptions& options, Split* out) {
  RECO_RETURN_IF_ERROR(CheckIds(num_users, num_items, interactions));
  Split split;
  split.num_users = num_users;
  split.num_items = num_items;
  std::vector<std::vector<Merged>> groups = GroupByUser(num_users, interactions);
  for (uint32_t u = 0; u < num_users; ++u) {
    std::vector<Merged>& g = groups[u];
    std::sort(g.begin(), g.end(), [](const Merged& a, const Merged& b) {
      if (a.x.time != b.x.time) return a.x.time < b.x.time;
      return a.position < b.position;
    });
    const size_t n = g.size();
    const bool hold_out = n >= options.min_interactions && n >= 3;
    for (size_t i = 0; i < n; ++i) {
      if (!hold_out || i + 2 < n) {
        split.train.push_back(g[i].x);
      } else if (i + 2 == n) {
        split.valid.push_back(g[i].x);
      } else {
        split.test.push_back(g[i].x);
      }
    }
  }
  *out = std::move(split);
  return Status::OK();
}

Status BuildSplitMatrices(const Split& split, const MatrixOptions& train_options,
                          SplitMatrices* out) {
  MatrixOptions binary;
  binary.binary = true;
  SplitMatrices m;
  RECO_RETURN_IF_ERROR(InteractionMatrix::FromInteractions(split.num_users, split.num_items,
                                                           split.train, train_options, &m.train)
                           .WithContext("train"));
  RECO_RETURN_IF_ERROR(InteractionMatrix::FromInteractions(split.num_users, split.num_items,
                                                           split.valid, binary, &m.valid)
                           .WithContext("valid"));
  RECO_RETURN_IF_ERROR(InteractionMatrix::FromInteractions(split.num_users, split.num_items,
                                                           split.test, binary, &m.test)
                           .WithContext("test"));
  std::vector<Interaction> seen = split.train;
  seen.insert(seen.end(), split.valid.begin(), split.valid.end());
  RECO_RETURN_IF_ERROR(InteractionMatrix::FromInteractions(split.num_users, split.num_items, seen,
                                                           binary, &m.train_valid)
                           .WithContext("train+valid"));
  *out = std::move(m);
  return Status::OK();
}

}  // namespace recommend
}  // namespace reco
