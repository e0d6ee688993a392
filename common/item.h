// Data-model value types shared by storage, engine and api (ARCHITECTURE.md "Data model").
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace reco {

// An attribute for filtering: string, number, bool or list of strings (tags).
using AttrValue = std::variant<std::string, double, bool, std::vector<std::string>>;
using Attributes = std::map<std::string, AttrValue>;

// Where a stored vector came from, so a model change can re-embed.
struct VectorProvenance {
  std::string plugin;       // plugin name, or "none" for vectors sent by the user
  std::string version;      // plugin version
  std::string fingerprint;  // model identity (e.g. hash of the model file), may be empty
};

// Content other than the text (an image, a DICOM file): bytes and their type.
struct Content {
  std::string content_type;  // e.g. "image/jpeg", "application/dicom"
  std::string data;
};

struct Item {
  std::string id;            // external id, chosen by the user
  uint64_t internal_id = 0;  // dense id, the index label
  std::string text;          // text content
  Attributes attributes;
  int64_t created_ms = 0;  // unix milliseconds
  int64_t updated_ms = 0;
  uint32_t contents = 0;  // number of stored non-text contents (storage keeps the bytes)
};

// Binary encodings used by storage (and nothing on the wire). Decode returns false on
// malformed input.
void EncodeItem(const Item& item, std::string* out);
bool DecodeItem(const char* data, size_t size, Item* item);
void EncodeProvenance(const VectorProvenance& p, std::string* out);
bool DecodeProvenance(const char* data, size_t size, size_t* consumed, VectorProvenance* p);

// Little helpers for the encodings above.
void PutVarint64(std::string* out, uint64_t v);
bool GetVarint64(const char** p, const char* end, uint64_t* v);
void PutLengthPrefixed(std::string* out, const std::string& s);
bool GetLengthPrefixed(const char** p, const char* end, std::string* s);

}  // namespace reco
