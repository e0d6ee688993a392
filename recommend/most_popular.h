// MostPopular: every user gets the items with the most users in train (the baseline).
#pragma once

#include <string>
#include <vector>

#include "recommend/recommender.h"

namespace reco {
namespace recommend {

class MostPopular : public Recommender {
 public:
  std::string Name() const override { return "MostPopular"; }
  Status Fit(const InteractionMatrix& train) override;

 protected:
  void ScoreUser(uint32_t user, float* scores) const override;
  Status ScoreItems(const uint32_t* items, const float* weights, size_t n,
                    float* scores) const override;

 private:
  std::vector<float> counts_;  // users per item in train
};

}  // namespace recommend
}  // namespace reco
