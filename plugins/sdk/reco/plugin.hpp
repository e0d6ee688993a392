// Header-only C++ wrapper over the C ABI in plugin_abi.h: a plugin is a class and one macro.
//
//   class Hello : public reco::sdk::Embedder {
//    public:
//     explicit Hello(const std::string& config_json) { ... }   // throw to refuse the config
//     uint32_t dim() const override { return 8; }
//     void embed(const reco_input* in, size_t n, float* out) override { ... }  // may throw
//   };
//   RECO_PLUGIN(Hello, "hello", "1.0.0", "text", "text/plain", 8)
//
// Exceptions never cross the ABI: the generated C functions catch them and report the
// message through last_error. Compile plugins with -fvisibility=hidden; the macro exports
// only reco_plugin_entry.
#pragma once

#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>

#include "reco/plugin_abi.h"

namespace reco {
namespace sdk {

// The class a plugin implements. One object per reco_instance; the host never calls embed(),
// fit(), describe(), save_state() or load_state() on one object from two threads at once.
class Embedder {
 public:
  virtual ~Embedder() = default;
  // Output dimension of this instance.
  virtual uint32_t dim() const = 0;
  // Identity of the model, including anything fit() learnt; by default empty. Read again after
  // fit() and load_state().
  virtual std::string fingerprint() const { return std::string(); }
  // Writes n * dim() floats to out. Throw std::exception with a clear message on bad input.
  virtual void embed(const reco_input* inputs, size_t n, float* out) = 0;
  // Learns from a corpus. Plugins that do not learn keep the default, which does nothing.
  virtual void fit(const reco_input* /*inputs*/, size_t /*n*/) {}
  // Searchable attributes of one input as a JSON object (ABI 1.1); "{}" by default.
  virtual std::string describe(const reco_input& /*input*/) { return "{}"; }
  // What fit() learnt, as bytes the host stores with the space (ABI 1.2); "" = nothing.
  virtual std::string save_state() { return std::string(); }
  // Restores a state save_state() returned, on a fresh object made with the same options.
  // Throw on state this object cannot take. The default accepts only the empty state.
  virtual void load_state(const uint8_t* /*data*/, size_t size) {
    if (size != 0) throw std::runtime_error("this plugin keeps no learnt state");
  }
};

// Input helpers.
inline std::string InputText(const reco_input& in) {
  return std::string(reinterpret_cast<const char*>(in.data), in.size);
}

namespace detail {

struct Instance {
  std::unique_ptr<Embedder> impl;
  std::string fingerprint;
  std::string error;
  std::string described;  // the last describe() result, owned here for the host to read
  std::string state;      // the last save_state() result, owned here for the host to read
};

inline std::string& CreateError() {
  thread_local std::string error;
  return error;
}

template <class T>
reco_instance* Create(const char* config_json) {
  try {
    auto inst = std::make_unique<Instance>();
    inst->impl = std::make_unique<T>(std::string(config_json ? config_json : "{}"));
    inst->fingerprint = inst->impl->fingerprint();
    CreateError().clear();
    return reinterpret_cast<reco_instance*>(inst.release());
  } catch (const std::exception& e) {
    CreateError() = e.what();
  } catch (...) {
    CreateError() = "unknown exception in plugin constructor";
  }
  return nullptr;
}

inline Instance* Cast(reco_instance* i) { return reinterpret_cast<Instance*>(i); }
inline const Instance* Cast(const reco_instance* i) { return reinterpret_cast<const Instance*>(i); }

inline uint32_t Dim(const reco_instance* i) { return Cast(i)->impl->dim(); }

inline const char* Fingerprint(const reco_instance* i) { return Cast(i)->fingerprint.c_str(); }

inline int EmbedBatch(reco_instance* i, const reco_input* inputs, size_t n, float* out) {
  Instance* inst = Cast(i);
  try {
    inst->impl->embed(inputs, n, out);
    return RECO_OK;
  } catch (const std::exception& e) {
    inst->error = e.what();
  } catch (...) {
    inst->error = "unknown exception in embed";
  }
  return RECO_ERROR;
}

inline int Fit(reco_instance* i, const reco_input* inputs, size_t n) {
  Instance* inst = Cast(i);
  try {
    inst->impl->fit(inputs, n);
    inst->fingerprint = inst->impl->fingerprint();
    return RECO_OK;
  } catch (const std::exception& e) {
    inst->error = e.what();
  } catch (...) {
    inst->error = "unknown exception in fit";
  }
  return RECO_ERROR;
}

inline int Describe(reco_instance* i, const reco_input* input, const char** json_out) {
  Instance* inst = Cast(i);
  try {
    inst->described = inst->impl->describe(*input);
    *json_out = inst->described.c_str();
    return RECO_OK;
  } catch (const std::exception& e) {
    inst->error = e.what();
  } catch (...) {
    inst->error = "unknown exception in describe";
  }
  return RECO_ERROR;
}

inline int SaveState(reco_instance* i, const uint8_t** data, size_t* size) {
  Instance* inst = Cast(i);
  try {
    inst->state = inst->impl->save_state();
    *data = reinterpret_cast<const uint8_t*>(inst->state.data());
    *size = inst->state.size();
    return RECO_OK;
  } catch (const std::exception& e) {
    inst->error = e.what();
  } catch (...) {
    inst->error = "unknown exception in save_state";
  }
  return RECO_ERROR;
}

inline int LoadState(reco_instance* i, const uint8_t* data, size_t size) {
  Instance* inst = Cast(i);
  try {
    inst->impl->load_state(data, size);
    inst->fingerprint = inst->impl->fingerprint();
    return RECO_OK;
  } catch (const std::exception& e) {
    inst->error = e.what();
  } catch (...) {
    inst->error = "unknown exception in load_state";
  }
  return RECO_ERROR;
}

inline void Destroy(reco_instance* i) { delete Cast(i); }

inline const char* LastError(const reco_instance* i) {
  return i ? Cast(i)->error.c_str() : CreateError().c_str();
}

template <class T>
reco_plugin_v1 MakeTable(const char* name, const char* version, const char* modality,
                         const char* content_types, uint32_t default_dim) {
  reco_plugin_v1 t;
  std::memset(&t, 0, sizeof(t));
  t.struct_size = sizeof(reco_plugin_v1);
  t.abi_version = RECO_PLUGIN_ABI_VERSION;
  t.name = name;
  t.version = version;
  t.modality = modality;
  t.content_types = content_types;
  t.default_dim = default_dim;
  t.create = &Create<T>;
  t.dim = &Dim;
  t.fingerprint = &Fingerprint;
  t.embed_batch = &EmbedBatch;
  t.fit = &Fit;
  t.destroy = &Destroy;
  t.last_error = &LastError;
  t.describe = &Describe;
  t.save_state = &SaveState;
  t.load_state = &LoadState;
  return t;
}

}  // namespace detail
}  // namespace sdk
}  // namespace reco

// Defines the exported entry point for plugin class CLASS.
#define RECO_PLUGIN(CLASS, NAME, VERSION, MODALITY, CONTENT_TYPES, DEFAULT_DIM)              \
  extern "C" __attribute__((visibility("default"))) const reco_plugin_v1* reco_plugin_entry( \
      uint32_t /*host_abi_version*/) {                                                       \
    static const reco_plugin_v1 table = ::reco::sdk::detail::MakeTable<CLASS>(               \
        NAME, VERSION, MODALITY, CONTENT_TYPES, DEFAULT_DIM);                                \
    return &table;                                                                           \
  }
