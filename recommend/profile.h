// VectorProfile: content-based scoring from item vectors. A user's profile is the weighted sum
// of the (L2-normalised) vectors of the items in the user's history; an item's score is the
// cosine of its vector with that profile, blended over one or more vector tables:
//   profile_t(u) = sum over history items i of w_ui * v_t(i) / |v_t(i)|
//   score(u, j)  = sum over tables t of weight_t * cos(profile_t(u), v_t(j))
// An item without a vector in table t (present flag 0) adds nothing to a profile and gets
// nothing from table t, so an item without any vector scores exactly 0.
//
// The history is either the user's matrix row (Fit alone: entries weighted by the matrix
// weights), or, after SetTimes, the user's timed events treated as the engine's Recommend
// treats them (engine/engine.cc UserHistory): the `history` most recent events, each weighing
// value * 0.5^(age / half_life) with the age measured from the user's latest event, summed per
// item. The same class serves the engine's "content" strategy (tables = the collection's
// vector spaces) and "history-profile" (tables = e.g. a model's item factors); Name() is set by
// the options.
//
// Fit normalises the rows in place (one copy of the vectors is kept); scoring one user is a
// pass of vectorised dot products over the catalogue: O(history * dim + items * dim).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "recommend/recommender.h"

namespace reco {
namespace recommend {

// One table of item vectors (a vector space), indexed by dense item id.
struct ItemVectorTable {
  std::string name;              // for messages ("text", "image" ...)
  uint32_t dim = 0;              // floats per item; >= 1
  std::vector<float> vectors;    // num_items x dim, row-major (rows of absent items ignored)
  std::vector<uint8_t> present;  // num_items flags (0 = the item has no vector); empty = all
  float weight = 1.0f;           // blend weight of this table's cosine; >= 0, finite
};

struct VectorProfileOptions {
  std::string name = "content-profile";  // what Name() answers
  // Recency, only with SetTimes (Fit refuses them without times, rather than ignore them):
  double half_life = 0;     // an event's weight halves every half_life (Interaction::time units);
                            // 0 = no decay
  uint32_t history = 0;     // the user's most recent events that form the profile; 0 = all
  bool use_weights = true;  // matrix weights / event values scale the items; false = 1
  bool normalize_profile = true;  // table scores are cosines (false: raw dot with the profile)
};

class VectorProfile : public Recommender {
 public:
  // The tables must all have one row per item of the matrix given to Fit; the first successful
  // Fit checks them and normalises the rows in place (no second copy is made).
  explicit VectorProfile(std::vector<ItemVectorTable> tables, VectorProfileOptions options = {});

  std::string Name() const override { return options_.name; }
  void set_name(std::string name) { options_.name = std::move(name); }
  const VectorProfileOptions& options() const { return options_; }

  // Gives the events (with times) that the profiles are built from, instead of the matrix
  // rows; called before Fit, it takes effect at the next Fit (and every later one until it is
  // called again; an empty vector goes back to the matrix rows). Typically the interactions
  // the train matrix was built from (Split::train). Ties in time: the later in input order
  // counts as more recent. InvalidArgument for a negative half_life.
  Status SetTimes(const std::vector<Interaction>& train_interactions);

  // Checks and prepares the tables (InvalidArgument: a table whose item count differs from
  // train's, dim 0, a bad weight or a non-finite value) and builds each user's history: from
  // the times given to SetTimes (their ids must fit train's shape) or else from train's rows.
  // FailedPrecondition when half_life or history is set without SetTimes.
  Status Fit(const InteractionMatrix& train) override;

  // The user's effective history after Fit: items and weights (decay applied, summed per item).
  Status UserHistory(uint32_t user, std::vector<uint32_t>* items,
                     std::vector<float>* weights) const;

  // All tables side by side: item rows are [weight_t * v_t(i) / |v_t(i)| ...] (zeros where
  // absent) and the user vector is [profile_t(u) / |profile_t(u)| ...], so their inner product
  // is the score (with normalize_profile; without it the user vector is unnormalised).
  bool ItemVectors(std::vector<float>* vectors, uint32_t* dim) const override;
  bool UserVector(uint32_t user, std::vector<float>* vector) const override;

  // The concatenated profile for an ad-hoc history (weights used as given: no decay), as
  // UserVector lays it out; total_dim() floats.
  void Profile(const uint32_t* items, const float* weights, size_t n, float* profile) const;
  uint32_t total_dim() const { return total_dim_; }

 protected:
  void ScoreUser(uint32_t user, float* scores) const override;
  // The ad-hoc history's weights are used as given (the caller applies any recency decay).
  Status ScoreItems(const uint32_t* items, const float* weights, size_t n,
                    float* scores) const override;

 private:
  struct Table {
    std::string name;
    uint32_t dim = 0;
    uint32_t offset = 0;  // first column in the concatenated profile
    float weight = 0;
    std::vector<float> vectors;    // num_items x dim: L2-normalised rows, zeros where absent
    std::vector<uint8_t> present;  // num_items
  };

  Status PrepareTables(uint32_t num_items);
  void ScoreProfile(const float* profile, float* scores) const;

  VectorProfileOptions options_;
  std::vector<ItemVectorTable> input_;  // until the first Fit prepares them
  std::vector<Table> tables_;           // prepared (empty before)
  uint32_t prepared_items_ = 0;
  uint32_t total_dim_ = 0;

  // Timed histories from SetTimes, used by each Fit: entries grouped by user (ascending),
  // newest item first within a user.
  bool have_times_ = false;
  uint32_t times_max_user_ = 0;
  uint32_t times_max_item_ = 0;
  std::vector<uint32_t> times_users_;
  std::vector<uint32_t> times_items_;
  std::vector<float> times_weights_;

  // Fitted histories (CSR by user).
  std::vector<size_t> hist_ptr_;
  std::vector<uint32_t> hist_items_;
  std::vector<float> hist_weights_;
};

}  // namespace recommend
}  // namespace reco
