// The interface every model implements: fit on a train matrix, score all items for a user.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "recommend/interactions.h"

namespace reco {
namespace recommend {

// A fitted model is immutable: concurrent Score* calls are safe; Fit needs exclusive access.
// Scores are "higher is better" and comparable only within one call.
class Recommender {
 public:
  virtual ~Recommender() = default;

  // Short name for tables and logs ("EASE", "BPR-MF" ...).
  virtual std::string Name() const = 0;

  // Trains on `train` (users x items). The model keeps what it needs of the user rows
  // (history-based models keep a copy of the matrix). A later Fit replaces the model.
  virtual Status Fit(const InteractionMatrix& train) = 0;

  // Scores every item for `user`, a row of the matrix given to Fit: `scores` is resized to
  // num_items. Seen items are not masked here (evaluation and the engine do that).
  // FailedPrecondition before Fit; OutOfRange for an unknown user.
  Status Score(uint32_t user, std::vector<float>* scores) const;

  // Scores every item for an ad-hoc history (items with weights, same length; weights empty =
  // all 1): how the engine scores a user who is newer than the model. Models that cannot
  // (BPR-MF has no fold-in) answer FailedPrecondition.
  Status ScoreHistory(const std::vector<uint32_t>& items, const std::vector<float>& weights,
                      std::vector<float>* scores) const;

  // Item vectors (num_items x dim, row-major) such that a user's score for an item is the
  // inner product of the user vector and the item vector; false when the model has none.
  virtual bool ItemVectors(std::vector<float>* vectors, uint32_t* dim) const;
  // The user vector matching ItemVectors (dim floats); false when the model has none.
  virtual bool UserVector(uint32_t user, std::vector<float>* vector) const;

  bool fitted() const { return num_items_ > 0; }
  uint32_t num_users() const { return num_users_; }
  uint32_t num_items() const { return num_items_; }

 protected:
  // Called by Score with a valid user and `scores` sized num_items (zero-filled).
  virtual void ScoreUser(uint32_t user, float* scores) const = 0;
  // Called by ScoreHistory with checked items; `scores` sized num_items (zero-filled).
  virtual Status ScoreItems(const uint32_t* items, const float* weights, size_t n,
                            float* scores) const;
  // Fit implementations record the shape they were fitted on (0 items = not fitted).
  void SetShape(uint32_t num_users, uint32_t num_items) {
    num_users_ = num_users;
    num_items_ = num_items;
  }

 private:
  uint32_t num_users_ = 0;
  uint32_t num_items_ = 0;
};

}  // namespace recommend
}  // namespace reco
