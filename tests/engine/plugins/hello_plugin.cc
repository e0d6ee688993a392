// A small test plugin built with the SDK's C++ wrapper: 4-d vectors of letter-group counts.
// Text "FAIL" makes embed report an error; "THROW" makes it throw inside the wrapper. fit()
// learns a weight per letter group (1 / documents that have it), kept as ABI 1.2 state.
#include <cctype>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "reco/plugin.hpp"

namespace {

class HelloEmbedder : public reco::sdk::Embedder {
 public:
  explicit HelloEmbedder(const std::string& config) {
    if (config.find("\"refuse\"") != std::string::npos) {
      throw std::invalid_argument("option 'refuse' is set");
    }
    flip_ = config.find("\"flip\"") != std::string::npos;  // a "new model": reversed dims
  }
  uint32_t dim() const override { return 4; }
  std::string fingerprint() const override {
    std::string fp = flip_ ? "hello-fp-flip" : "hello-fp";
    return docs_ > 0 ? fp + ",fit=" + std::to_string(docs_) : fp;
  }
  void fit(const reco_input* in, size_t n) override {
    docs_ = 0;
    float df[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < n; ++i) {
      bool has[4] = {false, false, false, false};
      for (unsigned char c : reco::sdk::InputText(in[i])) {
        if (std::isalpha(c)) has[(std::tolower(c) - 'a') % 4] = true;
      }
      for (int d = 0; d < 4; ++d) df[d] += has[d] ? 1.0f : 0.0f;
      ++docs_;
    }
    for (int d = 0; d < 4; ++d) weight_[d] = 1.0f / (1.0f + df[d]);
  }
  std::string save_state() override {
    if (docs_ == 0) return "";
    char buf[160];
    std::snprintf(buf, sizeof(buf), "hello1 %zu %a %a %a %a", docs_, weight_[0], weight_[1],
                  weight_[2], weight_[3]);
    return buf;
  }
  void load_state(const uint8_t* data, size_t size) override {
    std::string s(reinterpret_cast<const char*>(data), size);
    size_t docs = 0;
    float w[4];
    if (std::sscanf(s.c_str(), "hello1 %zu %a %a %a %a", &docs, &w[0], &w[1], &w[2], &w[3]) != 5) {
      throw std::runtime_error("not a hello state: '" + s + "'");
    }
    docs_ = docs;
    for (int d = 0; d < 4; ++d) weight_[d] = w[d];
  }
  void embed(const reco_input* in, size_t n, float* out) override {
    for (size_t i = 0; i < n; ++i) {
      std::string text = reco::sdk::InputText(in[i]);
      if (text == "FAIL") throw std::runtime_error("input " + std::to_string(i) + ": told to fail");
      if (text == "THROW") throw 42;  // not a std::exception: the wrapper must still catch it
      float v[4] = {0, 0, 0, 0};
      for (unsigned char c : text) {
        if (std::isalpha(c)) v[(std::tolower(c) - 'a') % 4] += 1;
      }
      for (int d = 0; d < 4; ++d) v[d] *= weight_[d];
      float norm = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2] + v[3] * v[3]);
      for (int d = 0; d < 4; ++d) {
        out[i * 4 + (flip_ ? 3 - d : d)] = norm > 0 ? v[d] / norm : 0.5f;
      }
    }
  }

 private:
  bool flip_ = false;
  size_t docs_ = 0;
  float weight_[4] = {1, 1, 1, 1};
};

}  // namespace

RECO_PLUGIN(HelloEmbedder, "hello", "0.1.0", "text", "text/plain", 4)
