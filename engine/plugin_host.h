// PluginHost loads embedding plugins (plugins/sdk ABI v1) with Boost.DLL, checks their
// version and table, and makes per-space Embedder instances. A library stays loaded for as
// long as any Embedder it made is alive.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/item.h"
#include "common/status.h"
#include "engine/engine.h"
#include "reco/plugin_abi.h"

namespace reco {
namespace engine {

class PluginLibrary;

// One instance of a plugin, configured for one space.
class Embedder {
 public:
  ~Embedder();
  Embedder(const Embedder&) = delete;
  Embedder& operator=(const Embedder&) = delete;

  uint32_t dim() const { return dim_; }
  const VectorProvenance& provenance() const { return provenance_; }
  // True when the plugin takes this content type: listed exactly, or the plugin lists a type
  // of the same family ("image/png" for "image/webp": the plugin sniffs the bytes).
  bool Accepts(const std::string& content_type) const;
  bool TakesText() const { return Accepts("text/plain"); }
  bool CanDescribe() const;

  // Embeds inputs into out (inputs.size() * dim() floats), batch_size at a time. The message
  // of a failure names the input's position. Serialised per instance (the ABI's rule).
  Status Embed(const std::vector<reco_input>& inputs, size_t batch_size, std::vector<float>* out);
  Status EmbedTexts(const std::vector<const std::string*>& texts, size_t batch_size,
                    std::vector<float>* out);
  // The plugin's searchable attributes of one input, as a JSON object (ABI 1.1 describe);
  // "{}" when the plugin has no describe.
  Status Describe(const reco_input& input, std::string* json);

  // Whether the plugin learns from a corpus (fit), and whether it can hand what it learnt to
  // the host to keep (ABI 1.2 save_state/load_state).
  bool CanFit() const;
  bool CanKeepState() const;
  // Learns from the inputs; the provenance's fingerprint is read again afterwards.
  Status Fit(const std::vector<reco_input>& inputs);
  // The learnt state ("" when the plugin keeps none), and restoring it on a fresh instance.
  Status SaveState(std::string* state);
  Status LoadState(const std::string& state);

 private:
  friend class PluginHost;
  Embedder() = default;

  std::shared_ptr<const PluginLibrary> library_;
  reco_instance* instance_ = nullptr;
  uint32_t dim_ = 0;
  VectorProvenance provenance_;
  std::vector<std::string> content_types_;
  std::mutex mu_;
};

class PluginHost {
 public:
  PluginHost();
  ~PluginHost();

  // Tries every *.so in dir (sorted by name). Refused libraries are remembered with their
  // reason (see refused()); only an unreadable directory is an error.
  Status LoadDirectory(const std::string& dir);
  // Loads one library; the error says why it was refused.
  Status LoadLibrary(const std::string& path);

  std::vector<PluginInfo> plugins() const;
  const std::vector<std::pair<std::string, std::string>>& refused() const { return refused_; }
  bool Has(const std::string& name) const;

  // Makes an instance of plugin `name` from a JSON object of options.
  Status CreateEmbedder(const std::string& name, const std::string& config_json,
                        std::unique_ptr<Embedder>* out) const;

 private:
  std::vector<std::shared_ptr<const PluginLibrary>> libraries_;
  std::vector<std::pair<std::string, std::string>> refused_;  // path, reason
};

}  // namespace engine
}  // namespace reco
