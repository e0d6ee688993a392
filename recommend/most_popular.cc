#include "recommend/most_popular.h"

#include <algorithm>

namespace reco {
namespace recommend {

Status MostPopular::Fit(const InteractionMatrix& train) {
  if (train.num_items() == 0) return Status::InvalidArgument("train: no items");
  counts_ = train.ItemCounts();
  SetShape(train.num_users(), train.num_items());
  return Status::OK();
}

void MostPopular::ScoreUser(uint32_t, float* scores) const {
  std::copy(counts_.begin(), counts_.end(), scores);
}

Status MostPopular::ScoreItems(const uint32_t*, const float*, size_t, float* scores) const {
  std::copy(counts_.begin(), counts_.end(), scores);
  return Status::OK();
}

}  // namespace recommend
}  // namespace reco
