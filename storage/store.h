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

  // Writes items in one atomic WriteBatch, together with the collection's next free id.
  virtual Status WriteItems(uint32_t collection, const std::vector<ItemWrite>& writes,
                            uint64_t next_item_id) = 0;
  // Removes an item: its record, id-map entry and the vectors of `spaces`, atomically.
  virtual Status DeleteItem(uint32_t collection, const std::string& external_id,
                            uint64_t internal_id, const std::vector<uint32_t>& spaces) = 0;

  // NotFound when the external id is unknown.
  virtual Status LookupId(uint32_t collection, const std::string& external_id,
                          uint64_t* internal_id) = 0;
  virtual Status GetItem(uint32_t collection, uint64_t internal_id, Item* item) = 0;
  virtual Status GetVector(uint32_t collection, uint32_t space, uint64_t internal_id,
                           VectorRecord* out) = 0;

  // Visits every item / vector of a collection (space) in internal-id order. The pointer
  // passed to the vector visitor is valid only during the call.
  virtual Status ScanItems(uint32_t collection, const std::function<void(const Item&)>& visit) = 0;
  virtual Status ScanVectors(
      uint32_t collection, uint32_t space,
      const std::function<void(uint64_t internal_id, const float* values, size_t dim)>& visit) = 0;

  // Bytes on disk (SST + WAL), approximately.
  virtual uint64_t DiskUsage() = 0;
};

}  // namespace storage
}  // namespace reco
