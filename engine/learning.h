// What the engine learns from events, outside the request path: a collection's events as
// model interactions, its content vectors as tables, and the offline evaluation of every
// strategy (Engine::Evaluate). Training into a collaborative space stays in engine.cc (it
// swaps spaces).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "engine/internal.h"
#include "recommend/interactions.h"
#include "recommend/profile.h"
#include "storage/store.h"

namespace reco {
namespace engine {
namespace internal {

// The collection's events (of `types`; empty = all) as interactions over dense ids: items[i]
// and users[u] (when given) are the internal ids of dense item i and user u. The caller holds
// c.mu (shared).
Status CollectInteractions(storage::Store* store, const Collection& c,
                           const std::vector<std::string>& types,
                           std::vector<recommend::Interaction>* out, std::vector<uint64_t>* items,
                           uint32_t* num_users, std::vector<uint64_t>* users = nullptr);

// The vectors of every content space for the dense items `items` (caller holds c.mu shared).
Status ContentTables(storage::Store* store, const Collection& c, const std::vector<uint64_t>& items,
                     std::vector<recommend::ItemVectorTable>* out);

// Fits EASE on the interactions and keeps each item's `neighbours` strongest weights: rows of
// (internal item id, weight) for the items of `items` (dense -> internal). OutOfRange when the
// catalogue is too large for EASE's n x n matrix (the message says so).
using ItemRows = std::vector<std::pair<uint64_t, std::vector<std::pair<uint64_t, float>>>>;
Status FitItemModel(const std::vector<recommend::Interaction>& interactions,
                    const std::vector<uint64_t>& items, uint32_t num_users, uint32_t neighbours,
                    ItemRows* rows);

// Engine::Evaluate on one collection; takes c.mu (shared) while it reads the events.
Status EvaluateCollection(storage::Store* store, const Collection& c, const EvalRequest& r,
                          std::vector<EvalResult>* out);

}  // namespace internal
}  // namespace engine
}  // namespace reco
