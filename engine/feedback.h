// Feedback on served recommendations: impressions logged under request ids, clicks and
// conversions attributed to them, and the reports built from the counters (CTR, conversion,
// coverage, Gini, A/B). Storage layout: storage/store.h (impressions, feedback column
// families); statistics: engine/feedback_stats.h.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "engine/internal.h"
#include "storage/store.h"

namespace reco {
namespace engine {
namespace internal {

class FeedbackLog {
 public:
  explicit FeedbackLog(storage::Store* store);

  // Writes a served list as an impression under a fresh request id (16 hex digits), and
  // introduces the user when new, as events do. Takes c->users_mu.
  Status LogImpression(Collection* c, const std::string& user, const std::string& variant,
                       const std::vector<uint64_t>& items, std::string* request_id);
  static std::string RequestIdString(uint64_t request);
  // False for a string that is not a request id this engine gives.
  static bool ParseRequestId(const std::string& s, uint64_t* request);

  // The clicks and conversions among `records` that answer a logged impression of their item
  // (see the definition). The caller holds c.users_mu and writes `out` with the events.
  Status Attribute(const Collection& c, const std::vector<storage::EventRecord>& records,
                   const std::vector<uint64_t>& requests,
                   std::vector<storage::AttributionRecord>* out);

  // Reports over the counters; the caller holds c.mu (shared) and has checked q.k.
  Status Report(const Collection& c, const FeedbackQuery& q, FeedbackReport* out);
  Status Ab(const Collection& c, const AbQuery& q, AbReport* out);

 private:
  // Counters of the last `days` days per variant, and per item within it.
  struct Tally {
    uint64_t requests = 0, impressions = 0, clicks = 0, conversions = 0;
    std::unordered_map<uint64_t, std::array<uint64_t, 3>> items;  // impressions, clicks, conv.
  };
  Status Tallies(const Collection& c, uint32_t days, const std::string& only,
                 std::map<std::string, Tally>* out);
  static VariantFeedback Summarise(const std::string& name, const Tally& t, uint64_t catalogue,
                                   double z);
  static Status CheckConfidence(double confidence);

  storage::Store* store_;
  std::mutex request_mu_;
  std::mt19937_64 request_rng_;  // request ids of logged answers
};

}  // namespace internal
}  // namespace engine
}  // namespace reco
