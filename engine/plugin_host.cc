#include "engine/plugin_host.h"

#include <boost/dll/shared_library.hpp>
#include <boost/filesystem.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "reco/plugin_abi.h"

namespace reco {
namespace engine {

// A loaded library and the table its entry function returned.
class PluginLibrary {
 public:
  boost::dll::shared_library library;
  const reco_plugin_v1* table = nullptr;
  PluginInfo info;
};

namespace {

std::string AbiString(uint32_t v) {
  return std::to_string(RECO_PLUGIN_ABI_MAJOR_OF(v)) + "." +
         std::to_string(RECO_PLUGIN_ABI_MINOR_OF(v));
}

bool ValidPluginName(const char* name) {
  if (name == nullptr || *name == '\0') return false;
  for (const char* p = name; *p; ++p) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return std::string(name) != "none";
}

const char* OrEmpty(const char* s) { return s ? s : ""; }

}  // namespace

Embedder::~Embedder() {
  if (instance_ != nullptr) library_->table->destroy(instance_);
}

bool Embedder::Accepts(const std::string& content_type) const {
  const std::string type = content_type.substr(0, content_type.find(';'));
  const std::string family = type.substr(0, type.find('/') + 1);
  for (const auto& t : content_types_) {
    if (t == type) return true;
    if (!family.empty() && family != "text/" && t.compare(0, family.size(), family) == 0) {
      return true;
    }
  }
  return false;
}

bool Embedder::CanDescribe() const {
  const reco_plugin_v1* t = library_->table;
  return RECO_PLUGIN_HAS(t, describe) && t->describe != nullptr;
}

Status Embedder::EmbedTexts(const std::vector<const std::string*>& texts, size_t batch_size,
                            std::vector<float>* out) {
  std::vector<reco_input> inputs(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    inputs[i] = reco_input{"text/plain", reinterpret_cast<const uint8_t*>(texts[i]->data()),
                           texts[i]->size()};
  }
  return Embed(inputs, batch_size, out);
}

Status Embedder::Embed(const std::vector<reco_input>& inputs, size_t batch_size,
                       std::vector<float>* out) {
  const reco_plugin_v1* t = library_->table;
  out->assign(inputs.size() * dim_, 0.0f);
  if (batch_size == 0) batch_size = 1;
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t begin = 0; begin < inputs.size(); begin += batch_size) {
    size_t n = std::min(batch_size, inputs.size() - begin);
    float* dst = out->data() + begin * dim_;
    if (t->embed_batch(instance_, inputs.data() + begin, n, dst) != RECO_OK) {
      std::string why = OrEmpty(t->last_error(instance_));
      return Status::PluginError("plugin '" + library_->info.name + "' failed on input " +
                                 std::to_string(begin) + ".." + std::to_string(begin + n - 1) +
                                 ": " + why);
    }
    for (size_t i = 0; i < n * dim_; ++i) {
      if (!std::isfinite(dst[i])) {
        return Status::PluginError("plugin '" + library_->info.name +
                                   "' returned a NaN or infinite value for input " +
                                   std::to_string(begin + i / dim_));
      }
    }
  }
  return Status::OK();
}

Status Embedder::Describe(const reco_input& input, std::string* json) {
  if (!CanDescribe()) {
    *json = "{}";
    return Status::OK();
  }
  const reco_plugin_v1* t = library_->table;
  std::lock_guard<std::mutex> lock(mu_);
  const char* out = nullptr;
  if (t->describe(instance_, &input, &out) != RECO_OK || out == nullptr) {
    return Status::PluginError(
        "plugin '" + library_->info.name +
        "' could not describe its input: " + OrEmpty(t->last_error(instance_)));
  }
  *json = out;
  return Status::OK();
}

bool Embedder::CanFit() const { return library_->table->fit != nullptr; }

bool Embedder::CanKeepState() const {
  const reco_plugin_v1* t = library_->table;
  return RECO_PLUGIN_HAS(t, load_state) && t->save_state != nullptr && t->load_state != nullptr;
}

Status Embedder::Fit(const std::vector<reco_input>& inputs) {
  const reco_plugin_v1* t = library_->table;
  if (t->fit == nullptr) {
    return Status::InvalidArgument("plugin '" + library_->info.name + "' does not learn (no fit)");
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (t->fit(instance_, inputs.data(), inputs.size()) != RECO_OK) {
    return Status::PluginError("plugin '" + library_->info.name +
                               "' failed to fit: " + OrEmpty(t->last_error(instance_)));
  }
  provenance_.fingerprint = OrEmpty(t->fingerprint(instance_));
  return Status::OK();
}

Status Embedder::SaveState(std::string* state) {
  state->clear();
  if (!CanKeepState()) return Status::OK();
  const reco_plugin_v1* t = library_->table;
  std::lock_guard<std::mutex> lock(mu_);
  const uint8_t* data = nullptr;
  size_t size = 0;
  if (t->save_state(instance_, &data, &size) != RECO_OK) {
    return Status::PluginError("plugin '" + library_->info.name +
                               "' could not save its state: " + OrEmpty(t->last_error(instance_)));
  }
  if (size > 0 && data == nullptr) {
    return Status::PluginError("plugin '" + library_->info.name + "' saved a null state");
  }
  if (size > 0) state->assign(reinterpret_cast<const char*>(data), size);
  return Status::OK();
}

Status Embedder::LoadState(const std::string& state) {
  if (state.empty()) return Status::OK();
  if (!CanKeepState()) {
    return Status::FailedPrecondition("plugin '" + library_->info.name +
                                      "' cannot load a learnt state (it needs ABI 1.2)");
  }
  const reco_plugin_v1* t = library_->table;
  std::lock_guard<std::mutex> lock(mu_);
  if (t->load_state(instance_, reinterpret_cast<const uint8_t*>(state.data()), state.size()) !=
      RECO_OK) {
    return Status::PluginError("plugin '" + library_->info.name +
                               "' refused its saved state: " + OrEmpty(t->last_error(instance_)));
  }
  provenance_.fingerprint = OrEmpty(t->fingerprint(instance_));
  return Status::OK();
}

PluginHost::PluginHost() = default;
PluginHost::~PluginHost() = default;

Status PluginHost::LoadDirectory(const std::string& dir) {
  namespace fs = boost::filesystem;
  boost::system::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return Status::NotFound("plugin directory '" + dir + "' does not exist");
  }
  std::vector<std::string> paths;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    if (p.extension() == ".so" && fs::is_regular_file(p, ec)) paths.push_back(p.string());
  }
  if (ec) return Status::IOError("reading plugin directory '" + dir + "': " + ec.message());
  std::sort(paths.begin(), paths.end());
  for (const auto& path : paths) {
    Status st = LoadLibrary(path);
    if (!st.ok()) refused_.emplace_back(path, st.message());
  }
  return Status::OK();
}

Status PluginHost::LoadLibrary(const std::string& path) {
  auto lib = std::make_shared<PluginLibrary>();
  boost::system::error_code ec;
  lib->library.load(path, boost::dll::load_mode::rtld_lazy | boost::dll::load_mode::rtld_local, ec);
  if (ec) return Status::InvalidArgument("cannot load '" + path + "': " + ec.message());
  if (!lib->library.has(RECO_PLUGIN_ENTRY_SYMBOL)) {
    return Status::InvalidArgument("'" + path + "' is not a reco plugin: it does not export " +
                                   RECO_PLUGIN_ENTRY_SYMBOL);
  }
  auto& entry = lib->library.get<const reco_plugin_v1*(uint32_t)>(RECO_PLUGIN_ENTRY_SYMBOL);
  const reco_plugin_v1* t = entry(RECO_PLUGIN_ABI_VERSION);
  if (t == nullptr) {
    return Status::InvalidArgument("'" + path + "' returned no plugin table for host ABI " +
                                   AbiString(RECO_PLUGIN_ABI_VERSION));
  }
  if (RECO_PLUGIN_ABI_MAJOR_OF(t->abi_version) != RECO_PLUGIN_ABI_MAJOR) {
    return Status::InvalidArgument("'" + path + "' was built for plugin ABI " +
                                   AbiString(t->abi_version) + " but this host speaks ABI " +
                                   AbiString(RECO_PLUGIN_ABI_VERSION) +
                                   " (major versions must match)");
  }
  if (t->struct_size < RECO_PLUGIN_V1_MIN_SIZE) {
    return Status::InvalidArgument(
        "'" + path + "' has a plugin table of " + std::to_string(t->struct_size) +
        " bytes; ABI 1 needs at least " + std::to_string(RECO_PLUGIN_V1_MIN_SIZE));
  }
  if (!t->create || !t->dim || !t->fingerprint || !t->embed_batch || !t->destroy ||
      !t->last_error) {
    return Status::InvalidArgument("'" + path + "' has a plugin table with a missing function");
  }
  if (!ValidPluginName(t->name)) {
    return Status::InvalidArgument("'" + path + "' has an invalid plugin name '" +
                                   OrEmpty(t->name) + "' (use [a-z0-9_-]+, not 'none')");
  }
  if (Has(t->name)) {
    return Status::AlreadyExists("'" + path + "': a plugin named '" + t->name +
                                 "' is already loaded");
  }
  lib->table = t;
  lib->info.name = t->name;
  lib->info.version = OrEmpty(t->version);
  lib->info.abi = AbiString(t->abi_version);
  lib->info.modality = OrEmpty(t->modality);
  lib->info.content_types = OrEmpty(t->content_types);
  lib->info.default_dim = t->default_dim;
  lib->info.path = path;
  libraries_.push_back(std::move(lib));
  return Status::OK();
}

std::vector<PluginInfo> PluginHost::plugins() const {
  std::vector<PluginInfo> out;
  for (const auto& lib : libraries_) out.push_back(lib->info);
  return out;
}

bool PluginHost::Has(const std::string& name) const {
  for (const auto& lib : libraries_) {
    if (lib->info.name == name) return true;
  }
  return false;
}

Status PluginHost::CreateEmbedder(const std::string& name, const std::string& config_json,
                                  std::unique_ptr<Embedder>* out) const {
  for (const auto& lib : libraries_) {
    if (lib->info.name != name) continue;
    const reco_plugin_v1* t = lib->table;
    reco_instance* inst = t->create(config_json.c_str());
    if (inst == nullptr) {
      return Status::InvalidArgument("plugin '" + name + "' refused its options " + config_json +
                                     ": " + OrEmpty(t->last_error(nullptr)));
    }
    std::unique_ptr<Embedder> e(new Embedder());
    e->library_ = lib;
    e->instance_ = inst;
    e->dim_ = t->dim(inst);
    e->provenance_.plugin = lib->info.name;
    e->provenance_.version = lib->info.version;
    e->provenance_.fingerprint = OrEmpty(t->fingerprint(inst));
    std::string types = lib->info.content_types;
    for (size_t pos = 0; pos <= types.size();) {
      size_t comma = std::min(types.find(',', pos), types.size());
      std::string type = types.substr(pos, comma - pos);
      type.erase(0, type.find_first_not_of(' '));
      type.erase(type.find_last_not_of(' ') + 1);
      if (!type.empty()) e->content_types_.push_back(type);
      pos = comma + 1;
    }
    if (e->dim_ == 0) {
      return Status::PluginError("plugin '" + name + "' reports output dimension 0");
    }
    *out = std::move(e);
    return Status::OK();
  }
  return Status::NotFound("plugin '" + name + "' is not loaded");
}

}  // namespace engine
}  // namespace reco
