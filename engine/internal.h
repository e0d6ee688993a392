// Engine internals shared by the engine's source files (not part of the engine's API): a
// collection and its spaces as the engine holds them in memory, and small helpers.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/config_codec.h"
#include "engine/engine.h"
#include "engine/plugin_host.h"
#include "filter/filter.h"
#include "index/vector_index.h"
#include "storage/store.h"

namespace reco {
namespace engine {
namespace internal {

constexpr size_t kMaxIdBytes = 1024;  // longest external id
// A collaborative space's user vectors live in storage space (its storage id | this bit),
// keyed by user id: never an index, read one at a time by Recommend.
constexpr uint32_t kUserVectors = 0x80000000u;

inline int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline std::string Quote(const std::string& s) { return "'" + s + "'"; }

inline void Warn(const std::string& message) {
  std::fprintf(stderr, "reco: warning: %s\n", message.c_str());
}

// Analytics windows: 1..36500 days.
inline Status CheckDays(uint32_t days) {
  if (days == 0 || days > 36500) return Status::OutOfRange("days must be 1..36500");
  return Status::OK();
}

inline Status NotFoundCollection(const std::string& name) {
  return Status::NotFound("collection " + Quote(name) + " does not exist");
}

struct Space {
  SpaceConfig config;
  uint32_t number = 0;                // position in the config: the storage key
  index::IndexOptions index_options;  // what the index is (re)built with
  uint32_t storage = 0;               // where its vectors live in storage (see StorageLayout)
  // Null for plugin "none". Shared so that a request embedding outside the collection lock
  // keeps the instance alive if a re-embed swaps it meanwhile.
  std::shared_ptr<Embedder> embedder;
  std::string embedder_error;  // why there is no embedder for a plugin space
  std::unique_ptr<index::VectorIndex> index;
  std::atomic<uint64_t> snapshot_seq{0};  // change seq of the newest index file (0: none)
  // Re-embed progress (Engine::Reembed).
  std::atomic<int> reembed_state{0};  // 0 idle, 1 running, 2 failed, 3 done
  std::atomic<uint64_t> reembed_done{0};
  std::atomic<uint64_t> reembed_total{0};
  std::string reembed_error;  // guarded by the collection lock
  // Collaborative training progress (Engine::Train), for plugin "collaborative" spaces.
  std::atomic<int> train_state{0};  // 0 idle, 1 running, 2 failed, 3 done
  std::atomic<uint32_t> train_epoch{0};
  std::atomic<uint32_t> train_epochs{0};
  std::atomic<double> train_loss{0};
  std::atomic<int64_t> trained_ms{0};  // when the last training finished (0: not since start)
  std::string train_error;             // guarded by the collection lock
};

// A space whose vectors come from training on events (plugin "collaborative").
inline bool IsLearned(const Space& s) { return s.config.plugin == "collaborative"; }

struct Collection {
  storage::CollectionRecord record;
  CollectionConfig config;
  StorageLayout layout;
  std::vector<std::unique_ptr<Space>> spaces;
  // Writers (upsert, delete, index swaps) hold it exclusively; readers share it.
  mutable std::shared_mutex mu;
  uint64_t next_item_id = 1;
  uint64_t change_seq = 0;                                 // last write batch applied
  std::unordered_map<uint64_t, std::string> external_ids;  // internal -> external id
  filter::AttributeIndex attributes;
  bool dropped = false;
  int64_t last_snapshot_ms = 0;
  int64_t last_retention_ms = 0;
  std::map<std::string, uint8_t> event_type_index;  // name -> number stored with events
  std::set<uint8_t> click_types, conversion_types;  // attributed to impressions
  std::mutex users_mu;                              // serialises new user ids
  uint64_t next_user_id = 1;
  std::atomic<uint64_t> events_since_train{0};  // events stored since the last training
  int64_t opened_ms = 0;                        // when this process opened it

  const Space* FindSpace(const std::string& name) const {
    if (name.empty()) return spaces.empty() ? nullptr : spaces.front().get();
    for (const auto& s : spaces) {
      if (s->config.name == name) return s.get();
    }
    return nullptr;
  }

  std::string SpaceNames() const {
    std::string out;
    for (const auto& s : spaces) out += (out.empty() ? "" : ", ") + s->config.name;
    return out;
  }
};

// "view, click, ..." for messages.
inline std::string EventTypeNames(const Collection& c) {
  std::string out;
  for (const auto& t : c.config.event_types) out += (out.empty() ? "" : ", ") + t.name;
  return out;
}

}  // namespace internal
}  // namespace engine
}  // namespace reco
