// ItemKNN: item-item cosine similarity on the columns of the train matrix, top-k neighbours
// per item, shrinkage (a baseline; RecBole's ItemKNN). The score of item i for a user is the
// sum of the user's weights on i's neighbours times their similarity to i.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "recommend/recommender.h"

namespace reco {
namespace recommend {

struct ItemKnnOptions {
  uint32_t k = 100;     // neighbours kept per item
  float shrink = 0.0f;  // sim(i, j) = x_i.x_j / (|x_i| |x_j| + shrink); damps rare pairs
  int num_threads = 0;  // OpenMP threads for the similarity pass; 0 = OpenMP's default
};

class ItemKnn : public Recommender {
 public:
  explicit ItemKnn(ItemKnnOptions options = {}) : options_(options) {}
  std::string Name() const override { return "ItemKNN"; }
  Status Fit(const InteractionMatrix& train) override;

  // The neighbours of `item` and their similarity, most similar first.
  std::vector<std::pair<uint32_t, float>> Neighbours(uint32_t item) const;

 protected:
  void ScoreUser(uint32_t user, float* scores) const override;
  Status ScoreItems(const uint32_t* items, const float* weights, size_t n,
                    float* scores) const override;

 private:
  ItemKnnOptions options_;
  InteractionMatrix train_;
  // neighbours_[i]: the top-k (j, sim(i, j)) of item i, most similar first.
  std::vector<std::vector<std::pair<uint32_t, float>>> neighbours_;
  // influence_[j]: every (i, sim) with j among i's neighbours — scoring scatters from history.
  std::vector<std::vector<std::pair<uint32_t, float>>> influence_;
};

}  // namespace recommend
}  // namespace reco
