// Collection configs as stored by the engine (JSON, opaque bytes to storage), and the
// validation of names and space configs.
#pragma once

#include <string>

#include "common/status.h"
#include "engine/engine.h"

namespace reco {
namespace engine {

// Where each space's vectors live in storage. A re-embed writes the new vectors under a fresh
// storage id and switches the space to it when done, so the old ones keep serving meanwhile.
struct StorageLayout {
  std::vector<uint32_t> storage;  // per space (default: its position)
  uint32_t next_storage = 0;      // first id never used (default: the number of spaces)
  uint32_t item_model = 0;        // storage id of the item-item model (EASE); 0 = none
};

std::string EncodeCollectionConfig(const CollectionConfig& config, const StorageLayout& layout);
Status DecodeCollectionConfig(const std::string& json, CollectionConfig* config,
                              StorageLayout* layout);
// The plugin options of a space as the JSON object its plugin's create() receives.
std::string PluginConfigJson(const SpaceConfig& space);

// Names: collections [A-Za-z0-9_.-]{1,128}, spaces [A-Za-z0-9_-]{1,64}.
Status ValidateCollectionName(const std::string& name);
Status ValidateSpaceName(const std::string& name);

}  // namespace engine
}  // namespace reco
