// Loads a built plugin with dlopen() and returns its ABI table, as the host would see it.
// The library is never dlclose()d: LibTorch does not support being unloaded.
#pragma once

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "reco/plugin_abi.h"

namespace reco {
namespace testing {

// The table of ${RECO_PLUGIN_DIR}/<file>; a failure is reported and null returned.
inline const reco_plugin_v1* LoadPluginTable(const std::string& file) {
  const std::string path = std::string(RECO_PLUGIN_DIR) + "/" + file;
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    ADD_FAILURE() << "dlopen(" << path << "): " << dlerror();
    return nullptr;
  }
  auto entry = reinterpret_cast<reco_plugin_entry_fn>(dlsym(handle, RECO_PLUGIN_ENTRY_SYMBOL));
  if (entry == nullptr) {
    ADD_FAILURE() << "no " << RECO_PLUGIN_ENTRY_SYMBOL << " in " << path;
    return nullptr;
  }
  return entry(RECO_PLUGIN_ABI_VERSION);
}

// One instance of a plugin through its raw C table, destroyed at scope exit. Inputs are byte
// strings of `content_type` unless a call names another.
class PluginInstance {
 public:
  PluginInstance(const reco_plugin_v1* api, const std::string& config, const char* content_type)
      : api_(api), type_(content_type), inst_(api->create(config.c_str())) {}
  ~PluginInstance() {
    if (inst_ != nullptr) api_->destroy(inst_);
  }
  PluginInstance(const PluginInstance&) = delete;
  PluginInstance& operator=(const PluginInstance&) = delete;

  bool ok() const { return inst_ != nullptr; }
  reco_instance* raw() { return inst_; }
  uint32_t dim() const { return api_->dim(inst_); }
  std::string fingerprint() const { return api_->fingerprint(inst_); }
  std::string error() const { return api_->last_error(inst_); }

  // embed_batch over the inputs; returns RECO_OK or RECO_ERROR. *out starts as NaNs.
  int Embed(const std::vector<std::string>& inputs, std::vector<float>* out,
            const char* content_type = nullptr) {
    const std::vector<reco_input> in = Inputs(inputs, content_type);
    out->assign(inputs.size() * dim(), std::nanf(""));
    return api_->embed_batch(inst_, in.data(), in.size(), out->data());
  }
  // Embeds, failing the test on error.
  std::vector<float> EmbedOk(const std::vector<std::string>& inputs) {
    std::vector<float> out;
    EXPECT_EQ(Embed(inputs, &out), RECO_OK) << error();
    return out;
  }
  // The error message of embedding one input ("" when it embeds).
  std::string EmbedError(const std::string& input, const char* content_type = nullptr) {
    std::vector<float> out;
    return Embed({input}, &out, content_type) == RECO_OK ? std::string() : error();
  }
  // fit over the inputs; returns RECO_OK or RECO_ERROR.
  int Fit(const std::vector<std::string>& inputs, const char* content_type = nullptr) {
    const std::vector<reco_input> in = Inputs(inputs, content_type);
    return api_->fit(inst_, in.data(), in.size());
  }
  // describe() of one input: RECO_OK and the JSON, or RECO_ERROR and the error, in *json.
  int Describe(const std::string& input, std::string* json, const char* content_type = nullptr) {
    const reco_input in{content_type ? content_type : type_,
                        reinterpret_cast<const uint8_t*>(input.data()), input.size()};
    const char* out = nullptr;
    const int rc = api_->describe(inst_, &in, &out);
    *json = rc == RECO_OK && out ? out : error();
    return rc;
  }

 private:
  std::vector<reco_input> Inputs(const std::vector<std::string>& inputs,
                                 const char* content_type) const {
    std::vector<reco_input> in;
    for (const std::string& b : inputs) {
      in.push_back({content_type ? content_type : type_, reinterpret_cast<const uint8_t*>(b.data()),
                    b.size()});
    }
    return in;
  }

  const reco_plugin_v1* api_;
  const char* type_;
  reco_instance* inst_;
};

}  // namespace testing
}  // namespace reco
