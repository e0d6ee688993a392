#include "recommend/recommender.h"

#include <string>

namespace reco {
namespace recommend {

Status Recommender::Score(uint32_t user, std::vector<float>* scores) const {
  if (!fitted()) return Status::FailedPrecondition(Name() + ": Score before Fit");
  if (user >= num_users_) {
    return Status::OutOfRange(Name() + ": user " + std::to_string(user) + " is not one of the " +
                              std::to_string(num_users_) + " users the model was fitted on");
  }
  scores->assign(num_items_, 0.0f);
  ScoreUser(user, scores->data());
  return Status::OK();
}

Status Recommender::ScoreHistory(const std::vector<uint32_t>& items,
                                 const std::vector<float>& weights,
                                 std::vector<float>* scores) const {
  if (!fitted()) return Status::FailedPrecondition(Name() + ": ScoreHistory before Fit");
  if (!weights.empty() && weights.size() != items.size()) {
    return Status::InvalidArgument("weights: " + std::to_string(weights.size()) + " values for " +
                                   std::to_string(items.size()) + " items");
  }
  for (uint32_t item : items) {
    if (item >= num_items_) {
      return Status::OutOfRange("items: " + std::to_string(item) + " is not one of the " +
                                std::to_string(num_items_) + " items the model was fitted on");
    }
  }
  std::vector<float> ones;
  if (weights.empty()) ones.assign(items.size(), 1.0f);
  scores->assign(num_items_, 0.0f);
  return ScoreItems(items.data(), weights.empty() ? ones.data() : weights.data(), items.size(),
                    scores->data());
}

bool Recommender::ItemVectors(std::vector<float>*, uint32_t*) const { return false; }

bool Recommender::UserVector(uint32_t, std::vector<float>*) const { return false; }

Status Recommender::ScoreItems(const uint32_t*, const float*, size_t, float*) const {
  return Status::FailedPrecondition(Name() + " cannot score an ad-hoc history");
}

}  // namespace recommend
}  // namespace reco
