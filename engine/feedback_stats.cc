#include "engine/feedback_stats.h"

#include <algorithm>
#include <cmath>

namespace reco {
namespace engine {

double NormalQuantileTwoSided(double confidence) {
  // Solve erfc(z / sqrt 2) = 1 - confidence by bisection: erfc is monotone, and 60 halvings of
  // [0, 40] are far below double precision of any z that matters.
  const double alpha = 1.0 - confidence;
  double lo = 0, hi = 40;
  for (int i = 0; i < 100; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (std::erfc(mid / std::sqrt(2.0)) > alpha) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return 0.5 * (lo + hi);
}

void WilsonInterval(uint64_t successes, uint64_t trials, double z, double* low, double* high) {
  if (trials == 0) {
    *low = *high = 0;
    return;
  }
  const double n = static_cast<double>(trials);
  const double p = std::min(1.0, static_cast<double>(successes) / n);
  const double z2 = z * z;
  const double centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const double half = z * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n);
  *low = std::max(0.0, centre - half);
  *high = std::min(1.0, centre + half);
}

AbMetric CompareRates(const std::string& metric, uint64_t a_successes, uint64_t a_trials,
                      uint64_t b_successes, uint64_t b_trials, double z) {
  AbMetric m;
  m.metric = metric;
  m.a = a_trials ? std::min(1.0, double(a_successes) / double(a_trials)) : 0;
  m.b = b_trials ? std::min(1.0, double(b_successes) / double(b_trials)) : 0;
  m.difference = m.b - m.a;
  m.lift = m.a > 0 ? m.difference / m.a : 0;
  if (a_trials == 0 || b_trials == 0) {
    m.low = -1;
    m.high = 1;
    m.p_value = 1;
    return m;
  }
  double la, ua, lb, ub;
  WilsonInterval(a_successes, a_trials, z, &la, &ua);
  WilsonInterval(b_successes, b_trials, z, &lb, &ub);
  m.low = m.difference - std::sqrt((m.b - lb) * (m.b - lb) + (ua - m.a) * (ua - m.a));
  m.high = m.difference + std::sqrt((ub - m.b) * (ub - m.b) + (m.a - la) * (m.a - la));
  const double pooled = double(a_successes + b_successes) / double(a_trials + b_trials);
  const double se =
      std::sqrt(pooled * (1 - pooled) * (1.0 / double(a_trials) + 1.0 / double(b_trials)));
  m.p_value = se > 0 ? std::erfc(std::fabs(m.difference) / se / std::sqrt(2.0)) : 1.0;
  m.significant = m.low > 0 || m.high < 0;
  return m;
}

double Gini(std::vector<uint64_t> counts) {
  if (counts.size() < 2) return 0;
  std::sort(counts.begin(), counts.end());
  double sum = 0, weighted = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    sum += double(counts[i]);
    weighted += double(i + 1) * double(counts[i]);
  }
  if (sum == 0) return 0;
  const double n = double(counts.size());
  return 2 * weighted / (n * sum) - (n + 1) / n;
}

}  // namespace engine
}  // namespace reco
