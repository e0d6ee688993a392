#include "storage/store.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

namespace reco {
namespace storage {
namespace {

// Column families. Keys are big-endian so that RocksDB's order is numeric order.
//   meta:    "c:" name          -> fixed32 collection id, config bytes
//            "n:" be32(coll)    -> fixed64 next free internal id, fixed64 change seq
//            "seq:collection"   -> fixed32 next free collection id
//   items:   be32(coll) be64(iid)            -> EncodeItem
//   ids:     be32(coll) external-id          -> fixed64 iid
//   vectors: be32(coll) be32(space) be64(iid) -> provenance, float32[dim]
//   changes: be32(coll) be64(seq)            -> varint count, varint iids (index replay log)
//   contents: be32(coll) be64(iid) u8(n)     -> content type, bytes (blob files)
constexpr const char* kMetaCf = "meta";
constexpr const char* kChangesCf = "changes";
constexpr const char* kContentsCf = "contents";
constexpr const char* kUsersCf = "users";
constexpr const char* kEventsCf = "events";
constexpr const char* kCountersCf = "counters";
constexpr const char* kImpressionsCf = "impressions";
constexpr const char* kFeedbackCf = "feedback";
//   impressions: be32(coll) 'u' be64(uid) be64(time+2^63) be64(request) -> variant, items
//                be32(coll) 'r' be64(request)                          -> be64(uid) be64(time)
//                be32(coll) 'a' be64(request) be64(iid) u8(metric)     -> "" (counted once)
//   feedback:    be32(coll) be32(day) u8(metric) variant '\0' be64(iid) -> fixed64 (merge: add)
//   users:    be32(coll) user name                      -> fixed64 uid
//   events:   be32(coll) be64(uid) be64(time) be64(iid) u8(type) -> float value
//   counters: be32(coll) be32(day) u8(type) be64(iid)   -> fixed64 count (merge: add)
//   meta "u:" be32(coll)                                -> fixed64 next free uid
//   meta "p:" be32(coll) be32(space)                    -> a plugin's learnt state (bytes)
constexpr const char* kItemsCf = "items";
constexpr const char* kIdsCf = "ids";
constexpr const char* kVectorsCf = "vectors";
const std::string kCollectionSeqKey = "seq:collection";

void PutBE32(std::string* out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out->push_back(static_cast<char>((v >> s) & 0xff));
}
void PutBE64(std::string* out, uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) out->push_back(static_cast<char>((v >> s) & 0xff));
}
uint64_t GetBE64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
void PutFixed32(std::string* out, uint32_t v) { out->append(reinterpret_cast<char*>(&v), 4); }
void PutFixed64(std::string* out, uint64_t v) { out->append(reinterpret_cast<char*>(&v), 8); }
uint32_t GetFixed32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t GetFixed64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

std::string CollectionPrefix(uint32_t c) {
  std::string k;
  PutBE32(&k, c);
  return k;
}
std::string ItemKey(uint32_t c, uint64_t iid) {
  std::string k = CollectionPrefix(c);
  PutBE64(&k, iid);
  return k;
}
std::string IdKey(uint32_t c, const std::string& ext) { return CollectionPrefix(c) + ext; }
std::string SpacePrefix(uint32_t c, uint32_t space) {
  std::string k = CollectionPrefix(c);
  PutBE32(&k, space);
  return k;
}
std::string VectorKey(uint32_t c, uint32_t space, uint64_t iid) {
  std::string k = SpacePrefix(c, space);
  PutBE64(&k, iid);
  return k;
}
std::string MetaNameKey(const std::string& name) { return "c:" + name; }
std::string MetaNextIdKey(uint32_t c) { return "n:" + CollectionPrefix(c); }
std::string MetaStateKey(uint32_t c, uint32_t space) { return "p:" + SpacePrefix(c, space); }
std::string ChangeKey(uint32_t c, uint64_t seq) {
  std::string k = CollectionPrefix(c);
  PutBE64(&k, seq);
  return k;
}
std::string EncodeCounters(const Counters& counters) {
  std::string v;
  PutFixed64(&v, counters.next_item_id);
  PutFixed64(&v, counters.change_seq);
  return v;
}

// Adds fixed64 counters.
class AddOperator : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* new_value, rocksdb::Logger*) const override {
    uint64_t a = existing && existing->size() == 8 ? GetFixed64(existing->data()) : 0;
    uint64_t b = value.size() == 8 ? GetFixed64(value.data()) : 0;
    new_value->clear();
    PutFixed64(new_value, a + b);
    return true;
  }
  const char* Name() const override { return "reco.add64"; }
};

int32_t DayOf(int64_t time_ms) {
  int64_t day = time_ms >= 0 ? time_ms / 86400000 : (time_ms - 86399999) / 86400000;
  return static_cast<int32_t>(day);
}

std::string UserImpressionKey(uint32_t c, uint64_t uid, int64_t time_ms, uint64_t request) {
  std::string k = CollectionPrefix(c);
  k.push_back('u');
  PutBE64(&k, uid);
  PutBE64(&k, static_cast<uint64_t>(time_ms) ^ (uint64_t{1} << 63));
  PutBE64(&k, request);
  return k;
}
std::string RequestKey(uint32_t c, uint64_t request) {
  std::string k = CollectionPrefix(c);
  k.push_back('r');
  PutBE64(&k, request);
  return k;
}
std::string AttributionKey(uint32_t c, const AttributionRecord& a) {
  std::string k = CollectionPrefix(c);
  k.push_back('a');
  PutBE64(&k, a.request);
  PutBE64(&k, a.item);
  k.push_back(static_cast<char>(a.metric));
  return k;
}
std::string FeedbackKey(uint32_t c, int32_t day, FeedbackMetric metric, const std::string& variant,
                        uint64_t iid) {
  std::string k = CollectionPrefix(c);
  PutBE32(&k, static_cast<uint32_t>(day) ^ 0x80000000u);
  k.push_back(static_cast<char>(metric));
  k += variant;  // labels never hold a NUL (the engine checks)
  k.push_back('\0');
  PutBE64(&k, iid);
  return k;
}
bool DecodeImpressionValue(const std::string& v, ImpressionRecord* r) {
  const char* p = v.data();
  const char* e = p + v.size();
  uint64_t len = 0, n = 0;
  if (!GetVarint64(&p, e, &len) || len > static_cast<uint64_t>(e - p)) return false;
  r->variant.assign(p, len);
  p += len;
  if (!GetVarint64(&p, e, &n) || n > v.size()) return false;
  r->items.resize(n);
  for (auto& iid : r->items) {
    if (!GetVarint64(&p, e, &iid)) return false;
  }
  return p == e;
}

std::string EventKey(uint32_t c, const EventRecord& e) {
  std::string k = CollectionPrefix(c);
  PutBE64(&k, e.user);
  PutBE64(&k, static_cast<uint64_t>(e.time_ms) ^ (uint64_t{1} << 63));  // signed order
  PutBE64(&k, e.item);
  k.push_back(static_cast<char>(e.type));
  return k;
}

bool DecodeEvent(const rocksdb::Slice& k, const rocksdb::Slice& v, EventRecord* e) {
  if (k.size() != 4 + 8 + 8 + 8 + 1 || v.size() != 4) return false;
  e->user = GetBE64(k.data() + 4);
  e->time_ms = static_cast<int64_t>(GetBE64(k.data() + 12) ^ (uint64_t{1} << 63));
  e->item = GetBE64(k.data() + 20);
  e->type = static_cast<uint8_t>(k.data()[28]);
  std::memcpy(&e->value, v.data(), 4);
  return true;
}

std::string CounterKey(uint32_t c, int32_t day, uint8_t type, uint64_t iid) {
  std::string k = CollectionPrefix(c);
  PutBE32(&k, static_cast<uint32_t>(day) ^ 0x80000000u);  // signed order
  k.push_back(static_cast<char>(type));
  PutBE64(&k, iid);
  return k;
}

// Holds the database open until the snapshot is released, even past the Store.
class RocksSnapshot : public Snapshot {
 public:
  explicit RocksSnapshot(std::shared_ptr<rocksdb::DB> db)
      : db_(std::move(db)), snapshot_(db_->GetSnapshot()) {}
  ~RocksSnapshot() override { db_->ReleaseSnapshot(snapshot_); }
  const rocksdb::Snapshot* get() const { return snapshot_; }

 private:
  std::shared_ptr<rocksdb::DB> db_;
  const rocksdb::Snapshot* snapshot_;
};

// The smallest key greater than every key starting with `prefix` (prefixes here are
// big-endian ids that never are all 0xff).
std::string PrefixEnd(std::string prefix) {
  for (size_t i = prefix.size(); i-- > 0;) {
    if (static_cast<unsigned char>(prefix[i]) != 0xff) {
      prefix[i] = static_cast<char>(static_cast<unsigned char>(prefix[i]) + 1);
      prefix.resize(i + 1);
      return prefix;
    }
  }
  return std::string();  // unreachable for our keys
}

Status FromRocks(const rocksdb::Status& s, const char* what) {
  if (s.ok()) return Status::OK();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsNotFound()) return Status::NotFound(msg);
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsIOError()) return Status::IOError(msg);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(msg);
  return Status::Internal(msg);
}

// An iterator over a collection's day-keyed records (counters, feedback: be32(coll) then the
// day with its sign bit flipped) for days in [first_day, last_day], positioned at the first.
struct DayRange {
  DayRange(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, uint32_t c, int32_t first_day,
           int32_t last_day) {
    std::string begin = CollectionPrefix(c);
    PutBE32(&begin, static_cast<uint32_t>(first_day) ^ 0x80000000u);
    end = CollectionPrefix(c);
    PutBE32(&end, static_cast<uint32_t>(last_day) ^ 0x80000000u);
    end = PrefixEnd(end);
    upper = rocksdb::Slice(end);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper;
    it.reset(db->NewIterator(ro, cf));
    it->Seek(begin);
  }
  std::string end;
  rocksdb::Slice upper;
  std::unique_ptr<rocksdb::Iterator> it;
};

void EncodeVector(const VectorRecord& v, std::string* out) {
  EncodeProvenance(v.provenance, out);
  out->append(reinterpret_cast<const char*>(v.values.data()), v.values.size() * sizeof(float));
}

class RocksStore final : public Store {
 public:
  ~RocksStore() override {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    db_.reset();
  }

  Status Init(const std::string& dir, const StoreOptions& options) {
    rocksdb::Options db_options;
    db_options.create_if_missing = options.create_if_missing;
    db_options.create_missing_column_families = true;
    db_options.IncreaseParallelism(2);
    write_options_.sync = options.sync;

    rocksdb::ColumnFamilyOptions cf_options;
    rocksdb::BlockBasedTableOptions table;
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

    // Images and DICOM files are large values: keep them in blob files, out of the LSM tree.
    rocksdb::ColumnFamilyOptions contents_options = cf_options;
    contents_options.enable_blob_files = true;
    contents_options.min_blob_size = 1024;
    rocksdb::ColumnFamilyOptions counters_options = cf_options;
    counters_options.merge_operator = std::make_shared<AddOperator>();
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
        {rocksdb::kDefaultColumnFamilyName, cf_options},
        {kMetaCf, cf_options},
        {kItemsCf, cf_options},
        {kIdsCf, cf_options},
        {kVectorsCf, cf_options},
        {kChangesCf, cf_options},
        {kContentsCf, contents_options},
        {kUsersCf, cf_options},
        {kEventsCf, cf_options},
        {kCountersCf, counters_options},
        {kImpressionsCf, cf_options},
        {kFeedbackCf, counters_options},
    };
    rocksdb::DB* db = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(db_options, dir, cfs, &handles_, &db);
    if (!s.ok()) return FromRocks(s, ("opening RocksDB at " + dir).c_str());
    db_.reset(db);
    meta_ = handles_[1];
    items_ = handles_[2];
    ids_ = handles_[3];
    vectors_ = handles_[4];
    changes_ = handles_[5];
    contents_ = handles_[6];
    users_ = handles_[7];
    events_ = handles_[8];
    counters_ = handles_[9];
    impressions_ = handles_[10];
    feedback_ = handles_[11];
    return Status::OK();
  }

  Status CreateCollection(CollectionRecord* record) override {
    std::lock_guard<std::mutex> lock(meta_mu_);
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, MetaNameKey(record->name), &value);
    if (s.ok()) return Status::AlreadyExists("collection '" + record->name + "' already exists");
    if (!s.IsNotFound()) return FromRocks(s, "reading collection metadata");
    uint32_t next = 1;
    s = db_->Get(rocksdb::ReadOptions(), meta_, kCollectionSeqKey, &value);
    if (s.ok() && value.size() == 4)
      next = GetFixed32(value.data());
    else if (!s.ok() && !s.IsNotFound())
      return FromRocks(s, "reading collection counter");
    record->id = next;
    record->next_item_id = 1;
    rocksdb::WriteBatch batch;
    std::string seq;
    PutFixed32(&seq, next + 1);
    batch.Put(meta_, kCollectionSeqKey, seq);
    batch.Put(meta_, MetaNameKey(record->name), EncodeCollection(*record));
    record->change_seq = 0;
    batch.Put(meta_, MetaNextIdKey(record->id), EncodeCounters({record->next_item_id, 0}));
    return FromRocks(db_->Write(write_options_, &batch), "writing collection metadata");
  }

  Status UpdateCollectionConfig(const CollectionRecord& record) override {
    std::lock_guard<std::mutex> lock(meta_mu_);
    return FromRocks(
        db_->Put(write_options_, meta_, MetaNameKey(record.name), EncodeCollection(record)),
        "writing collection metadata");
  }

  Status DropCollection(const CollectionRecord& record) override {
    std::lock_guard<std::mutex> lock(meta_mu_);
    rocksdb::WriteBatch batch;
    std::string begin = CollectionPrefix(record.id);
    std::string end = PrefixEnd(begin);
    for (auto* cf : {items_, ids_, vectors_, changes_, contents_, users_, events_, counters_,
                     impressions_, feedback_}) {
      batch.DeleteRange(cf, begin, end);
    }
    batch.Delete(meta_, "u:" + CollectionPrefix(record.id));
    const std::string states = "p:" + CollectionPrefix(record.id);
    batch.DeleteRange(meta_, states, PrefixEnd(states));
    batch.Delete(meta_, MetaNameKey(record.name));
    batch.Delete(meta_, MetaNextIdKey(record.id));
    {
      std::lock_guard<std::mutex> latest(latest_mu_);
      latest_.erase(record.id);
    }
    return FromRocks(db_->Write(write_options_, &batch), "dropping collection");
  }

  Status ListCollections(std::vector<CollectionRecord>* out) override {
    out->clear();
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
    for (it->Seek("c:"); it->Valid() && it->key().starts_with("c:"); it->Next()) {
      CollectionRecord r;
      r.name = it->key().ToString().substr(2);
      rocksdb::Slice v = it->value();
      if (v.size() < 4) return Status::Corruption("collection record '" + r.name + "' is short");
      r.id = GetFixed32(v.data());
      r.config.assign(v.data() + 4, v.size() - 4);
      std::string next;
      rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, MetaNextIdKey(r.id), &next);
      if (!s.ok() || next.size() != 16) {
        return Status::Corruption("collection '" + r.name + "' has no id counter");
      }
      r.next_item_id = GetFixed64(next.data());
      r.change_seq = GetFixed64(next.data() + 8);
      out->push_back(std::move(r));
    }
    return FromRocks(it->status(), "listing collections");
  }

  Status WriteItems(uint32_t c, const std::vector<ItemWrite>& writes,
                    const Counters& counters) override {
    rocksdb::WriteBatch batch;
    std::string value;
    std::string change;
    PutVarint64(&change, writes.size());
    for (const ItemWrite& w : writes) PutVarint64(&change, w.item.internal_id);
    batch.Put(changes_, ChangeKey(c, counters.change_seq), change);
    for (const ItemWrite& w : writes) {
      if (w.contents.size() > 256) {
        return Status::InvalidArgument("item '" + w.item.id + "' has more than 256 contents");
      }
      value.clear();
      Item record = w.item;
      record.contents = static_cast<uint32_t>(w.contents.size());
      EncodeItem(record, &value);
      batch.Put(items_, ItemKey(c, w.item.internal_id), value);
      value.clear();
      PutFixed64(&value, w.item.internal_id);
      batch.Put(ids_, IdKey(c, w.item.id), value);
      for (const VectorRecord& v : w.vectors) {
        value.clear();
        EncodeVector(v, &value);
        batch.Put(vectors_, VectorKey(c, v.space, w.item.internal_id), value);
      }
      for (uint32_t space : w.clear_spaces) {
        batch.Delete(vectors_, VectorKey(c, space, w.item.internal_id));
      }
      const std::string item_key = ItemKey(c, w.item.internal_id);
      for (size_t i = w.contents.size(); i < w.previous_contents && i < 256; ++i) {
        batch.Delete(contents_, item_key + static_cast<char>(i));
      }
      for (size_t i = 0; i < w.contents.size(); ++i) {
        value.clear();
        PutLengthPrefixed(&value, w.contents[i].content_type);
        value.append(w.contents[i].data);
        batch.Put(contents_, item_key + static_cast<char>(i), value);
      }
    }
    batch.Put(meta_, MetaNextIdKey(c), EncodeCounters(counters));
    return FromRocks(db_->Write(write_options_, &batch), "writing items");
  }

  Status DeleteItem(uint32_t c, const std::string& external_id, uint64_t iid,
                    const std::vector<uint32_t>& spaces, uint32_t contents,
                    const Counters& counters) override {
    rocksdb::WriteBatch batch;
    std::string change;
    PutVarint64(&change, 1);
    PutVarint64(&change, iid);
    batch.Put(changes_, ChangeKey(c, counters.change_seq), change);
    batch.Put(meta_, MetaNextIdKey(c), EncodeCounters(counters));
    batch.Delete(items_, ItemKey(c, iid));
    for (uint32_t i = 0; i < contents && i < 256; ++i) {
      batch.Delete(contents_, ItemKey(c, iid) + static_cast<char>(i));
    }
    batch.Delete(ids_, IdKey(c, external_id));
    for (uint32_t space : spaces) batch.Delete(vectors_, VectorKey(c, space, iid));
    return FromRocks(db_->Write(write_options_, &batch), "deleting item");
  }

  Status LookupId(uint32_t c, const std::string& external_id, uint64_t* iid) override {
    rocksdb::PinnableSlice value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), ids_, IdKey(c, external_id), &value);
    if (s.IsNotFound()) return Status::NotFound("item '" + external_id + "' does not exist");
    if (!s.ok()) return FromRocks(s, "looking up item id");
    if (value.size() != 8) return Status::Corruption("id map entry of '" + external_id + "'");
    *iid = GetFixed64(value.data());
    return Status::OK();
  }

  Status GetItem(uint32_t c, uint64_t iid, Item* item) override {
    rocksdb::PinnableSlice value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), items_, ItemKey(c, iid), &value);
    if (s.IsNotFound()) return Status::NotFound("item #" + std::to_string(iid) + " does not exist");
    if (!s.ok()) return FromRocks(s, "reading item");
    if (!DecodeItem(value.data(), value.size(), item)) {
      return Status::Corruption("item record #" + std::to_string(iid) + " does not decode");
    }
    return Status::OK();
  }

  Status GetVector(uint32_t c, uint32_t space, uint64_t iid, VectorRecord* out) override {
    rocksdb::PinnableSlice value;
    rocksdb::Status s =
        db_->Get(rocksdb::ReadOptions(), vectors_, VectorKey(c, space, iid), &value);
    if (s.IsNotFound()) return Status::NotFound("no vector for item #" + std::to_string(iid));
    if (!s.ok()) return FromRocks(s, "reading vector");
    return DecodeVector(space, value.data(), value.size(), out);
  }

  Status ScanItems(uint32_t c, const std::function<void(const Item&)>& visit) override {
    std::string begin = CollectionPrefix(c);
    return Scan(items_, begin, nullptr, [&](const rocksdb::Slice&, const rocksdb::Slice& v) {
      Item item;
      if (!DecodeItem(v.data(), v.size(), &item)) return Status::Corruption("item record");
      visit(item);
      return Status::OK();
    });
  }

  Status WriteVectors(uint32_t c, uint32_t space,
                      const std::vector<std::pair<uint64_t, VectorRecord>>& puts,
                      const std::vector<uint64_t>& removes) override {
    rocksdb::WriteBatch batch;
    std::string value;
    for (const auto& [iid, v] : puts) {
      value.clear();
      EncodeVector(v, &value);
      batch.Put(vectors_, VectorKey(c, space, iid), value);
    }
    for (uint64_t iid : removes) batch.Delete(vectors_, VectorKey(c, space, iid));
    return FromRocks(db_->Write(write_options_, &batch), "writing vectors");
  }

  Status DropSpaceVectors(uint32_t c, uint32_t space) override {
    const std::string begin = SpacePrefix(c, space);
    rocksdb::WriteBatch batch;
    batch.DeleteRange(vectors_, begin, PrefixEnd(begin));
    batch.Delete(meta_, MetaStateKey(c, space));
    return FromRocks(db_->Write(write_options_, &batch), "dropping space vectors");
  }

  // An item row: varint count, then per entry varint item id and float32 weight.
  Status WriteItemRows(
      uint32_t c, uint32_t space,
      const std::vector<std::pair<uint64_t, std::vector<std::pair<uint64_t, float>>>>& rows)
      override {
    rocksdb::WriteBatch batch;
    std::string value;
    for (const auto& [item, row] : rows) {
      value.clear();
      PutVarint64(&value, row.size());
      for (const auto& [id, w] : row) {
        PutVarint64(&value, id);
        value.append(reinterpret_cast<const char*>(&w), sizeof(float));
      }
      batch.Put(vectors_, VectorKey(c, space, item), value);
    }
    return FromRocks(db_->Write(write_options_, &batch), "writing item rows");
  }

  Status GetItemRow(uint32_t c, uint32_t space, uint64_t item,
                    std::vector<std::pair<uint64_t, float>>* row) override {
    row->clear();
    rocksdb::PinnableSlice value;
    rocksdb::Status s =
        db_->Get(rocksdb::ReadOptions(), vectors_, VectorKey(c, space, item), &value);
    if (s.IsNotFound()) return Status::NotFound("no item row");
    RECO_RETURN_IF_ERROR(FromRocks(s, "reading an item row"));
    const char* p = value.data();
    const char* e = p + value.size();
    uint64_t n = 0;
    if (!GetVarint64(&p, e, &n) || n > value.size()) return Status::Corruption("item row");
    row->reserve(n);
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t id = 0;
      float w = 0;
      if (!GetVarint64(&p, e, &id) || e - p < static_cast<ptrdiff_t>(sizeof(float))) {
        return Status::Corruption("item row");
      }
      std::memcpy(&w, p, sizeof(float));
      p += sizeof(float);
      row->emplace_back(id, w);
    }
    return Status::OK();
  }

  Status PutPluginState(uint32_t c, uint32_t space, const std::string& state) override {
    rocksdb::Status s = state.empty()
                            ? db_->Delete(write_options_, meta_, MetaStateKey(c, space))
                            : db_->Put(write_options_, meta_, MetaStateKey(c, space), state);
    return FromRocks(s, "writing a plugin state");
  }

  Status GetPluginState(uint32_t c, uint32_t space, std::string* state) override {
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, MetaStateKey(c, space), state);
    if (s.IsNotFound()) return Status::NotFound("no plugin state");
    return FromRocks(s, "reading a plugin state");
  }

  Status GetContents(uint32_t c, uint64_t iid, std::vector<Content>* out) override {
    out->clear();
    return Scan(contents_, ItemKey(c, iid), nullptr,
                [&](const rocksdb::Slice&, const rocksdb::Slice& v) {
                  const char* p = v.data();
                  const char* e = p + v.size();
                  Content content;
                  if (!GetLengthPrefixed(&p, e, &content.content_type)) {
                    return Status::Corruption("content record of item #" + std::to_string(iid));
                  }
                  content.data.assign(p, e);
                  out->push_back(std::move(content));
                  return Status::OK();
                });
  }

  Status ScanChanges(
      uint32_t c, uint64_t after,
      const std::function<void(uint64_t, const std::vector<uint64_t>&)>& visit) override {
    std::string begin = ChangeKey(c, after + 1);
    std::string end = PrefixEnd(CollectionPrefix(c));
    rocksdb::Slice upper(end);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, changes_));
    std::vector<uint64_t> ids;
    for (it->Seek(begin); it->Valid(); it->Next()) {
      if (it->key().size() != 12) return Status::Corruption("change record key");
      const char* p = it->value().data();
      const char* e = p + it->value().size();
      uint64_t n = 0;
      if (!GetVarint64(&p, e, &n) || n > it->value().size()) {
        return Status::Corruption("change record");
      }
      ids.resize(n);
      for (auto& id : ids) {
        if (!GetVarint64(&p, e, &id)) return Status::Corruption("change record");
      }
      visit(GetBE64(it->key().data() + 4), ids);
    }
    return FromRocks(it->status(), "scanning changes");
  }

  Status TrimChanges(uint32_t c, uint64_t up_to) override {
    return FromRocks(
        db_->DeleteRange(write_options_, changes_, ChangeKey(c, 0), ChangeKey(c, up_to + 1)),
        "trimming changes");
  }

  std::shared_ptr<const Snapshot> GetSnapshot() override {
    return std::make_shared<RocksSnapshot>(db_);
  }

  Status Checkpoint(const std::string& dir) override {
    rocksdb::Checkpoint* raw = nullptr;
    RECO_RETURN_IF_ERROR(FromRocks(rocksdb::Checkpoint::Create(db_.get(), &raw), "checkpoint"));
    std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
    return FromRocks(checkpoint->CreateCheckpoint(dir), ("creating checkpoint in " + dir).c_str());
  }

  Status ScanVectors(uint32_t c, uint32_t space,
                     const std::function<void(uint64_t, const float*, size_t)>& visit,
                     const Snapshot* snapshot) override {
    std::string begin = SpacePrefix(c, space);
    std::vector<float> values;
    const rocksdb::Snapshot* snap =
        snapshot ? static_cast<const RocksSnapshot*>(snapshot)->get() : nullptr;
    return Scan(vectors_, begin, snap, [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
      VectorProvenance prov;
      size_t used = 0;
      if (k.size() != 16 || !DecodeProvenance(v.data(), v.size(), &used, &prov) ||
          (v.size() - used) % sizeof(float) != 0) {
        return Status::Corruption("vector record in space " + std::to_string(space));
      }
      size_t dim = (v.size() - used) / sizeof(float);
      values.resize(dim);
      std::memcpy(values.data(), v.data() + used, dim * sizeof(float));
      visit(GetBE64(k.data() + 8), values.data(), dim);
      return Status::OK();
    });
  }

  Status LookupUser(uint32_t c, const std::string& user, uint64_t* uid) override {
    rocksdb::PinnableSlice value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), users_, IdKey(c, user), &value);
    if (s.IsNotFound()) return Status::NotFound("user '" + user + "' has no events");
    if (!s.ok()) return FromRocks(s, "looking up user");
    if (value.size() != 8) return Status::Corruption("user map entry of '" + user + "'");
    *uid = GetFixed64(value.data());
    return Status::OK();
  }

  Status NextUserId(uint32_t c, uint64_t* next) override {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, "u:" + CollectionPrefix(c), &value);
    if (s.IsNotFound()) {
      *next = 1;
      return Status::OK();
    }
    if (!s.ok() || value.size() != 8) return Status::Corruption("user counter");
    *next = GetFixed64(value.data());
    return Status::OK();
  }

  Status WriteEvents(uint32_t c, const std::vector<std::pair<std::string, uint64_t>>& new_users,
                     uint64_t next_user_id, const std::vector<EventRecord>& events) override {
    return WriteEventsAttributed(c, new_users, next_user_id, events, {});
  }

  void PutNewUsers(uint32_t c, const std::vector<std::pair<std::string, uint64_t>>& new_users,
                   uint64_t next_user_id, rocksdb::WriteBatch* batch) {
    std::string value;
    for (const auto& [name, uid] : new_users) {
      value.clear();
      PutFixed64(&value, uid);
      batch->Put(users_, IdKey(c, name), value);
    }
    if (!new_users.empty()) {
      value.clear();
      PutFixed64(&value, next_user_id);
      batch->Put(meta_, "u:" + CollectionPrefix(c), value);
    }
  }

  Status WriteEventsAttributed(uint32_t c,
                               const std::vector<std::pair<std::string, uint64_t>>& new_users,
                               uint64_t next_user_id, const std::vector<EventRecord>& events,
                               const std::vector<AttributionRecord>& attributions) override {
    rocksdb::WriteBatch batch;
    PutNewUsers(c, new_users, next_user_id, &batch);
    std::string one;
    PutFixed64(&one, 1);
    std::unordered_set<std::string> in_batch;
    std::unordered_map<uint64_t, int64_t> newest;  // per user: the newest time after this batch
    for (const EventRecord& e : events) {
      std::string key = EventKey(c, e);
      // Idempotent: an event stored already (or earlier in this batch) does not count twice.
      // An event newer than the user's newest stored one cannot be stored: no lookup then.
      bool seen = false;
      int64_t latest = INT64_MIN;
      RECO_RETURN_IF_ERROR(LatestEventTime(c, e.user, &latest));
      if (!in_batch.insert(key).second) {
        seen = true;
      } else if (e.time_ms > latest) {
        seen = false;
      } else {
        rocksdb::PinnableSlice existing;
        seen = db_->Get(rocksdb::ReadOptions(), events_, key, &existing).ok();
      }
      auto [it, fresh] = newest.try_emplace(e.user, latest);
      it->second = std::max(it->second, e.time_ms);
      batch.Put(events_, key, rocksdb::Slice(reinterpret_cast<const char*>(&e.value), 4));
      if (!seen) batch.Merge(counters_, CounterKey(c, DayOf(e.time_ms), e.type, e.item), one);
    }
    for (const AttributionRecord& a : attributions) {
      batch.Put(impressions_, AttributionKey(c, a), rocksdb::Slice());
      batch.Merge(feedback_,
                  FeedbackKey(c, DayOf(a.impression_time_ms), a.metric, a.variant, a.item), one);
    }
    RECO_RETURN_IF_ERROR(FromRocks(db_->Write(write_options_, &batch), "writing events"));
    std::lock_guard<std::mutex> lock(latest_mu_);
    auto& times = latest_[c];
    for (const auto& [uid, time] : newest) times[uid] = std::max(times[uid], time);
    return Status::OK();
  }

  // The time of a user's newest stored event (INT64_MIN when none), cached per user after
  // one seek. Events are only ever added or dropped as old, so the cache can only be behind
  // the truth in the safe direction (it may name a time whose event retention dropped).
  Status LatestEventTime(uint32_t c, uint64_t uid, int64_t* out) {
    {
      std::lock_guard<std::mutex> lock(latest_mu_);
      auto coll = latest_.find(c);
      if (coll != latest_.end()) {
        auto it = coll->second.find(uid);
        if (it != coll->second.end()) {
          *out = it->second;
          return Status::OK();
        }
      }
    }
    std::string prefix = CollectionPrefix(c);
    PutBE64(&prefix, uid);
    const std::string end = PrefixEnd(prefix);
    rocksdb::ReadOptions ro;
    rocksdb::Slice lower(prefix);
    ro.iterate_lower_bound = &lower;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, events_));
    it->SeekForPrev(end);
    if (it->Valid() && it->key().compare(end) >= 0) it->Prev();
    int64_t latest = INT64_MIN;
    EventRecord e;
    if (it->Valid() && it->key().starts_with(prefix)) {
      if (!DecodeEvent(it->key(), it->value(), &e)) return Status::Corruption("event record");
      latest = e.time_ms;
    }
    RECO_RETURN_IF_ERROR(FromRocks(it->status(), "reading a user's newest event"));
    std::lock_guard<std::mutex> lock(latest_mu_);
    latest_[c].emplace(uid, latest);
    *out = latest;
    return Status::OK();
  }

  Status WriteImpression(uint32_t c, const std::vector<std::pair<std::string, uint64_t>>& new_users,
                         uint64_t next_user_id, const ImpressionRecord& r) override {
    rocksdb::WriteBatch batch;
    PutNewUsers(c, new_users, next_user_id, &batch);
    std::string value;
    PutVarint64(&value, r.variant.size());
    value += r.variant;
    PutVarint64(&value, r.items.size());
    for (uint64_t iid : r.items) PutVarint64(&value, iid);
    batch.Put(impressions_, UserImpressionKey(c, r.user, r.time_ms, r.request), value);
    std::string where;
    PutBE64(&where, r.user);
    PutBE64(&where, static_cast<uint64_t>(r.time_ms) ^ (uint64_t{1} << 63));
    batch.Put(impressions_, RequestKey(c, r.request), where);
    std::string one;
    PutFixed64(&one, 1);
    const int32_t day = DayOf(r.time_ms);
    batch.Merge(feedback_, FeedbackKey(c, day, FeedbackMetric::kRequests, r.variant, 0), one);
    for (uint64_t iid : r.items) {
      batch.Merge(feedback_, FeedbackKey(c, day, FeedbackMetric::kImpressions, r.variant, iid),
                  one);
    }
    return FromRocks(db_->Write(write_options_, &batch), "writing an impression");
  }

  Status GetImpression(uint32_t c, uint64_t request, ImpressionRecord* out) override {
    std::string where;
    rocksdb::Status s =
        db_->Get(rocksdb::ReadOptions(), impressions_, RequestKey(c, request), &where);
    if (s.IsNotFound()) return Status::NotFound("unknown request id");
    RECO_RETURN_IF_ERROR(FromRocks(s, "reading an impression"));
    if (where.size() != 16) return Status::Corruption("impression index record");
    const uint64_t uid = GetBE64(where.data());
    const int64_t time = static_cast<int64_t>(GetBE64(where.data() + 8) ^ (uint64_t{1} << 63));
    std::string value;
    s = db_->Get(rocksdb::ReadOptions(), impressions_, UserImpressionKey(c, uid, time, request),
                 &value);
    if (s.IsNotFound()) return Status::NotFound("unknown request id");  // dropped by retention
    RECO_RETURN_IF_ERROR(FromRocks(s, "reading an impression"));
    out->request = request;
    out->user = uid;
    out->time_ms = time;
    if (!DecodeImpressionValue(value, out)) return Status::Corruption("impression record");
    return Status::OK();
  }

  Status ScanUserImpressions(uint32_t c, uint64_t uid, int64_t since_ms,
                             const std::function<bool(const ImpressionRecord&)>& visit) override {
    std::string prefix = CollectionPrefix(c);
    prefix.push_back('u');
    PutBE64(&prefix, uid);
    const std::string lower_key = UserImpressionKey(c, uid, since_ms, 0);
    const std::string end = PrefixEnd(prefix);
    rocksdb::ReadOptions ro;
    rocksdb::Slice lower(lower_key);
    ro.iterate_lower_bound = &lower;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, impressions_));
    ImpressionRecord r;
    for (it->SeekForPrev(end); it->Valid() && it->key().starts_with(prefix); it->Prev()) {
      rocksdb::Slice k = it->key();
      if (k.compare(end) >= 0) continue;
      if (k.size() != 4 + 1 + 8 + 8 + 8) return Status::Corruption("impression key");
      r.user = uid;
      r.time_ms = static_cast<int64_t>(GetBE64(k.data() + 13) ^ (uint64_t{1} << 63));
      r.request = GetBE64(k.data() + 21);
      if (!DecodeImpressionValue(it->value().ToString(), &r)) {
        return Status::Corruption("impression record");
      }
      if (!visit(r)) break;
    }
    return FromRocks(it->status(), "scanning impressions");
  }

  Status HasAttribution(uint32_t c, const AttributionRecord& a, bool* out) override {
    rocksdb::PinnableSlice v;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), impressions_, AttributionKey(c, a), &v);
    *out = s.ok();
    if (s.IsNotFound()) return Status::OK();
    return FromRocks(s, "reading an attribution");
  }

  Status ScanFeedback(uint32_t c, int32_t first_day, int32_t last_day,
                      const std::function<void(int32_t, FeedbackMetric, const std::string&,
                                               uint64_t, uint64_t)>& visit) override {
    DayRange range(db_.get(), feedback_, c, first_day, last_day);
    rocksdb::Iterator* it = range.it.get();
    std::string variant;
    for (; it->Valid(); it->Next()) {
      rocksdb::Slice k = it->key();
      const char* nul = k.size() > 9
                            ? static_cast<const char*>(std::memchr(k.data() + 9, 0, k.size() - 9))
                            : nullptr;
      if (nul == nullptr || k.data() + k.size() - nul != 9 || it->value().size() != 8 ||
          static_cast<uint8_t>(k.data()[8]) > 3) {
        return Status::Corruption("feedback counter record");
      }
      uint32_t day = 0;
      for (int i = 0; i < 4; ++i) day = (day << 8) | static_cast<unsigned char>(k.data()[4 + i]);
      variant.assign(k.data() + 9, nul);
      visit(static_cast<int32_t>(day ^ 0x80000000u), static_cast<FeedbackMetric>(k.data()[8]),
            variant, GetBE64(nul + 1), GetFixed64(it->value().data()));
    }
    return FromRocks(it->status(), "scanning feedback counters");
  }

  Status ScanUserEvents(uint32_t c, uint64_t uid,
                        const std::function<bool(const EventRecord&)>& visit) override {
    std::string prefix = CollectionPrefix(c);
    PutBE64(&prefix, uid);
    // Read forward, visit newest first: a reverse iteration costs a skip-list search per step
    // while the events are in the memtable. (This query-path read fills the block cache.)
    const std::string end = PrefixEnd(prefix);
    rocksdb::Slice upper(end);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, events_));
    std::vector<EventRecord> events;
    EventRecord e;
    for (it->Seek(prefix); it->Valid(); it->Next()) {
      if (!DecodeEvent(it->key(), it->value(), &e)) return Status::Corruption("event record");
      events.push_back(e);
    }
    RECO_RETURN_IF_ERROR(FromRocks(it->status(), "scanning user events"));
    for (auto r = events.rbegin(); r != events.rend(); ++r) {
      if (!visit(*r)) break;
    }
    return Status::OK();
  }

  Status ScanEvents(uint32_t c, const std::function<void(const EventRecord&)>& visit) override {
    EventRecord e;
    return Scan(events_, CollectionPrefix(c), nullptr,
                [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
                  if (!DecodeEvent(k, v, &e)) return Status::Corruption("event record");
                  visit(e);
                  return Status::OK();
                });
  }

  Status ScanUsers(uint32_t c,
                   const std::function<void(const std::string&, uint64_t)>& visit) override {
    return Scan(users_, CollectionPrefix(c), nullptr,
                [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
                  if (v.size() != 8) return Status::Corruption("user map entry");
                  visit(std::string(k.data() + 4, k.size() - 4), GetFixed64(v.data()));
                  return Status::OK();
                });
  }

  Status ScanCounts(
      uint32_t c, int32_t first_day, int32_t last_day,
      const std::function<void(int32_t, uint8_t, uint64_t, uint64_t)>& visit) override {
    DayRange range(db_.get(), counters_, c, first_day, last_day);
    rocksdb::Iterator* it = range.it.get();
    for (; it->Valid(); it->Next()) {
      rocksdb::Slice k = it->key();
      if (k.size() != 4 + 4 + 1 + 8 || it->value().size() != 8) {
        return Status::Corruption("counter record");
      }
      uint32_t day = 0;
      for (int i = 0; i < 4; ++i) day = (day << 8) | static_cast<unsigned char>(k.data()[4 + i]);
      visit(static_cast<int32_t>(day ^ 0x80000000u), static_cast<uint8_t>(k.data()[8]),
            GetBE64(k.data() + 9), GetFixed64(it->value().data()));
    }
    return FromRocks(it->status(), "scanning counters");
  }

  Status DropEventsBefore(uint32_t c, int64_t before_ms) override {
    rocksdb::WriteBatch batch;
    size_t n = 0;
    Status st = Scan(events_, CollectionPrefix(c), nullptr,
                     [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
                       EventRecord e;
                       if (!DecodeEvent(k, v, &e)) return Status::Corruption("event record");
                       if (e.time_ms < before_ms) {
                         batch.Delete(events_, k);
                         ++n;
                       }
                       return Status::OK();
                     });
    RECO_RETURN_IF_ERROR(st);
    std::string begin = CollectionPrefix(c);
    PutBE32(&begin, 0);
    std::string end = CollectionPrefix(c);
    PutBE32(&end, static_cast<uint32_t>(DayOf(before_ms)) ^ 0x80000000u);
    batch.DeleteRange(counters_, begin, end);
    batch.DeleteRange(feedback_, begin, end);
    // Impressions of that age, with their request index and attribution markers.
    std::string users = CollectionPrefix(c);
    users.push_back('u');
    st = Scan(impressions_, users, nullptr, [&](const rocksdb::Slice& k, const rocksdb::Slice&) {
      if (k.size() != 4 + 1 + 8 + 8 + 8) return Status::Corruption("impression key");
      const int64_t time = static_cast<int64_t>(GetBE64(k.data() + 13) ^ (uint64_t{1} << 63));
      if (time >= before_ms) return Status::OK();
      const uint64_t request = GetBE64(k.data() + 21);
      batch.Delete(impressions_, k);
      batch.Delete(impressions_, RequestKey(c, request));
      std::string marks = CollectionPrefix(c);
      marks.push_back('a');
      PutBE64(&marks, request);
      batch.DeleteRange(impressions_, marks, PrefixEnd(marks));
      return Status::OK();
    });
    RECO_RETURN_IF_ERROR(st);
    return FromRocks(db_->Write(write_options_, &batch),
                     ("dropping " + std::to_string(n) + " old events").c_str());
  }

  uint64_t DiskUsage() override {
    uint64_t sst = 0, mem = 0;
    db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kLiveSstFilesSize, &sst);
    db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &mem);
    return sst + mem;
  }

 private:
  static std::string EncodeCollection(const CollectionRecord& r) {
    std::string v;
    PutFixed32(&v, r.id);
    v.append(r.config);
    return v;
  }

  static Status DecodeVector(uint32_t space, const char* data, size_t size, VectorRecord* out) {
    size_t used = 0;
    if (!DecodeProvenance(data, size, &used, &out->provenance) ||
        (size - used) % sizeof(float) != 0) {
      return Status::Corruption("vector record does not decode");
    }
    out->space = space;
    out->values.resize((size - used) / sizeof(float));
    std::memcpy(out->values.data(), data + used, size - used);
    return Status::OK();
  }

  template <class Fn>
  Status Scan(rocksdb::ColumnFamilyHandle* cf, const std::string& prefix,
              const rocksdb::Snapshot* snapshot, Fn&& fn) {
    std::string end = PrefixEnd(prefix);
    rocksdb::Slice upper(end);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper;
    ro.snapshot = snapshot;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf));
    for (it->Seek(prefix); it->Valid(); it->Next()) {
      RECO_RETURN_IF_ERROR(fn(it->key(), it->value()));
    }
    return FromRocks(it->status(), "scanning");
  }

  std::shared_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  rocksdb::ColumnFamilyHandle* items_ = nullptr;
  rocksdb::ColumnFamilyHandle* ids_ = nullptr;
  rocksdb::ColumnFamilyHandle* vectors_ = nullptr;
  rocksdb::ColumnFamilyHandle* changes_ = nullptr;
  rocksdb::ColumnFamilyHandle* contents_ = nullptr;
  rocksdb::ColumnFamilyHandle* users_ = nullptr;
  rocksdb::ColumnFamilyHandle* events_ = nullptr;
  rocksdb::ColumnFamilyHandle* counters_ = nullptr;
  rocksdb::ColumnFamilyHandle* impressions_ = nullptr;
  rocksdb::ColumnFamilyHandle* feedback_ = nullptr;
  rocksdb::WriteOptions write_options_;
  std::mutex meta_mu_;  // serialises collection create / drop
  // Per collection and user: the newest stored event's time (see LatestEventTime).
  std::mutex latest_mu_;
  std::unordered_map<uint32_t, std::unordered_map<uint64_t, int64_t>> latest_;
};

}  // namespace

Status Store::Open(const std::string& dir, const StoreOptions& options,
                   std::unique_ptr<Store>* store) {
  auto s = std::make_unique<RocksStore>();
  RECO_RETURN_IF_ERROR(s->Init(dir, options));
  *store = std::move(s);
  return Status::OK();
}

}  // namespace storage
}  // namespace reco
