// Statistics for feedback on logged recommendations: Wilson score intervals for a rate,
// Newcombe's interval and a two-proportion z-test for the difference of two rates (an A/B
// test), and the Gini coefficient of how impressions spread over a catalogue.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace reco {
namespace engine {

// The z of a two-sided interval at `confidence` (0.95 -> 1.95996...), for 0 < confidence < 1.
double NormalQuantileTwoSided(double confidence);

// The Wilson score interval of `successes` out of `trials` at z; [0, 0] for no trials.
void WilsonInterval(uint64_t successes, uint64_t trials, double z, double* low, double* high);

// B against A for one rate: the rates, b - a with Newcombe's hybrid score interval (method 10
// of Newcombe 1998, built from the two Wilson intervals), the relative lift and the two-sided
// p-value of the pooled two-proportion z-test.
AbMetric CompareRates(const std::string& metric, uint64_t a_successes, uint64_t a_trials,
                      uint64_t b_successes, uint64_t b_trials, double z);

// Gini coefficient of non-negative counts, one per catalogue item (zeros included): 0 when
// every item was shown equally often, approaching 1 when one item took every impression.
double Gini(std::vector<uint64_t> counts);

}  // namespace engine
}  // namespace reco
