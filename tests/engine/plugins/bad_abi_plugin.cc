// A library that claims plugin ABI 2.0: the host must refuse it and name both versions.
#include <cstring>

#include "reco/plugin_abi.h"

extern "C" __attribute__((visibility("default"))) const reco_plugin_v1* reco_plugin_entry(
    uint32_t) {
  static reco_plugin_v1 table = [] {
    reco_plugin_v1 t;
    std::memset(&t, 0, sizeof(t));
    t.struct_size = sizeof(t);
    t.abi_version = (2u << 16) | 0u;
    t.name = "future";
    return t;
  }();
  return &table;
}
