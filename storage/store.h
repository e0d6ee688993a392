// reco::storage::Store — items, the external-id map, vectors and collection metadata in one
// RocksDB database (ARCHITECTURE.md "Storage"). RocksDB is the source of truth; every
// in-memory structure is rebuilt from it. No RocksDB type appears in this header.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/item.h"
#include "common/status.h"

namespace reco {
namespace storage {

struct StoreOptions {
  bool create_if_missing = true;  // create the directory and database when absent
  bool sync = false;              // fsync the WAL on every write; off still survives a process kill
};

// A collection as stored: a numeric id used as the key prefix of all its records, the
// engine's config (opaque bytes to storage), and the next free internal item id.
struct CollectionRecord {
  uint32_t id = 0;
  std::string name;
  std::string config;
  uint64_t next_item_id = 1;
  uint64_t change_seq = 0;  // number of the last write batch applied to the collection
};

// Counters written with every batch of a collection.
struct Counters {
  uint64_t next_item_id = 1;  // next free internal id
  uint64_t change_seq = 0;    // this batch's change number (previous + 1)
};

// A consistent read view of the whole database (a RocksDB snapshot).
class Snapshot {
 public:
  virtual ~Snapshot() = default;
};

struct VectorRecord {
  uint32_t space = 0;  // the space's number within its collection
  VectorProvenance provenance;
  std::vector<float> values;
};

// One item to write: its record (internal_id set), its vectors, and the spaces whose old
// vector must go because the new version has none there.
struct ItemWrite {
  Item item;
  std::vector<VectorRecord> vectors;
  std::vector<uint32_t> clear_spaces;
  // The item's non-text contents (at most 256); they replace whatever the item had (kept so
  // that a space can be re-embedded after a model change). item.contents is set to their
  // number by WriteItems.
  std::vector<Content> contents;
  uint32_t previous_contents = 0;  // how many the replaced version had (their keys go)
};

// One user event (ARCHITECTURE.md "Data model"), with internal ids.
struct EventRecord {
  uint64_t user = 0;    // internal user id (LookupUser / WriteEvents)
  uint64_t item = 0;    // internal item id
  uint8_t type = 0;     // the collection's event type number
  float value = 1.0f;   // e.g. a rating; 1 for plain events
  int64_t time_ms = 0;  // unix milliseconds
};

// A served recommendation list (an impression), logged with a request id.
struct ImpressionRecord {
  uint64_t request = 0;  // non-zero, unique per collection
  uint64_t user = 0;     // internal user id
  int64_t time_ms = 0;
  std::string variant;          // the strategy label the answer is counted under
  std::vector<uint64_t> items;  // internal item ids, in the order shown
};

// Feedback metrics, counted per (impression day, metric, variant, item).
enum class FeedbackMetric : uint8_t {
  kRequests = 0,     // item id 0
  kImpressions = 1,  // an item shown once in a list
  kClicks = 2,       // a click attributed to that showing
  kConversions = 3,  // a conversion (purchase) attributed to it
};

// A click or conversion attributed to a shown item; counted once per (request, item, metric).
struct AttributionRecord {
  uint64_t request = 0;
  uint64_t item = 0;
  FeedbackMetric metric = FeedbackMetric::kClicks;
  int64_t impression_time_ms = 0;  // its counter goes to the impression's day
  std::string variant;
};

class Store {
 public:
  static Status Open(const std::string& dir, const StoreOptions& options,
                     std::unique_ptr<Store>* store);
  virtual ~Store() = default;

  // Collections. CreateCollection assigns record->id.
  virtual Status CreateCollection(CollectionRecord* record) = 0;
  virtual Status UpdateCollectionConfig(const CollectionRecord& record) = 0;
  // Removes the collection and every item, id and vector it holds.
  virtual Status DropCollection(const CollectionRecord& record) = 0;
  virtual Status ListCollections(std::vector<CollectionRecord>* out) = 0;

  // Writes items in one atomic WriteBatch, together with the collection's counters and a
  // change record (counters.change_seq -> the internal ids written) for index replay.
  virtual Status WriteItems(uint32_t collection, const std::vector<ItemWrite>& writes,
                            const Counters& counters) = 0;
  // Removes an item: its record, id-map entry, its `contents` contents and the vectors of
  // `spaces`, with the counters and a change record, atomically.
  virtual Status DeleteItem(uint32_t collection, const std::string& external_id,
                            uint64_t internal_id, const std::vector<uint32_t>& spaces,
                            uint32_t contents, const Counters& counters) = 0;

  // Writes and removes vectors of one storage space outside item batches (a re-embed filling
  // a new space); no change record.
  virtual Status WriteVectors(uint32_t collection, uint32_t space,
                              const std::vector<std::pair<uint64_t, VectorRecord>>& puts,
                              const std::vector<uint64_t>& removes) = 0;
  // Removes every vector of one storage space of a collection, and its plugin state.
  virtual Status DropSpaceVectors(uint32_t collection, uint32_t space) = 0;
  // An item-item model (EASE's strongest weights per item): rows of (item, weight) keyed by
  // item under storage id `space` of the collection; dropped with DropSpaceVectors(space).
  virtual Status WriteItemRows(
      uint32_t collection, uint32_t space,
      const std::vector<std::pair<uint64_t, std::vector<std::pair<uint64_t, float>>>>& rows) = 0;
  // NotFound when the item has no row.
  virtual Status GetItemRow(uint32_t collection, uint32_t space, uint64_t item,
                            std::vector<std::pair<uint64_t, float>>* row) = 0;
  // What a space's plugin learnt (ABI 1.2 state), kept with the storage space it embedded;
  // an empty state removes it. Get: NotFound when there is none.
  virtual Status PutPluginState(uint32_t collection, uint32_t space, const std::string& state) = 0;
  virtual Status GetPluginState(uint32_t collection, uint32_t space, std::string* state) = 0;

  // Visits the change records of a collection with seq > after, in order: the internal ids
  // each batch touched (upserted or deleted).
  virtual Status ScanChanges(
      uint32_t collection, uint64_t after,
      const std::function<void(uint64_t seq, const std::vector<uint64_t>& ids)>& visit) = 0;
  // Drops change records with seq <= up_to (their effect is in every index file).
  virtual Status TrimChanges(uint32_t collection, uint64_t up_to) = 0;

  // A read view for long scans that must not see later writes.
  virtual std::shared_ptr<const Snapshot> GetSnapshot() = 0;
  // A RocksDB checkpoint (hard links where possible) in dir, which must not exist.
  virtual Status Checkpoint(const std::string& dir) = 0;

  // NotFound when the external id is unknown.
  virtual Status LookupId(uint32_t collection, const std::string& external_id,
                          uint64_t* internal_id) = 0;
  virtual Status GetItem(uint32_t collection, uint64_t internal_id, Item* item) = 0;
  virtual Status GetVector(uint32_t collection, uint32_t space, uint64_t internal_id,
                           VectorRecord* out) = 0;
  // The item's stored contents (empty when it has none).
  virtual Status GetContents(uint32_t collection, uint64_t internal_id,
                             std::vector<Content>* out) = 0;

  // Visits every item / vector of a collection (space) in internal-id order. The pointer
  // passed to the vector visitor is valid only during the call.
  virtual Status ScanItems(uint32_t collection, const std::function<void(const Item&)>& visit) = 0;
  virtual Status ScanVectors(
      uint32_t collection, uint32_t space,
      const std::function<void(uint64_t internal_id, const float* values, size_t dim)>& visit,
      const Snapshot* snapshot = nullptr) = 0;

  // ---- events ----
  // NotFound when the user has no events yet.
  virtual Status LookupUser(uint32_t collection, const std::string& user, uint64_t* uid) = 0;
  // Writes events in one atomic batch, with the users they introduce (name -> new uid, and
  // the next free uid) and the per-item, per-type, per-day counters (a merge operator). An
  // event equal to a stored one in user, time, item and type replaces it (idempotent).
  virtual Status WriteEvents(uint32_t collection,
                             const std::vector<std::pair<std::string, uint64_t>>& new_users,
                             uint64_t next_user_id, const std::vector<EventRecord>& events) = 0;
  // The next free user id of a collection (1 when it has none).
  virtual Status NextUserId(uint32_t collection, uint64_t* next) = 0;
  // A user's events, newest first, until visit returns false.
  virtual Status ScanUserEvents(uint32_t collection, uint64_t uid,
                                const std::function<bool(const EventRecord&)>& visit) = 0;
  // Every event of a collection, by user then time.
  virtual Status ScanEvents(uint32_t collection,
                            const std::function<void(const EventRecord&)>& visit) = 0;
  // Every user name and uid of a collection.
  virtual Status ScanUsers(uint32_t collection,
                           const std::function<void(const std::string&, uint64_t)>& visit) = 0;
  // Event counts per (day since the epoch, type, item) for days in [first_day, last_day].
  virtual Status ScanCounts(uint32_t collection, int32_t first_day, int32_t last_day,
                            const std::function<void(int32_t day, uint8_t type, uint64_t item,
                                                     uint64_t count)>& visit) = 0;
  // Drops the collection's events older than `before_ms` (retention) and their counters, and
  // the impressions and feedback counters of that age.
  virtual Status DropEventsBefore(uint32_t collection, int64_t before_ms) = 0;

  // ---- impressions and attribution ----
  // Logs an impression and counts it (requests, and impressions per item), with the users it
  // introduces (as WriteEvents).
  virtual Status WriteImpression(uint32_t collection,
                                 const std::vector<std::pair<std::string, uint64_t>>& new_users,
                                 uint64_t next_user_id, const ImpressionRecord& impression) = 0;
  // NotFound for an unknown request id.
  virtual Status GetImpression(uint32_t collection, uint64_t request, ImpressionRecord* out) = 0;
  // A user's impressions at or after since_ms, newest first, until visit returns false.
  virtual Status ScanUserImpressions(uint32_t collection, uint64_t uid, int64_t since_ms,
                                     const std::function<bool(const ImpressionRecord&)>& visit) = 0;
  // Whether an attribution was counted already (the caller serialises check and write).
  virtual Status HasAttribution(uint32_t collection, const AttributionRecord& a, bool* out) = 0;
  // Events (as WriteEvents) and the attributions they earn, in one atomic batch.
  virtual Status WriteEventsAttributed(
      uint32_t collection, const std::vector<std::pair<std::string, uint64_t>>& new_users,
      uint64_t next_user_id, const std::vector<EventRecord>& events,
      const std::vector<AttributionRecord>& attributions) = 0;
  // Feedback counters for impression days in [first_day, last_day].
  virtual Status ScanFeedback(
      uint32_t collection, int32_t first_day, int32_t last_day,
      const std::function<void(int32_t day, FeedbackMetric metric, const std::string& variant,
                               uint64_t item, uint64_t count)>& visit) = 0;

  // Bytes on disk (SST + WAL), approximately.
  virtual uint64_t DiskUsage() = 0;
};

}  // namespace storage
}  // namespace reco
