// A small test plugin built with the SDK's C++ wrapper: 4-d vectors of letter-group counts.
// Text "FAIL" makes embed report an error; "THROW" makes it throw inside the wrapper.
#include <cctype>
#include <cmath>
#include <stdexcept>

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
  std::string fingerprint() const override { return flip_ ? "hello-fp-flip" : "hello-fp"; }
  void embed(const reco_input* in, size_t n, float* out) override {
    for (size_t i = 0; i < n; ++i) {
      std::string text = reco::sdk::InputText(in[i]);
      if (text == "FAIL") throw std::runtime_error("input " + std::to_string(i) + ": told to fail");
      if (text == "THROW") throw 42;  // not a std::exception: the wrapper must still catch it
      float v[4] = {0, 0, 0, 0};
      for (unsigned char c : text) {
        if (std::isalpha(c)) v[(std::tolower(c) - 'a') % 4] += 1;
      }
      float norm = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2] + v[3] * v[3]);
      for (int d = 0; d < 4; ++d) {
        out[i * 4 + (flip_ ? 3 - d : d)] = norm > 0 ? v[d] / norm : 0.5f;
      }
    }
  }

 private:
  bool flip_ = false;
};

}  // namespace

RECO_PLUGIN(HelloEmbedder, "hello", "0.1.0", "text", "text/plain", 4)
