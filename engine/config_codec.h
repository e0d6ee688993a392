// Collection configs as stored by the engine (JSON, opaque bytes to storage), and the
// validation of names and space configs.
#pragma once

#include <string>

#include "common/status.h"
#include "engine/engine.h"

namespace reco {
namespace engine {

std::string EncodeCollectionConfig(const CollectionConfig& config);
Status DecodeCollectionConfig(const std::string& json, CollectionConfig* config);
// The plugin options of a space as the JSON object its plugin's create() receives.
std::string PluginConfigJson(const SpaceConfig& space);

// Names: collections [A-Za-z0-9_.-]{1,128}, spaces [A-Za-z0-9_-]{1,64}.
Status ValidateCollectionName(const std::string& name);
Status ValidateSpaceName(const std::string& name);

}  // namespace engine
}  // namespace reco
