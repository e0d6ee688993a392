/* reco embedding plugin ABI, version 1.
 *
 * A plugin is a shared library that exports one C function:
 *
 *   const reco_plugin_v1* reco_plugin_entry(uint32_t host_abi_version);
 *
 * It returns a pointer to a static table that begins with its own size and ABI version
 * (so the table can grow: minor versions only append fields, and the host reads a field only
 * when struct_size covers it). The host refuses a table whose major version differs from its
 * own and says which two versions met.
 *
 * Nothing but C types crosses this boundary: no C++ objects, no exceptions. Strings are
 * NUL-terminated UTF-8. Memory a function returns stays owned by the plugin and is valid
 * until the next call on the same instance (or, for the table and its strings, for as long
 * as the library is loaded). Memory the host passes in is owned by the host and only
 * borrowed for the duration of the call.
 *
 * Threading: create/destroy may run on any thread. The host never calls embed_batch, fit,
 * describe, save_state or load_state concurrently on one instance; different instances may run
 * concurrently. fingerprint() is read again after fit() and load_state(): a learnt state is
 * part of the model's identity.
 */
#ifndef RECO_PLUGIN_ABI_H_
#define RECO_PLUGIN_ABI_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RECO_PLUGIN_ABI_MAJOR 1
#define RECO_PLUGIN_ABI_MINOR 2
#define RECO_PLUGIN_ABI_VERSION ((uint32_t)((RECO_PLUGIN_ABI_MAJOR << 16) | RECO_PLUGIN_ABI_MINOR))
#define RECO_PLUGIN_ABI_MAJOR_OF(v) ((uint32_t)(v) >> 16)
#define RECO_PLUGIN_ABI_MINOR_OF(v) ((uint32_t)(v)&0xffffu)

#define RECO_PLUGIN_ENTRY_SYMBOL "reco_plugin_entry"

/* Return codes of the functions below. */
#define RECO_OK 0
#define RECO_ERROR 1 /* see last_error */

/* One piece of content to embed. */
typedef struct reco_input {
  const char* content_type; /* e.g. "text/plain", "image/jpeg", "application/dicom" */
  const uint8_t* data;      /* borrowed, `size` bytes; not NUL-terminated */
  size_t size;
} reco_input;

/* An instance made by create(); opaque to the host. */
typedef struct reco_instance reco_instance;

typedef struct reco_plugin_v1 {
  uint32_t struct_size; /* sizeof(reco_plugin_v1) as the plugin was compiled */
  uint32_t abi_version; /* RECO_PLUGIN_ABI_VERSION the plugin was compiled against */

  /* Metadata. */
  const char* name;          /* unique plugin name, [a-z0-9_-]+, e.g. "text" */
  const char* version;       /* plugin version, e.g. "1.0.0" */
  const char* modality;      /* "text", "image", "dicom" or another word */
  const char* content_types; /* comma-separated content types embed_batch accepts */
  uint32_t default_dim;      /* output dim with the default config (an instance may differ) */

  /* Makes an instance from a JSON object of options (never NULL; "{}" for none). Returns
   * NULL on failure; last_error(NULL) then says why. */
  reco_instance* (*create)(const char* config_json);

  /* The output dimension of this instance. */
  uint32_t (*dim)(const reco_instance* instance);

  /* Identity of the model this instance runs (a hash of the model file, or of the default
   * model's parameters). Plugin-owned string. */
  const char* (*fingerprint)(const reco_instance* instance);

  /* Embeds n inputs into out (n * dim floats, row-major, allocated by the host). Returns
   * RECO_OK, or RECO_ERROR with last_error(instance) naming the input that failed. */
  int (*embed_batch)(reco_instance* instance, const reco_input* inputs, size_t n, float* out);

  /* Optional (may be NULL): learns from a corpus (e.g. term weights). */
  int (*fit)(reco_instance* instance, const reco_input* inputs, size_t n);

  /* Frees an instance. */
  void (*destroy)(reco_instance* instance);

  /* The message of the last failure on this instance, or of the last failed create() on this
   * thread when instance is NULL. Plugin-owned; never NULL. */
  const char* (*last_error)(const reco_instance* instance);

  /* ---- ABI 1.1: read only when struct_size covers them ---- */

  /* Optional (may be NULL): searchable attributes of one input, e.g. a DICOM header's
   * modality and body part. Sets *json_out to a JSON object whose values are strings,
   * numbers, bools or arrays of strings (plugin-owned, valid until the next call on the
   * instance). Returns RECO_OK, or RECO_ERROR with last_error(instance). */
  int (*describe)(reco_instance* instance, const reco_input* input, const char** json_out);

  /* ---- ABI 1.2: read only when struct_size covers them ---- */

  /* Optional (both NULL, or both set): what fit() learnt, as bytes. save_state sets *data and
   * *size (plugin-owned, valid until the next call on the instance; size 0 = nothing learnt).
   * The host stores them with the space and passes them to load_state on a fresh instance
   * made with the same options (after a restart), which must then embed exactly as the
   * instance that saved them did, fingerprint included. Returns RECO_OK, or RECO_ERROR with
   * last_error(instance) (e.g. state from another model). */
  int (*save_state)(reco_instance* instance, const uint8_t** data, size_t* size);
  int (*load_state)(reco_instance* instance, const uint8_t* data, size_t size);
} reco_plugin_v1;

/* Smallest table the host accepts: everything up to and including last_error. */
#define RECO_PLUGIN_V1_MIN_SIZE (offsetof(reco_plugin_v1, last_error) + sizeof(void*))

/* True when a table (of any minor version) has `field`: hosts check before reading fields
 * added after 1.0. */
#define RECO_PLUGIN_HAS(table, field) \
  ((table)->struct_size >= offsetof(reco_plugin_v1, field) + sizeof((table)->field))

typedef const reco_plugin_v1* (*reco_plugin_entry_fn)(uint32_t host_abi_version);

#ifdef __cplusplus
}
#endif

#endif /* RECO_PLUGIN_ABI_H_ */
