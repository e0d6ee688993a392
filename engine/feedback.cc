#include "engine/feedback.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <set>
#include <tuple>

#include "engine/feedback_stats.h"

namespace reco {
namespace engine {
namespace internal {

FeedbackLog::FeedbackLog(storage::Store* store)
    : store_(store), request_rng_(std::random_device{}()) {}

// Writes a served list as an impression under a fresh request id (introducing the user when
// new, as events do).
Status FeedbackLog::LogImpression(Collection* c, const std::string& user,
                                  const std::string& variant, const std::vector<uint64_t>& items,
                                  std::string* request_id) {
  if (user.size() > kMaxIdBytes) return Status::InvalidArgument("user id is too long");
  std::lock_guard<std::mutex> users(c->users_mu);
  if (c->dropped) return NotFoundCollection(c->config.name);
  std::vector<std::pair<std::string, uint64_t>> new_users;
  uint64_t next = c->next_user_id;
  storage::ImpressionRecord r;
  Status st = store_->LookupUser(c->record.id, user, &r.user);
  if (st.IsNotFound()) {
    r.user = next++;
    new_users.emplace_back(user, r.user);
  } else if (!st.ok()) {
    return st;
  }
  {
    std::lock_guard<std::mutex> lock(request_mu_);
    do {
      r.request = request_rng_();
    } while (r.request == 0);
  }
  r.time_ms = NowMs();
  r.variant = variant;
  r.items = items;
  RECO_RETURN_IF_ERROR(store_->WriteImpression(c->record.id, new_users, next, r));
  c->next_user_id = next;
  *request_id = RequestIdString(r.request);
  return Status::OK();
}

std::string FeedbackLog::RequestIdString(uint64_t request) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(request));
  return buf;
}

bool FeedbackLog::ParseRequestId(const std::string& s, uint64_t* request) {
  if (s.size() != 16 || s.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
    return false;
  }
  *request = std::stoull(s, nullptr, 16);
  return *request != 0;
}

// The clicks and conversions among `records` that answer a logged impression of their item:
// the impression named by the event's request id, or else the user's latest impression of
// the item within the metric's window. Each (request, item, metric) counts once, ever.
// The caller holds c.users_mu (attribution check and write are serialised).
Status FeedbackLog::Attribute(const Collection& c, const std::vector<storage::EventRecord>& records,
                              const std::vector<uint64_t>& requests,
                              std::vector<storage::AttributionRecord>* out) {
  constexpr int64_t kSkewMs = 60000;  // an event may be stamped a little before its impression
  std::set<std::tuple<uint64_t, uint64_t, int>> taken;
  for (size_t i = 0; i < records.size(); ++i) {
    const storage::EventRecord& e = records[i];
    for (auto metric : {storage::FeedbackMetric::kClicks, storage::FeedbackMetric::kConversions}) {
      const bool click = metric == storage::FeedbackMetric::kClicks;
      if (!(click ? c.click_types : c.conversion_types).count(e.type)) continue;
      const int64_t window =
          int64_t{click ? c.config.click_window_hours : c.config.conversion_window_hours} * 3600000;
      auto fits = [&](const storage::ImpressionRecord& imp) {
        return imp.user == e.user && e.time_ms + kSkewMs >= imp.time_ms &&
               e.time_ms - imp.time_ms <= window &&
               std::find(imp.items.begin(), imp.items.end(), e.item) != imp.items.end();
      };
      storage::ImpressionRecord found;
      bool have = false;
      if (requests[i] != 0) {
        Status st = store_->GetImpression(c.record.id, requests[i], &found);
        if (!st.ok() && !st.IsNotFound()) return st;
        have = st.ok() && fits(found);
      } else {
        RECO_RETURN_IF_ERROR(store_->ScanUserImpressions(c.record.id, e.user, e.time_ms - window,
                                                         [&](const storage::ImpressionRecord& imp) {
                                                           if (imp.time_ms > e.time_ms + kSkewMs)
                                                             return true;  // later than the event
                                                           if (!fits(imp)) return true;
                                                           found = imp;
                                                           have = true;
                                                           return false;
                                                         }));
      }
      if (!have) continue;
      storage::AttributionRecord a;
      a.request = found.request;
      a.item = e.item;
      a.metric = metric;
      a.impression_time_ms = found.time_ms;
      a.variant = found.variant;
      if (!taken.emplace(a.request, a.item, static_cast<int>(metric)).second) continue;
      bool counted = false;
      RECO_RETURN_IF_ERROR(store_->HasAttribution(c.record.id, a, &counted));
      if (!counted) out->push_back(std::move(a));
    }
  }
  return Status::OK();
}

// Sums the feedback counters of the last `days` days into per-variant and per-item tallies.

Status FeedbackLog::Tallies(const Collection& c, uint32_t days, const std::string& only,
                            std::map<std::string, Tally>* out) {
  const int32_t today = static_cast<int32_t>(NowMs() / 86400000);
  return store_->ScanFeedback(c.record.id, today - static_cast<int32_t>(days) + 1, today,
                              [&](int32_t, storage::FeedbackMetric metric,
                                  const std::string& variant, uint64_t item, uint64_t n) {
                                if (!only.empty() && variant != only) return;
                                Tally& t = (*out)[variant];
                                switch (metric) {
                                  case storage::FeedbackMetric::kRequests:
                                    t.requests += n;
                                    return;
                                  case storage::FeedbackMetric::kImpressions:
                                    t.impressions += n;
                                    t.items[item][0] += n;
                                    return;
                                  case storage::FeedbackMetric::kClicks:
                                    t.clicks += n;
                                    t.items[item][1] += n;
                                    return;
                                  case storage::FeedbackMetric::kConversions:
                                    t.conversions += n;
                                    t.items[item][2] += n;
                                    return;
                                }
                              });
}

VariantFeedback FeedbackLog::Summarise(const std::string& name, const Tally& t, uint64_t catalogue,
                                       double z) {
  VariantFeedback v;
  v.variant = name;
  v.requests = t.requests;
  v.impressions = t.impressions;
  v.clicks = t.clicks;
  v.conversions = t.conversions;
  const double n = static_cast<double>(t.impressions);
  v.ctr = n > 0 ? std::min(1.0, t.clicks / n) : 0;
  v.conversion_rate = n > 0 ? std::min(1.0, t.conversions / n) : 0;
  WilsonInterval(std::min(t.clicks, t.impressions), t.impressions, z, &v.ctr_low, &v.ctr_high);
  WilsonInterval(std::min(t.conversions, t.impressions), t.impressions, z, &v.conversion_low,
                 &v.conversion_high);
  std::vector<uint64_t> counts;
  counts.reserve(catalogue);
  for (const auto& [iid, c] : t.items) {
    if (c[0] > 0) counts.push_back(c[0]);
  }
  v.items_shown = counts.size();
  v.coverage = catalogue > 0 ? std::min(1.0, double(counts.size()) / double(catalogue)) : 0;
  if (counts.size() < catalogue) counts.resize(catalogue, 0);  // items never shown
  v.gini = Gini(std::move(counts));
  return v;
}

Status FeedbackLog::CheckConfidence(double confidence) {
  if (!(confidence >= 0.5 && confidence < 1)) {
    return Status::OutOfRange("confidence must be in [0.5, 1)");
  }
  return Status::OK();
}

Status FeedbackLog::Report(const Collection& collection, const FeedbackQuery& q,
                           FeedbackReport* out) {
  *out = FeedbackReport();
  RECO_RETURN_IF_ERROR(CheckDays(q.days));
  RECO_RETURN_IF_ERROR(CheckConfidence(q.confidence));
  const double z = NormalQuantileTwoSided(q.confidence);
  const Collection* c = &collection;
  std::map<std::string, Tally> tallies;
  RECO_RETURN_IF_ERROR(Tallies(*c, q.days, q.variant, &tallies));
  out->catalogue_items = c->external_ids.size();
  Tally all;
  for (const auto& [name, t] : tallies) {
    out->variants.push_back(Summarise(name, t, out->catalogue_items, z));
    all.requests += t.requests;
    all.impressions += t.impressions;
    all.clicks += t.clicks;
    all.conversions += t.conversions;
    for (const auto& [iid, counts] : t.items) {
      for (int m = 0; m < 3; ++m) all.items[iid][m] += counts[m];
    }
  }
  out->total = Summarise(q.variant.empty() ? "all" : q.variant, all, out->catalogue_items, z);
  std::vector<std::pair<uint64_t, std::array<uint64_t, 3>>> ranked(all.items.begin(),
                                                                   all.items.end());
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.second[0] != b.second[0] ? a.second[0] > b.second[0] : a.first < b.first;
  });
  for (const auto& [iid, counts] : ranked) {
    if (out->items.size() >= q.k) break;
    auto it = c->external_ids.find(iid);
    if (it == c->external_ids.end()) continue;  // deleted since
    ItemFeedback f;
    f.id = it->second;
    f.impressions = counts[0];
    f.clicks = counts[1];
    f.conversions = counts[2];
    f.ctr = counts[0] ? std::min(1.0, double(counts[1]) / double(counts[0])) : 0;
    f.conversion_rate = counts[0] ? std::min(1.0, double(counts[2]) / double(counts[0])) : 0;
    out->items.push_back(std::move(f));
  }
  return Status::OK();
}

Status FeedbackLog::Ab(const Collection& collection, const AbQuery& q, AbReport* out) {
  *out = AbReport();
  if (q.a.empty() || q.b.empty() || q.a == q.b) {
    return Status::InvalidArgument("an A/B test needs two different variants");
  }
  RECO_RETURN_IF_ERROR(CheckDays(q.days));
  RECO_RETURN_IF_ERROR(CheckConfidence(q.confidence));
  const double z = NormalQuantileTwoSided(q.confidence);
  const Collection* c = &collection;
  std::map<std::string, Tally> tallies;
  RECO_RETURN_IF_ERROR(Tallies(*c, q.days, "", &tallies));
  std::string known;
  for (const auto& [name, t] : tallies) known += (known.empty() ? "" : ", ") + name;
  for (const std::string* v : {&q.a, &q.b}) {
    if (!tallies.count(*v)) {
      return Status::NotFound("variant '" + *v + "' served no recommendation in the last " +
                              std::to_string(q.days) +
                              " days (variants: " + (known.empty() ? "none" : known) + ")");
    }
  }
  const uint64_t catalogue = c->external_ids.size();
  const Tally& a = tallies.at(q.a);
  const Tally& b = tallies.at(q.b);
  out->confidence = q.confidence;
  out->a = Summarise(q.a, a, catalogue, z);
  out->b = Summarise(q.b, b, catalogue, z);
  out->metrics.push_back(CompareRates("ctr", std::min(a.clicks, a.impressions), a.impressions,
                                      std::min(b.clicks, b.impressions), b.impressions, z));
  out->metrics.push_back(CompareRates("conversion_rate", std::min(a.conversions, a.impressions),
                                      a.impressions, std::min(b.conversions, b.impressions),
                                      b.impressions, z));
  return Status::OK();
}

}  // namespace internal
}  // namespace engine
}  // namespace reco
