#include "engine/config_codec.h"

#include <nlohmann/json.hpp>

namespace reco {
namespace engine {

using nlohmann::json;

std::string EncodeCollectionConfig(const CollectionConfig& config, const StorageLayout& layout) {
  json j;
  j["version"] = 1;
  j["name"] = config.name;
  j["next_storage"] = layout.next_storage;
  if (layout.item_model != 0) j["item_model"] = layout.item_model;
  j["event_types"] = json::array();
  for (const auto& t : config.event_types) {
    j["event_types"].push_back({{"name", t.name}, {"weight", t.weight}});
  }
  j["unknown_items"] = config.unknown_items;
  j["retention_days"] = config.retention_days;
  j["click_types"] = config.click_types;
  j["conversion_types"] = config.conversion_types;
  j["click_window_hours"] = config.click_window_hours;
  j["conversion_window_hours"] = config.conversion_window_hours;
  j["retrain_interval_s"] = config.retrain_interval_s;
  j["retrain_min_events"] = config.retrain_min_events;
  j["retrain_epochs"] = config.retrain_epochs;
  j["spaces"] = json::array();
  for (size_t i = 0; i < config.spaces.size(); ++i) {
    const SpaceConfig& s = config.spaces[i];
    j["spaces"].push_back({{"name", s.name},
                           {"plugin", s.plugin},
                           {"options", s.options},
                           {"dim", s.dim},
                           {"metric", s.metric},
                           {"index", s.index},
                           {"index_options", s.index_options},
                           {"storage", i < layout.storage.size() ? layout.storage[i] : i}});
  }
  return j.dump();
}

Status DecodeCollectionConfig(const std::string& text, CollectionConfig* config,
                              StorageLayout* layout) {
  try {
    json j = json::parse(text);
    config->name = j.at("name").get<std::string>();
    config->spaces.clear();
    layout->storage.clear();
    for (const auto& s : j.at("spaces")) {
      SpaceConfig sc;
      sc.name = s.at("name").get<std::string>();
      sc.plugin = s.at("plugin").get<std::string>();
      sc.options = s.at("options").get<std::map<std::string, std::string>>();
      sc.dim = s.at("dim").get<uint32_t>();
      sc.metric = s.at("metric").get<std::string>();
      sc.index = s.at("index").get<std::string>();
      if (s.contains("index_options")) {
        sc.index_options = s.at("index_options").get<std::map<std::string, std::string>>();
      }
      layout->storage.push_back(s.contains("storage")
                                    ? s.at("storage").get<uint32_t>()
                                    : static_cast<uint32_t>(config->spaces.size()));
      config->spaces.push_back(std::move(sc));
    }
    config->event_types.clear();
    if (j.contains("event_types")) {
      for (const auto& t : j.at("event_types")) {
        config->event_types.push_back(
            {t.at("name").get<std::string>(), t.at("weight").get<double>()});
      }
    }
    config->unknown_items = j.value("unknown_items", std::string("reject"));
    config->retention_days = j.value("retention_days", 0u);
    config->click_types = j.value("click_types", std::vector<std::string>());
    config->conversion_types = j.value("conversion_types", std::vector<std::string>());
    config->click_window_hours = j.value("click_window_hours", 24u);
    config->conversion_window_hours = j.value("conversion_window_hours", 168u);
    config->retrain_interval_s = j.value("retrain_interval_s", 0u);
    config->retrain_min_events = j.value("retrain_min_events", 1000u);
    config->retrain_epochs = j.value("retrain_epochs", 10u);
    layout->item_model = j.value("item_model", 0u);
    layout->next_storage = j.contains("next_storage")
                               ? j.at("next_storage").get<uint32_t>()
                               : static_cast<uint32_t>(config->spaces.size());
  } catch (const json::exception& e) {
    return Status::Corruption(std::string("collection config does not decode: ") + e.what());
  }
  return Status::OK();
}

std::string PluginConfigJson(const SpaceConfig& space) {
  json j = json::object();
  for (const auto& [k, v] : space.options) j[k] = v;
  return j.dump();
}

namespace {

Status ValidateName(const std::string& what, const std::string& name, size_t max_len,
                    bool allow_dot) {
  if (name.empty()) return Status::InvalidArgument(what + " name is empty");
  if (name.size() > max_len) {
    return Status::InvalidArgument(what + " name '" + name.substr(0, 32) + "...' is longer than " +
                                   std::to_string(max_len) + " bytes");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || (allow_dot && c == '.');
    if (!ok) {
      return Status::InvalidArgument(what + " name '" + name + "' has a character outside " +
                                     (allow_dot ? "[A-Za-z0-9_.-]" : "[A-Za-z0-9_-]"));
    }
  }
  return Status::OK();
}

}  // namespace

Status ValidateCollectionName(const std::string& name) {
  return ValidateName("collection", name, 128, true);
}

Status ValidateSpaceName(const std::string& name) { return ValidateName("space", name, 64, false); }

}  // namespace engine
}  // namespace reco
