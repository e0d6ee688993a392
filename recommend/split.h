// Train / valid / test splits of interactions for offline evaluation.
//
// Both splits first merge the interactions of one (user, item) into one (value summed, time
// and position of the latest), so a pair never lands in two parts. Both are deterministic:
// the random split depends only on its seed and the input order, leave-last-out only on the
// input.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "recommend/interactions.h"

namespace reco {
namespace recommend {

struct Split {
  uint32_t num_users = 0;
  uint32_t num_items = 0;
  std::vector<Interaction> train;
  std::vector<Interaction> valid;
  std::vector<Interaction> test;
};

struct RandomSplitOptions {
  uint64_t seed = 2020;           // the shuffle of each user's interactions
  double valid_ratio = 0.1;       // share of each user's interactions for valid (rounded down)
  double test_ratio = 0.1;        // share for test (rounded down); train gets the rest
  uint32_t min_interactions = 3;  // users with fewer go wholly to train (RecBole keeps them)
};

// Random per-user split (RecBole's "RO" split with ratios 8:1:1): each user's distinct items
// are shuffled with a generator seeded from (seed, user) and cut into train, valid, test.
// Counts follow RecBole's rule: valid = floor(valid_ratio * n), test = floor(test_ratio * n),
// train = the rest; a part that would be empty only through rounding (0 < ratio * n < 1) gets
// one interaction while train keeps at least one — so a user with n >= 3 always has at least
// one valid and one test item. Users with n < min_interactions stay wholly in train.
Status RandomSplit(uint32_t num_users, uint32_t num_items,
                   const std::vector<Interaction>& interactions, const RandomSplitOptions& options,
                   Split* out);

struct LeaveLastOutOptions {
  uint32_t min_interactions = 3;  // users with fewer go wholly to train
};

// Temporal leave-last-out: per user, the latest distinct item (by time; ties by input
// position, later wins) goes to test, the second latest to valid, the rest to train.
Status LeaveLastOutSplit(uint32_t num_users, uint32_t num_items,
                         const std::vector<Interaction>& interactions,
                         const LeaveLastOutOptions& options, Split* out);

// The matrices evaluation needs, built once per split.
struct SplitMatrices {
  InteractionMatrix train;        // what models fit on (weights per MatrixOptions)
  InteractionMatrix valid;        // held-out items for tuning (binary)
  InteractionMatrix test;         // held-out items for the final figures (binary)
  InteractionMatrix train_valid;  // excluded when ranking for test (binary)
};

Status BuildSplitMatrices(const Split& split, const MatrixOptions& train_options,
                          SplitMatrices* out);

}  // namespace recommend
}  // namespace reco
