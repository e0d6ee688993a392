// Loads a built plugin with dlopen() and returns its ABI table, as the host would see it.
// The library is never dlclose()d: LibTorch does not support being unloaded.
#pragma once

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <string>

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

}  // namespace testing
}  // namespace reco
