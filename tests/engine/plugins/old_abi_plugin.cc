// A plugin built against ABI 1.0: its table ends at last_error (no describe). Hosts of a
// later 1.x must still load it and never read past its struct_size.
#include <cstring>
#include <string>

#include "reco/plugin_abi.h"

namespace {

struct Inst {
  int unused = 0;
};

reco_instance* Create(const char*) { return reinterpret_cast<reco_instance*>(new Inst); }
uint32_t Dim(const reco_instance*) { return 2; }
const char* Fingerprint(const reco_instance*) { return "old"; }
int Embed(reco_instance*, const reco_input* in, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = static_cast<float>(in[i].size);
    out[2 * i + 1] = 1.0f;
  }
  return RECO_OK;
}
void Destroy(reco_instance* i) { delete reinterpret_cast<Inst*>(i); }
const char* LastError(const reco_instance*) { return ""; }

}  // namespace

extern "C" __attribute__((visibility("default"))) const reco_plugin_v1* reco_plugin_entry(
    uint32_t) {
  // Only the 1.0 prefix is meaningful; struct_size says so. The bytes after it are poison.
  static reco_plugin_v1 table = [] {
    reco_plugin_v1 t;
    std::memset(&t, 0xAB, sizeof(t));
    t.struct_size = RECO_PLUGIN_V1_MIN_SIZE;
    t.abi_version = (1u << 16) | 0u;
    t.name = "old";
    t.version = "0.9";
    t.modality = "text";
    t.content_types = "text/plain";
    t.default_dim = 2;
    t.create = &Create;
    t.dim = &Dim;
    t.fingerprint = &Fingerprint;
    t.embed_batch = &Embed;
    t.fit = nullptr;
    t.destroy = &Destroy;
    t.last_error = &LastError;
    return t;
  }();
  return &table;
}
