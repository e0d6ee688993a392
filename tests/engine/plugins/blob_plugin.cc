// A content (non-text) test plugin: takes image/png and image/x-test bytes, embeds their size
// and first byte, and describes them as attributes (ABI 1.1). Bytes starting with "BAD" fail.
#include <stdexcept>
#include <string>

#include "reco/plugin.hpp"

namespace {

class BlobEmbedder : public reco::sdk::Embedder {
 public:
  explicit BlobEmbedder(const std::string&) {}
  uint32_t dim() const override { return 3; }
  void embed(const reco_input* in, size_t n, float* out) override {
    for (size_t i = 0; i < n; ++i) {
      std::string bytes = reco::sdk::InputText(in[i]);
      if (bytes.rfind("BAD", 0) == 0)
        throw std::runtime_error("input " + std::to_string(i) + ": bad bytes");
      out[3 * i] = static_cast<float>(bytes.size());
      out[3 * i + 1] =
          bytes.empty() ? 0.0f : static_cast<float>(static_cast<unsigned char>(bytes[0]));
      out[3 * i + 2] = 1.0f;
    }
  }
  std::string describe(const reco_input& in) override {
    return "{\"size\": " + std::to_string(in.size) + ", \"kind\": \"" +
           std::string(in.content_type) + "\", \"tags\": [\"blob\"]}";
  }
};

}  // namespace

RECO_PLUGIN(BlobEmbedder, "blob", "0.1.0", "image", "image/png,image/x-test", 3)
