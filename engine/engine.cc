#include "engine/engine.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <list>
#include <random>
#include <set>
#include <shared_mutex>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "engine/config_codec.h"
#include "engine/feedback.h"
#include "engine/feedback_stats.h"
#include "engine/internal.h"
#include "engine/learning.h"
#include "engine/plugin_host.h"
#include "filter/filter.h"
#include "index/vector_index.h"
#include "recommend/bpr_mf.h"
#include "storage/store.h"

namespace reco {
namespace engine {
namespace {

using namespace internal;
namespace fs = std::filesystem;

constexpr size_t kMaxTextBytes = 1 << 20;  // longest text content
constexpr size_t kMaxSpaces = 32;          // spaces per collection
constexpr size_t kRebuildChunk = 4096;     // vectors per index Add while (re)building
constexpr uint32_t kMaxEf = 100000;
constexpr uint32_t kMaxNprobe = 1000000;
constexpr uint32_t kItemModelHistory = 100000;  // events an item model reads of a user

// A filter's ids as the index layer sees them.
class IdSetFilter final : public index::IdFilter {
 public:
  explicit IdSetFilter(const filter::IdSet& set) : set_(set) {}
  bool Contains(uint64_t id) const override { return set_.Contains(id); }
  size_t Count() const override { return set_.Count(); }
  void ForEach(const std::function<void(uint64_t)>& fn) const override { set_.ForEach(fn); }

 private:
  const filter::IdSet& set_;
};

// The items a recommendation may return: those of an optional attribute filter, minus the
// excluded ones (seen, listed, the examples). The index skips the excluded items itself, so
// a user with a long history costs no over-fetching.
class ExcludingFilter final : public index::IdFilter {
 public:
  ExcludingFilter(const index::IdFilter* base, const std::unordered_set<uint64_t>& excluded,
                  const std::unordered_map<uint64_t, std::string>& all)
      : base_(base), excluded_(excluded), all_(all) {
    size_t inside = 0;
    for (uint64_t id : excluded_) inside += base_ ? base_->Contains(id) : all_.count(id);
    const size_t total = base_ ? base_->Count() : all_.size();
    count_ = total - std::min(total, inside);
  }
  bool Contains(uint64_t id) const override {
    return (base_ == nullptr || base_->Contains(id)) && !excluded_.count(id);
  }
  size_t Count() const override { return count_; }
  void ForEach(const std::function<void(uint64_t)>& fn) const override {
    if (base_ != nullptr) {
      base_->ForEach([&](uint64_t id) {
        if (!excluded_.count(id)) fn(id);
      });
      return;
    }
    std::vector<uint64_t> ids;
    ids.reserve(all_.size());
    for (const auto& [id, name] : all_) {
      if (!excluded_.count(id)) ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
    for (uint64_t id : ids) fn(id);
  }

 private:
  const index::IdFilter* base_;
  const std::unordered_set<uint64_t>& excluded_;
  const std::unordered_map<uint64_t, std::string>& all_;
  size_t count_ = 0;
};

Status ParseIndexOptions(const SpaceConfig& sc, index::IndexOptions* io) {
  static const char* kKnown = "ef_construction, ef_search, nprobe, train_threshold";
  for (const auto& [key, value] : sc.index_options) {
    char* end = nullptr;
    unsigned long long v = std::strtoull(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || value[0] == '-') {
      return Status::InvalidArgument("index option " + key + "=" + value +
                                     " is not a non-negative integer");
    }
    if (key == "ef_construction") {
      io->ef_construction = static_cast<uint32_t>(std::min<unsigned long long>(v, UINT32_MAX));
    } else if (key == "ef_search") {
      io->ef_search = static_cast<uint32_t>(std::min<unsigned long long>(v, UINT32_MAX));
    } else if (key == "nprobe") {
      io->nprobe = static_cast<uint32_t>(std::min<unsigned long long>(v, UINT32_MAX));
    } else if (key == "train_threshold") {
      io->train_threshold = static_cast<size_t>(v);
    } else {
      return Status::InvalidArgument("unknown index option '" + key + "' (known: " + kKnown + ")");
    }
  }
  return Status::OK();
}

class EngineImpl final : public Engine {
 public:
  explicit EngineImpl(const EngineOptions& options) : options_(options) {}

  ~EngineImpl() override {
    {
      std::lock_guard<std::mutex> lock(bg_mu_);
      stop_ = true;
    }
    stopping_jobs_ = true;
    bg_cv_.notify_all();
    if (background_.joinable()) background_.join();
    for (auto& job : jobs_) job.thread.join();
    if (store_) {
      Status st = Flush();
      if (!st.ok()) Warn("writing index files at shutdown: " + st.message());
    }
  }

  Status Init() {
    std::error_code ec;
    fs::create_directories(IndexDir(options_.data_dir), ec);
    if (ec) {
      return Status::IOError("cannot create data directory '" + options_.data_dir +
                             "': " + ec.message());
    }
    if (!options_.plugin_dir.empty()) {
      Status st = plugins_.LoadDirectory(options_.plugin_dir);
      if (!st.ok()) Warn(st.message());
    }
    storage::StoreOptions so;
    so.sync = options_.sync_writes;
    RECO_RETURN_IF_ERROR(storage::Store::Open(DbDir(options_.data_dir), so, &store_));
    feedback_ = std::make_unique<FeedbackLog>(store_.get());
    std::vector<storage::CollectionRecord> records;
    RECO_RETURN_IF_ERROR(store_->ListCollections(&records));
    for (auto& record : records) {
      auto c = std::make_shared<Collection>();
      RECO_RETURN_IF_ERROR(DecodeCollectionConfig(record.config, &c->config, &c->layout)
                               .WithContext("collection " + Quote(record.name)));
      c->record = record;
      c->next_item_id = record.next_item_id;
      c->change_seq = record.change_seq;
      RECO_RETURN_IF_ERROR(BuildSpaces(c.get(), /*creating=*/false));
      RECO_RETURN_IF_ERROR(DropOrphanVectors(*c));
      RECO_RETURN_IF_ERROR(LoadCollection(c.get()));
      if (c->config.event_types.empty()) c->config.event_types = DefaultEventTypes();
      IndexEventTypes(c.get());
      RECO_RETURN_IF_ERROR(store_->NextUserId(c->record.id, &c->next_user_id));
      c->last_snapshot_ms = c->opened_ms = NowMs();
      collections_[record.name] = std::move(c);
    }
    if (options_.background) background_ = std::thread([this] { BackgroundLoop(); });
    return Status::OK();
  }

  // ---- collections ----

  Status CreateCollection(const CollectionConfig& config) override {
    RECO_RETURN_IF_ERROR(ValidateCollectionName(config.name));
    if (config.spaces.empty()) {
      return Status::InvalidArgument("collection " + Quote(config.name) +
                                     " needs at least one space");
    }
    if (config.spaces.size() > kMaxSpaces) {
      return Status::InvalidArgument("collection " + Quote(config.name) + " has " +
                                     std::to_string(config.spaces.size()) +
                                     " spaces; the limit is " + std::to_string(kMaxSpaces));
    }
    auto c = std::make_shared<Collection>();
    c->config = config;
    if (c->config.event_types.empty()) c->config.event_types = DefaultEventTypes();
    RECO_RETURN_IF_ERROR(ValidateEventConfig(c->config));
    for (size_t i = 0; i < config.spaces.size(); ++i) {
      RECO_RETURN_IF_ERROR(ValidateSpaceName(config.spaces[i].name));
      for (size_t j = 0; j < i; ++j) {
        if (config.spaces[j].name == config.spaces[i].name) {
          return Status::InvalidArgument("space " + Quote(config.spaces[i].name) +
                                         " is named twice");
        }
      }
    }
    RECO_RETURN_IF_ERROR(BuildSpaces(c.get(), /*creating=*/true));
    // BuildSpaces filled in each plugin space's dim and default index spec.
    for (size_t i = 0; i < c->spaces.size(); ++i) c->config.spaces[i] = c->spaces[i]->config;

    std::unique_lock<std::shared_mutex> lock(collections_mu_);
    if (collections_.count(config.name)) {
      return Status::AlreadyExists("collection " + Quote(config.name) + " already exists");
    }
    c->record.name = config.name;
    for (size_t i = 0; i < c->spaces.size(); ++i)
      c->layout.storage.push_back(c->spaces[i]->storage);
    c->layout.next_storage = static_cast<uint32_t>(c->spaces.size());
    c->record.config = EncodeCollectionConfig(c->config, c->layout);
    RECO_RETURN_IF_ERROR(store_->CreateCollection(&c->record));
    IndexEventTypes(c.get());
    c->next_item_id = c->record.next_item_id;
    c->last_snapshot_ms = c->opened_ms = NowMs();
    collections_[config.name] = std::move(c);
    return Status::OK();
  }

  Status DropCollection(const std::string& name) override {
    std::shared_ptr<Collection> c;
    {
      std::unique_lock<std::shared_mutex> lock(collections_mu_);
      auto it = collections_.find(name);
      if (it == collections_.end()) return NotFoundCollection(name);
      c = it->second;
      std::unique_lock<std::shared_mutex> clock(c->mu);
      RECO_RETURN_IF_ERROR(store_->DropCollection(c->record));
      c->dropped = true;
      collections_.erase(it);
    }
    std::lock_guard<std::mutex> maintenance(maintenance_mu_);
    for (const auto& s : c->spaces) RemoveIndexFiles(c->record.id, s->number, 0);
    return Status::OK();
  }

  Status GetCollection(const std::string& name, CollectionConfig* config) override {
    std::shared_ptr<Collection> c;
    RECO_RETURN_IF_ERROR(Find(name, &c));
    *config = c->config;
    return Status::OK();
  }

  Status ListCollections(std::vector<CollectionConfig>* out) override {
    std::shared_lock<std::shared_mutex> lock(collections_mu_);
    out->clear();
    for (const auto& [name, c] : collections_) out->push_back(c->config);
    return Status::OK();
  }

  // ---- items ----

  Status Upsert(const std::string& collection, const std::vector<ItemInput>& items) override {
    std::shared_ptr<Collection> c;
    RECO_RETURN_IF_ERROR(Find(collection, &c));
    if (items.empty()) return Status::InvalidArgument("upsert has no items");
    if (items.size() > options_.max_batch) {
      return Status::OutOfRange("upsert has " + std::to_string(items.size()) +
                                " items; the limit is " + std::to_string(options_.max_batch));
    }
    // The embedders this request uses; a re-embed may swap a space's embedder meanwhile.
    const std::vector<std::shared_ptr<Embedder>> embedders = Embedders(*c);
    for (size_t i = 0; i < items.size(); ++i) {
      RECO_RETURN_IF_ERROR(
          ValidateItem(*c, embedders, items[i]).WithContext(ItemContext(i, items[i])));
    }

    // Resolve server-side paths and check sizes, then embed outside the collection lock: it
    // is the slow part, and needs no collection state beyond the (immutable) spaces.
    std::vector<std::vector<Content>> contents(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      for (const auto& in : items[i].contents) {
        Content content;
        RECO_RETURN_IF_ERROR(ResolveContent(in, &content).WithContext(ItemContext(i, items[i])));
        contents[i].push_back(std::move(content));
      }
    }
    std::vector<Attributes> attributes;
    for (const auto& item : items) attributes.push_back(item.attributes);
    std::vector<std::vector<float>> vectors(c->spaces.size());
    // has_vector[s][i]: item i gets a vector in plugin space s.
    std::vector<std::vector<bool>> has_vector(c->spaces.size());
    for (size_t s = 0; s < c->spaces.size(); ++s) {
      Space& space = *c->spaces[s];
      if (space.config.plugin == "none" || IsLearned(space)) continue;
      Embedder* embedder = embedders[s].get();
      if (embedder == nullptr) {
        return Status::FailedPrecondition("space " + Quote(space.config.name) +
                                          " cannot embed: " + space.embedder_error);
      }
      std::vector<reco_input> inputs;
      std::vector<size_t> owners;
      has_vector[s].assign(items.size(), false);
      for (size_t i = 0; i < items.size(); ++i) {
        reco_input input;
        if (!PickInput(*embedder, items[i].text, contents[i], &input)) continue;
        inputs.push_back(input);
        owners.push_back(i);
        has_vector[s][i] = true;
      }
      std::vector<float> packed;
      Status st = embedder->Embed(inputs, options_.embed_batch_size, &packed);
      if (!st.ok()) return st.WithContext("space " + Quote(space.config.name));
      const uint32_t d = embedder->dim();
      vectors[s].assign(items.size() * d, 0.0f);
      for (size_t j = 0; j < owners.size(); ++j) {
        std::copy(packed.begin() + j * d, packed.begin() + (j + 1) * d,
                  vectors[s].begin() + owners[j] * d);
        if (embedder->CanDescribe()) {
          // The plugin's searchable metadata (e.g. a DICOM header) joins the attributes; what
          // the user sent wins.
          std::string json;
          st = embedder->Describe(inputs[j], &json);
          if (st.ok()) st = MergeDescribed(json, &attributes[owners[j]]);
          if (!st.ok()) {
            return st.WithContext(ItemContext(owners[j], items[owners[j]]) + " space " +
                                  Quote(space.config.name));
          }
        }
      }
    }
    for (size_t i = 0; i < items.size(); ++i) {
      bool any = false;
      for (size_t s = 0; s < c->spaces.size(); ++s) {
        const Space& space = *c->spaces[s];
        if (IsLearned(space)) continue;
        any |= space.config.plugin == "none" ? items[i].vectors.count(space.config.name) > 0
                                             : bool(has_vector[s][i]);
      }
      if (!any) {
        return Status::InvalidArgument(ItemContext(i, items[i]) +
                                       ": nothing to embed in any space (" + SpaceNeeds(*c) + ")");
      }
    }

    std::unique_lock<std::shared_mutex> lock(c->mu);
    if (c->dropped) return NotFoundCollection(collection);
    for (size_t s = 0; s < c->spaces.size(); ++s) {
      if (c->spaces[s]->embedder != embedders[s]) {
        return Status::Unavailable("space " + Quote(c->spaces[s]->config.name) +
                                   " switched to a re-embedded model during this request; retry");
      }
    }
    {
      std::vector<const Attributes*> attrs;
      for (const auto& a : attributes) attrs.push_back(&a);
      RECO_RETURN_IF_ERROR(c->attributes.CheckBatch(attrs));
    }
    const int64_t now = NowMs();
    uint64_t next_id = c->next_item_id;
    std::vector<storage::ItemWrite> writes(items.size());
    std::unordered_map<std::string, size_t> batch_pos;        // id -> its first write in the batch
    std::unordered_map<uint64_t, Attributes> old_attributes;  // items replaced
    for (size_t i = 0; i < items.size(); ++i) {
      const ItemInput& in = items[i];
      storage::ItemWrite& w = writes[i];
      w.item.id = in.id;
      w.item.text = in.text;
      w.item.attributes = attributes[i];
      w.contents = std::move(contents[i]);
      w.item.created_ms = now;
      w.item.updated_ms = now;
      auto dup = batch_pos.find(in.id);
      if (dup != batch_pos.end()) {
        w.item.internal_id = writes[dup->second].item.internal_id;
        w.item.created_ms = writes[dup->second].item.created_ms;
        // The earlier write of this id in the batch put its contents first.
        w.previous_contents =
            std::max<uint32_t>(writes[dup->second].previous_contents,
                               static_cast<uint32_t>(writes[dup->second].contents.size()));
      } else {
        uint64_t iid = 0;
        Status st = store_->LookupId(c->record.id, in.id, &iid);
        if (st.ok()) {
          Item old;
          RECO_RETURN_IF_ERROR(
              store_->GetItem(c->record.id, iid, &old).WithContext(ItemContext(i, in)));
          w.item.created_ms = old.created_ms;
          old_attributes[iid] = std::move(old.attributes);
        } else if (st.IsNotFound()) {
          iid = next_id++;
        } else {
          return st.WithContext(ItemContext(i, in));
        }
        w.item.internal_id = iid;
        batch_pos[in.id] = i;
      }
      for (size_t s = 0; s < c->spaces.size(); ++s) {
        const Space& space = *c->spaces[s];
        if (IsLearned(space)) continue;  // training owns its vectors: keep them
        storage::VectorRecord v;
        v.space = space.storage;
        if (space.config.plugin == "none") {
          auto it = in.vectors.find(space.config.name);
          if (it == in.vectors.end()) {
            w.clear_spaces.push_back(space.storage);
            continue;
          }
          v.provenance.plugin = "none";
          v.values = it->second;
        } else {
          if (!has_vector[s][i]) {
            w.clear_spaces.push_back(space.storage);
            continue;
          }
          v.provenance = embedders[s]->provenance();
          const uint32_t d = space.config.dim;
          v.values.assign(vectors[s].begin() + i * d, vectors[s].begin() + (i + 1) * d);
        }
        w.vectors.push_back(std::move(v));
      }
    }
    storage::Counters counters{next_id, c->change_seq + 1};
    RECO_RETURN_IF_ERROR(store_->WriteItems(c->record.id, writes, counters));
    c->next_item_id = next_id;
    c->change_seq = counters.change_seq;

    // Storage is the truth; bring the in-memory state in line with it. The last write of an
    // id within the batch is the one that counts.
    std::unordered_map<uint64_t, const storage::ItemWrite*> final_write;
    for (const auto& w : writes) final_write[w.item.internal_id] = &w;
    Status index_status;
    for (size_t s = 0; s < c->spaces.size(); ++s) {
      Space& space = *c->spaces[s];
      if (IsLearned(space)) continue;
      std::vector<uint64_t> add_ids, remove_ids;
      std::vector<float> add_values;
      for (const auto& [iid, w] : final_write) {
        bool has = false;
        for (const auto& v : w->vectors) {
          if (v.space == space.storage) {
            add_ids.push_back(iid);
            add_values.insert(add_values.end(), v.values.begin(), v.values.end());
            has = true;
          }
        }
        if (!has) remove_ids.push_back(iid);
      }
      Status st = space.index->Remove(remove_ids.data(), remove_ids.size());
      if (st.ok()) st = space.index->Add(add_ids.data(), add_values.data(), add_ids.size());
      if (!st.ok() && index_status.ok()) {
        index_status = st.WithContext("space " + Quote(space.config.name));
      }
    }
    for (const auto& [iid, w] : final_write) {
      auto old = old_attributes.find(iid);
      if (old != old_attributes.end()) c->attributes.Erase(iid, old->second);
      c->attributes.Insert(iid, w->item.attributes);
      c->external_ids[iid] = w->item.id;
    }
    if (!index_status.ok()) {
      // The write is durable; only the in-memory index lags until the next restart.
      return Status::Internal("items were stored but the index update failed (" +
                              index_status.message() + "); restart recod to rebuild it");
    }
    return Status::OK();
  }

  Status Get(const std::string& collection, const std::string& id, bool with_vectors,
             ItemView* out) override {
    std::shared_ptr<Collection> c;
    RECO_RETURN_IF_ERROR(Find(collection, &c));
    std::shared_lock<std::shared_mutex> lock(c->mu);
    uint64_t iid = 0;
    RECO_RETURN_IF_ERROR(LookupItem(*c, id, &iid));
    RECO_RETURN_IF_ERROR(store_->GetItem(c->record.id, iid, &out->item));
    out->vectors.clear();
    out->contents.clear();
    if (out->item.contents > 0) {
      std::vector<Content> contents;
      RECO_RETURN_IF_ERROR(store_->GetContents(c->record.id, iid, &contents));
      for (const auto& content : contents) {
        out->contents.push_back({content.content_type, content.data.size()});
      }
    }
    for (const auto& space : c->spaces) {
      storage::VectorRecord v;
      Status st = store_->GetVector(c->record.id, space->storage, iid, &v);
      if (st.IsNotFound()) continue;
      RECO_RETURN_IF_ERROR(st);
      ItemView::SpaceVector sv;
      sv.space = space->config.name;
      sv.provenance = v.provenance;
      if (with_vectors) sv.values = std::move(v.values);
      out->vectors.push_back(std::move(sv));
    }
    return Status::OK();
  }

  Status Delete(const std::string& collection, const std::string& id) override {
    std::shared_ptr<Collection> c;
    RECO_RETURN_IF_ERROR(Find(collection, &c));
    std::unique_lock<std::shared_mutex> lock(c->mu);
    if (c->dropped) return NotFoundCollection(collection);
    uint64_t iid = 0;
    RECO_RETURN_IF_ERROR(LookupItem(*c, id, &iid));
    Item old;
    RECO_RETURN_IF_ERROR(store_->GetItem(c->record.id, iid, &old));
    std::vector<uint32_t> spaces;
    for (const auto& s : c->spaces) spaces.push_back(s->storage);
    storage::Counters counters{c->next_item_id, c->change_seq + 1};
    RECO_RETURN_IF_ERROR(store_->DeleteItem(c->record.id, id, iid, spaces, old.contents, counters));
    c->change_seq = counters.change_seq;
    for (const auto& s : c->spaces) RECO_RETURN_IF_ERROR(s->index->Remove(&iid, 1));
    c->attributes.Erase(iid, old.attributes);
    c->external_ids.erase(iid);
    return Status::OK();
  }

  // ---- queries ----

  Status Search(const Query& q, std::vector<Hit>* hits) override {
    hits->clear();
    std::shared_ptr<Collection> c;
    RECO_RETURN_IF_ERROR(Find(q.collection, &c));
    if (q.k == 0 || q.k > options_.max_k) {
      return Status::OutOfRange("k = " + std::to_string(q.k) + " is outside 1.." +
                                std::to_string(options_.max_k));
    }
    if (q.ef > kMaxEf) {
      return Status::OutOfRange("ef = " + std::to_string(q.ef) + " is outside 0.." +
                                std::to_string(kMaxEf));
    }
    if (q.nprobe > kMaxNprobe) {
      return Status::OutOfRange("nprobe = " + std::to_string(q.nprobe) + " is outside 0.." +
                                std::to_string(kMaxNprobe));
    }
    const Space* space = c->FindSpace(q.space);
    if (space == nullptr) {
      return Status::NotFound("space " + Quote(q.space) + " does not exist in collection " +
                              Quote(q.collection) + " (spaces: " + c->SpaceNames() + ")");
    }
    const int given =
        q.item_id.has_value() + q.text.has_value() + q.vector.has_value() + q.content.has_value();
    if (given != 1) {
      return Status::InvalidArgument(
          "a query needs exactly one of item id, text, vector or content");
    }
    std::shared_ptr<const filter::Expr> expr;
    if (!q.filter.empty()) RECO_RETURN_IF_ERROR(filter::Parse(q.filter, &expr));
    std::shared_ptr<Embedder> embedder;
    uint32_t dim;
    {
      std::shared_lock<std::shared_mutex> lock(c->mu);
      embedder = space->embedder;
      dim = space->config.dim;
    }
    std::vector<float> query;
    if (q.text) {
      if (!embedder) {
        return Status::InvalidArgument(
            "space " + Quote(space->config.name) +
            (space->config.plugin == "none"
                 ? " takes vectors only (plugin 'none'); search it by vector"
                 : " cannot embed: " + space->embedder_error));
      }
      RECO_RETURN_IF_ERROR(ValidateText(*q.text).WithContext("query text"));
      std::vector<const std::string*> texts{&*q.text};
      RECO_RETURN_IF_ERROR(embedder->EmbedTexts(texts, 1, &query));
    } else if (q.vector) {
      RECO_RETURN_IF_ERROR(
          CheckVector(*q.vector, dim, space->config.name).WithContext("query vector"));
      query = *q.vector;
    } else if (q.content) {
      if (!embedder) {
        return Status::InvalidArgument("space " + Quote(space->config.name) +
                                       " cannot embed content (plugin " +
                                       Quote(space->config.plugin) + ")");
      }
      Content content;
      RECO_RETURN_IF_ERROR(ResolveContent(*q.content, &content).WithContext("query content"));
      if (!embedder->Accepts(content.content_type)) {
        return Status::InvalidArgument("space " + Quote(space->config.name) + "'s plugin " +
                                       Quote(space->config.plugin) + " does not take " +
                                       content.content_type);
      }
      reco_input input{content.content_type.c_str(),
                       reinterpret_cast<const uint8_t*>(content.data.data()), content.data.size()};
      RECO_RETURN_IF_ERROR(embedder->Embed({input}, 1, &query));
    }

    std::shared_lock<std::shared_mutex> lock(c->mu);
    if ((q.text || q.content) && space->embedder != embedder) {
      return Status::Unavailable("space " + Quote(space->config.name) +
                                 " switched to a re-embedded model during this query; retry");
    }
    filter::IdSet matching;
    std::unique_ptr<IdSetFilter> id_filter;
    if (expr) {
      RECO_RETURN_IF_ERROR(c->attributes.Evaluate(*expr, &matching));
      if (matching.empty()) return Status::OK();  // nothing matches: an empty answer
      id_filter = std::make_unique<IdSetFilter>(matching);
    }
    uint64_t self = 0;
    bool exclude_self = false;
    if (q.item_id) {
      RECO_RETURN_IF_ERROR(LookupItem(*c, *q.item_id, &self));
      storage::VectorRecord v;
      Status st = store_->GetVector(c->record.id, space->storage, self, &v);
      if (st.IsNotFound()) {
        return Status::NotFound("item " + Quote(*q.item_id) + " has no vector in space " +
                                Quote(space->config.name));
      }
      RECO_RETURN_IF_ERROR(st);
      query = std::move(v.values);
      exclude_self = true;
    }
    index::SearchParams params;
    params.ef = q.ef;
    params.nprobe = q.nprobe;
    std::vector<index::Neighbor> found;
    RECO_RETURN_IF_ERROR(space->index->Search(query.data(), q.k + (exclude_self ? 1 : 0), params,
                                              id_filter.get(), &found));
    for (const auto& n : found) {
      if (exclude_self && n.id == self) continue;
      if (hits->size() == q.k) break;
      auto it = c->external_ids.find(n.id);
      if (it == c->external_ids.end()) continue;  // cannot happen: index mirrors storage
      hits->push_back(Hit{it->second, n.score});
    }
    return Status::OK();
  }

  Status Stats(const std::string& collection, CollectionStats* out) override {
    std::shared_ptr<Collection> c;
    RECO_RETURN_IF_ERROR(Find(collection, &c));
    std::shared_lock<std::shared_mutex> lock(c->mu);
    out->name = c->config.name;
    out->items = c->external_ids.size();
    out->attribute_index_bytes = c->attributes.MemoryBytes();
    out->change_seq = c->change_seq;
    out->disk_bytes = store_->DiskUsage() + IndexFileBytes();
    out->spaces.clear();
    for (const auto& s : c->spaces) {
      index::IndexStats is = s->index->Stats();
      SpaceStats ss;
      ss.name = s->config.name;
      ss.plugin = s->config.plugin;
      ss.dim = s->config.dim;
      ss.metric = s->config.metric;
      ss.index = s->config.index;
      ss.vectors = is.vectors;
      ss.backend = is.backend;
      ss.trained = is.trained;
      ss.tombstones = is.tombstones;
      ss.rebuild_pending = s->index->NeedsRebuild();
      ss.memory_bytes = is.memory_bytes;
      ss.snapshot_seq = s->snapshot_seq.load();
      switch (s->reembed_state.load()) {
        case 1:
          ss.reembed_state = "running";
          break;
        case 2:
          ss.reembed_state = "failed: " + s->reembed_error;
          break;
        case 3:
          ss.reembed_state = "done";
          break;
        default:
          break;
      }
      ss.reembed_done = s->reembed_done.load();
      ss.reembed_total = s->reembed_total.load();
      if (IsLearned(*s)) {
        static const char* kTrainStates[] = {"", "running", "failed: ", "done"};
        const int state = s->train_state.load();
        ss.train_state = kTrainStates[state];
        if (state == 2) ss.train_state += s->train_error;
        ss.train_epoch = s->train_epoch.load();
        ss.train_epochs = s->train_epochs.load();
        ss.train_loss = s->train_loss.load();
        ss.trained_ms = s->trained_ms.load();
      }
      if (s->embedder) ss.fingerprint = s->embedder->provenance().fingerprint;
      out->spaces.push_back(std::move(ss));
    }
    return Status::OK();
  }

  Status Backup(const std::string& dir) override {
    std::error_code ec;
    if (dir.empty()) return Status::InvalidArgument("backup directory is empty");
    if (fs::exists(dir, ec)) {
      return Status::AlreadyExists("backup directory '" + dir + "' already exists");
    }
    std::lock_guard<std::mutex> maintenance(maintenance_mu_);
    fs::create_directories(IndexDir(dir), ec);
    if (ec) return Status::IOError("cannot create '" + dir + "': " + ec.message());
    // Index files first, each at its collection's current change seq; the checkpoint taken
    // after them holds every change since (trimming waits: we hold the maintenance lock).
    for (const auto& c : CollectionsSnapshot()) {
      std::shared_lock<std::shared_mutex> lock(c->mu);
      if (c->dropped) continue;
      for (const auto& s : c->spaces) {
        RECO_RETURN_IF_ERROR(WriteIndexFile(dir, *c, *s, c->change_seq));
      }
    }
    return store_->Checkpoint(DbDir(dir));
  }

  Status Flush() override {
    std::lock_guard<std::mutex> maintenance(maintenance_mu_);
    for (const auto& c : CollectionsSnapshot()) RECO_RETURN_IF_ERROR(SnapshotCollection(c.get()));
    return Status::OK();
  }

  std::vector<PluginInfo> Plugins() const override { return plugins_.plugins(); }
  std::vector<std::pair<std::string, std::string>> RefusedPlugins() const override {
    return plugins_.refused();
  }
  const EngineOptions& options() const override { return options_; }

 private:
  static std::string DbDir(const std::string& data) { return data + "/db"; }
  static std::string IndexDir(const std::string& data) { return data + "/indexes"; }
  static std::string IndexFileName(uint32_t collection, uint32_t space, uint64_t seq) {
    return "c" + std::to_string(collection) + "-s" + std::to_string(space) + "-" +
           std::to_string(seq) + ".idx";
  }
  // Parses "c<coll>-s<space>-<seq>.idx".
  static bool ParseIndexFileName(const std::string& name, uint32_t* c, uint32_t* s, uint64_t* seq) {
    unsigned cc, ss;
    unsigned long long q;
    int used = 0;
    if (std::sscanf(name.c_str(), "c%u-s%u-%llu.idx%n", &cc, &ss, &q, &used) != 3 ||
        static_cast<size_t>(used) != name.size()) {
      return false;
    }
    *c = cc;
    *s = ss;
    *seq = q;
    return true;
  }

  static std::string ItemContext(size_t i, const ItemInput& in) {
    return "item " + std::to_string(i) + " (id " + Quote(in.id.substr(0, 64)) + ")";
  }

  Status Find(const std::string& name, std::shared_ptr<Collection>* out) {
    std::shared_lock<std::shared_mutex> lock(collections_mu_);
    auto it = collections_.find(name);
    if (it == collections_.end()) return NotFoundCollection(name);
    *out = it->second;
    return Status::OK();
  }

  std::vector<std::shared_ptr<Collection>> CollectionsSnapshot() {
    std::shared_lock<std::shared_mutex> lock(collections_mu_);
    std::vector<std::shared_ptr<Collection>> out;
    for (const auto& [name, c] : collections_) out.push_back(c);
    return out;
  }

  std::vector<std::shared_ptr<Embedder>> Embedders(const Collection& c) {
    std::shared_lock<std::shared_mutex> lock(c.mu);
    std::vector<std::shared_ptr<Embedder>> out;
    for (const auto& s : c.spaces) out.push_back(s->embedder);
    return out;
  }

  // Vectors of storage ids no space uses: what a re-embed cut short by a crash left behind.
  Status DropOrphanVectors(const Collection& c) {
    for (uint32_t id = 0; id < c.layout.next_storage; ++id) {
      bool used = false;
      for (const auto& s : c.spaces) used |= s->storage == id;
      used |= id != 0 && c.layout.item_model == id;
      if (!used) {
        RECO_RETURN_IF_ERROR(store_->DropSpaceVectors(c.record.id, id));
        RECO_RETURN_IF_ERROR(store_->DropSpaceVectors(c.record.id, id | kUserVectors));
      }
    }
    return Status::OK();
  }

  // ---- events ----

  static Status ValidateEventConfig(const CollectionConfig& config) {
    if (config.event_types.size() > 64) {
      return Status::InvalidArgument("at most 64 event types");
    }
    std::set<std::string> names;
    for (const auto& t : config.event_types) {
      if (t.name.empty() || t.name.size() > 64 ||
          t.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos) {
        return Status::InvalidArgument("event type '" + t.name + "' must match [a-z0-9_-]{1,64}");
      }
      if (!(t.weight > 0) || !std::isfinite(t.weight)) {
        return Status::InvalidArgument("event type '" + t.name + "' needs a weight > 0");
      }
      if (!names.insert(t.name).second) {
        return Status::InvalidArgument("event type '" + t.name + "' is declared twice");
      }
    }
    if (config.unknown_items != "reject" && config.unknown_items != "create") {
      return Status::InvalidArgument("unknown_items must be 'reject' or 'create', not '" +
                                     config.unknown_items + "'");
    }
    for (const auto* list : {&config.click_types, &config.conversion_types}) {
      for (const auto& t : *list) {
        if (!names.count(t)) {
          return Status::InvalidArgument(
              std::string(list == &config.click_types ? "click" : "conversion") + " type '" + t +
              "' is not an event type of the collection");
        }
      }
    }
    if (config.retrain_epochs == 0 || config.retrain_epochs > 10000) {
      return Status::InvalidArgument("retrain_epochs must be 1..10000");
    }
    for (uint32_t hours : {config.click_window_hours, config.conversion_window_hours}) {
      if (hours == 0 || hours > 24 * 365) {
        return Status::InvalidArgument("attribution windows must be 1..8760 hours");
      }
    }
    return Status::OK();
  }

  static void IndexEventTypes(Collection* c) {
    c->event_type_index.clear();
    for (size_t i = 0; i < c->config.event_types.size(); ++i) {
      c->event_type_index[c->config.event_types[i].name] = static_cast<uint8_t>(i);
    }
    auto pick = [&](const std::vector<std::string>& names, const char* fallback,
                    std::set<uint8_t>* out) {
      out->clear();
      if (names.empty()) {
        auto it = c->event_type_index.find(fallback);
        if (it != c->event_type_index.end()) out->insert(it->second);
      }
      for (const auto& n : names) {
        auto it = c->event_type_index.find(n);
        if (it != c->event_type_index.end()) out->insert(it->second);
      }
    };
    pick(c->config.click_types, "click", &c->click_types);
    pick(c->config.conversion_types, "purchase", &c->conversion_types);
  }

  Status AddEvents(const std::string& collection, const std::vector<EventInput>& events,
                   EventsResult* result) override {
    *result = EventsResult();
    std::shared_ptr<Collection> c;
    RECO_RETURN_IF_ERROR(Find(collection, &c));
    if (events.empty()) return Status::InvalidArgument("no events");
    if (events.size() > options_.max_batch * 10) {
      return Status::OutOfRange("a batch holds at most " + std::to_string(options_.max_batch * 10) +
                                " events");
    }
    const int64_t now = NowMs();
    std::vector<storage::EventRecord> records(events.size());
    std::vector<uint64_t> requests(events.size(), 0);
    for (size_t i = 0; i < events.size(); ++i) {
      const EventInput& e = events[i];
      const std::string ctx = "event " + std::to_string(i);
      if (!e.request_id.empty() && !FeedbackLog::ParseRequestId(e.request_id, &requests[i])) {
        return Status::InvalidArgument(ctx + ": request id '" + e.request_id +
                                       "' is not one a recommendation returned (16 hex digits)");
      }
      if (e.user.empty() || e.user.size() > kMaxIdBytes) {
        return Status::InvalidArgument(ctx + ": user id must have 1.." +
                                       std::to_string(kMaxIdBytes) + " bytes");
      }
      if (e.item.empty()) return Status::InvalidArgument(ctx + ": item id is empty");
      auto type = c->event_type_index.find(e.type);
      if (type == c->event_type_index.end()) {
        return Status::InvalidArgument(ctx + ": unknown event type '" + e.type +
                                       "' (types: " + EventTypeNames(*c) + ")");
      }
      if (!std::isfinite(e.value)) return Status::InvalidArgument(ctx + ": value is not finite");
      const int64_t t = e.time_ms == 0 ? now : e.time_ms;
      if (t > now + 86400000) {
        return Status::InvalidArgument(ctx + ": time " + std::to_string(t) +
                                       " ms is more than a day in the future");
      }
      if (t < 0) return Status::InvalidArgument(ctx + ": time is before 1970");
      records[i].type = type->second;
      records[i].value = static_cast<float>(e.value);
      records[i].time_ms = t;
    }
    // Items: known ids, or placeholders when the collection creates them.
    std::unordered_map<std::string, uint64_t> item_ids;
    std::vector<std::string> unknown;
    {
      std::shared_lock<std::shared_mutex> lock(c->mu);
      for (const auto& e : events) {
        if (item_ids.count(e.item)) continue;
        uint64_t iid;
        Status st = store_->LookupId(c->record.id, e.item, &iid);
        if (st.ok()) {
          item_ids[e.item] = iid;
        } else if (st.IsNotFound()) {
          item_ids[e.item] = 0;
          unknown.push_back(e.item);
        } else {
          return st;
        }
      }
    }
    if (!unknown.empty()) {
      if (c->config.unknown_items != "create") {
        return Status::NotFound(
            "item '" + unknown[0] + "' does not exist in collection " + Quote(collection) +
            (unknown.size() > 1
                 ? " (and " + std::to_string(unknown.size() - 1) + " more unknown items)"
                 : "") +
            "; no event was stored");
      }
      RECO_RETURN_IF_ERROR(CreatePlaceholders(c.get(), unknown, &item_ids));
      result->placeholders = unknown.size();
    }
    std::lock_guard<std::mutex> users(c->users_mu);
    std::vector<std::pair<std::string, uint64_t>> new_users;
    std::unordered_map<std::string, uint64_t> user_ids;
    uint64_t next = c->next_user_id;
    for (size_t i = 0; i < events.size(); ++i) {
      auto it = user_ids.find(events[i].user);
      if (it == user_ids.end()) {
        uint64_t uid;
        Status st = store_->LookupUser(c->record.id, events[i].user, &uid);
        if (st.IsNotFound()) {
          uid = next++;
          new_users.emplace_back(events[i].user, uid);
        } else if (!st.ok()) {
          return st;
        }
        it = user_ids.emplace(events[i].user, uid).first;
      }
      records[i].user = it->second;
      records[i].item = item_ids.at(events[i].item);
    }
    std::vector<storage::AttributionRecord> attributions;
    if (!c->click_types.empty() || !c->conversion_types.empty()) {
      RECO_RETURN_IF_ERROR(feedback_->Attribute(*c, records, requests, &attributions));
    }
    RECO_RETURN_IF_ERROR(
        store_->WriteEventsAttributed(c->record.id, new_users, next, records, attributions));
    c->next_user_id = next;
    c->events_since_train += records.size();
    result->accepted = records.size();
    result->attributed = attributions.size();
    return Status::OK();
  }

  Status CreatePlaceholders(Collection* c, const std::vector<std::string>& ids,
                            std::unordered_map<std::string, uint64_t>* item_ids) {
    std::unique_lock<std::shared_mutex> lock(c->mu);
    if (c->dropped) return NotFoundCollection(c->config.name);
    uint64_t next_id = c->next_item_id;
    std::vector<storage::ItemWrite> writes;
    const int64_t now = NowMs();
    for (const auto& id : ids) {
      uint64_t iid;
      if (store_->LookupId(c->record.id, id, &iid).ok()) {  // made meanwhile
        (*item_ids)[id] = iid;
        continue;
      }
      if (id.size() > kMaxIdBytes) return Status::InvalidArgument("item id is too long");
      storage::ItemWrite w;
      w.item.id = id;
      w.item.internal_id = next_id++;
      w.item.attributes["placeholder"] = true;
      w.item.created_ms = w.item.updated_ms = now;
      for (const auto& s : c->spaces) w.clear_spaces.push_back(s->storage);
      writes.push_back(std::move(w));
    }
    if (writes.empty()) return Status::OK();
    RECO_RETURN_IF_ERROR(c->attributes.CheckBatch({&writes[0].item.attributes}));
    storage::Counters counters{next_id, c->change_seq + 1};
    RECO_RETURN_IF_ERROR(store_->WriteItems(c->record.id, writes, counters));
    c->next_item_id = next_id;
    c->change_seq = counters.change_seq;
    for (const auto& w : writes) {
      c->attributes.Insert(w.item.internal_id, w.item.attributes);
      c->external_ids[w.item.internal_id] = w.item.id;
      (*item_ids)[w.item.id] = w.item.internal_id;
    }
    return Status::OK();
  }

  // ---- recommendations ----

  struct HistoryEntry {
    uint64_t item;
    double weight;
    uint8_t type;
  };

  // A user's recent events as weighted items: type weight x (rating value) x recency decay,
  // summed per item.
  Status UserHistory(const Collection& c, uint64_t uid, uint32_t limit, double half_life_days,
                     std::vector<HistoryEntry>* out, std::unordered_set<uint64_t>* seen,
                     const std::set<uint8_t>& seen_types) {
    out->clear();
    int64_t newest = 0;
    std::unordered_map<uint64_t, HistoryEntry> by_item;
    std::vector<uint64_t> order;
    uint32_t taken = 0;
    RECO_RETURN_IF_ERROR(
        store_->ScanUserEvents(c.record.id, uid, [&](const storage::EventRecord& e) {
          if (seen_types.empty() || seen_types.count(e.type)) seen->insert(e.item);
          if (taken >= limit) return true;  // keep scanning: older events still count as seen
          ++taken;
          if (newest == 0) newest = e.time_ms;
          const EventType& t =
              c.config.event_types[std::min<size_t>(e.type, c.config.event_types.size() - 1)];
          double w = t.weight * (t.name == "rating" ? e.value : 1.0);
          double age_days = double(newest - e.time_ms) / 86400000.0;
          w *= std::pow(0.5, age_days / std::max(half_life_days, 1e-3));
          auto [it, fresh] = by_item.try_emplace(e.item, HistoryEntry{e.item, 0, e.type});
          it->second.weight += w;
          if (fresh) order.push_back(e.item);
          return true;
        }));
    for (uint64_t item : order) out->push_back(by_item[item]);
    return Status::OK();
  }

  // Σ weight · vector, normalised, from stored vectors of a space. False when none exists.
  bool Profile(const Collection& c, const Space& space, const std::vector<HistoryEntry>& history,
               std::vector<float>* out) {
    out->assign(space.config.dim, 0.0f);
    bool any = false;
    for (const auto& h : history) {
      storage::VectorRecord v;
      if (!store_->GetVector(c.record.id, space.storage, h.item, &v).ok()) continue;
      if (v.values.size() != out->size()) continue;
      double norm = 0;
      for (float x : v.values) norm += double(x) * x;
      norm = norm > 0 ? std::sqrt(norm) : 1;
      for (size_t d = 0; d < out->size(); ++d) (*out)[d] += float(h.weight * v.values[d] / norm);
      any = true;
    }
    return any;
  }

  using Engine::Recommend;

  Status Recommend(const RecommendQuery& q, RecommendResult* out) override {
    *out = RecommendResult();
    if (q.variant.size() > 64 ||
        q.variant.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    "0123456789_.:-") != std::string::npos) {
      return Status::InvalidArgument("variant '" + q.variant +
                                     "' must be at most 64 of [A-Za-z0-9_.:-]");
    }
    std::shared_ptr<Collection> c;
    std::vector<uint64_t> iids;
    RECO_RETURN_IF_ERROR(Rank(q, &c, &out->items, &iids));
    if (!q.log || q.user.empty() || iids.empty()) return Status::OK();
    out->variant = q.variant.empty() ? out->items.front().source : q.variant;
    Status st = feedback_->LogImpression(c.get(), q.user, out->variant, iids, &out->request_id);
    if (!st.ok()) {
      // The answer stands; only its feedback cannot be counted.
      Warn("logging a recommendation for user '" + q.user + "': " + st.message());
      out->variant.clear();
    }
    return Status::OK();
  }

  // Ranks items for a query; `iids` are the internal ids of `out`, in order.
  Status Rank(const RecommendQuery& q, std::shared_ptr<Collection>* found,
              std::vector<Recommendation>* out, std::vector<uint64_t>* iids) {
    out->clear();
    iids->clear();
    RECO_RETURN_IF_ERROR(Find(q.collection, found));
    std::shared_ptr<Collection> c = *found;
    if (q.k == 0 || q.k > options_.max_k) {
      return Status::OutOfRange("k = " + std::to_string(q.k) + " is outside 1.." +
                                std::to_string(options_.max_k));
    }
    if (q.user.empty() && q.positive.empty()) {
      return Status::InvalidArgument("recommend needs a user or positive example items");
    }
    if (q.mmr_lambda < 0 || q.mmr_lambda > 1 || q.popularity_weight < 0 ||
        q.popularity_weight > 1 || q.freshness_weight < 0 || q.freshness_weight > 1) {
      return Status::OutOfRange("mmr_lambda, popularity_weight and freshness_weight are 0..1");
    }
    if (q.strategy != "average" && q.strategy != "best") {
      return Status::InvalidArgument("strategy must be 'average' or 'best'");
    }
    std::shared_ptr<const filter::Expr> expr;
    if (!q.filter.empty()) RECO_RETURN_IF_ERROR(filter::Parse(q.filter, &expr));
    std::set<uint8_t> seen_types;
    for (const auto& t : q.seen_types) {
      auto it = c->event_type_index.find(t);
      if (it == c->event_type_index.end()) {
        return Status::InvalidArgument("unknown event type '" + t +
                                       "' in seen_types (types: " + EventTypeNames(*c) + ")");
      }
      seen_types.insert(it->second);
    }

    std::shared_lock<std::shared_mutex> lock(c->mu);
    // Which spaces, with what weights.
    std::vector<std::pair<const Space*, double>> spaces;
    if (q.spaces.empty()) {
      for (const auto& s : c->spaces) spaces.emplace_back(s.get(), 1.0);
    } else {
      for (const auto& [name, weight] : q.spaces) {
        const Space* s = name.empty() ? nullptr : c->FindSpace(name);
        if (s == nullptr) {
          return Status::NotFound("space " + Quote(name) + " does not exist in collection " +
                                  Quote(q.collection) + " (spaces: " + c->SpaceNames() + ")");
        }
        if (!(weight >= 0)) return Status::InvalidArgument("space weights must be >= 0");
        spaces.emplace_back(s, weight);
      }
    }
    filter::IdSet matching;
    std::unique_ptr<IdSetFilter> id_filter;
    if (expr) {
      RECO_RETURN_IF_ERROR(c->attributes.Evaluate(*expr, &matching));
      if (matching.empty()) return Status::OK();
      id_filter = std::make_unique<IdSetFilter>(matching);
    }

    const bool item_model = q.model == "ease";
    if (!q.model.empty() && !item_model) {
      return Status::InvalidArgument("unknown model '" + q.model +
                                     "' (ease, or none for the spaces)");
    }
    if (item_model && c->layout.item_model == 0) {
      return Status::FailedPrecondition("collection " + Quote(q.collection) +
                                        " has no item model yet (recoctl train " + q.collection +
                                        " --model ease)");
    }
    // The profile: a user's history, or the examples.
    std::vector<HistoryEntry> history, negatives;
    std::unordered_set<uint64_t> excluded;
    std::string source = "profile";
    uint64_t uid = 0;
    bool known_user = false;
    if (!q.user.empty()) {
      Status st = store_->LookupUser(c->record.id, q.user, &uid);
      known_user = st.ok();
      if (st.ok()) {
        std::unordered_set<uint64_t> seen;
        RECO_RETURN_IF_ERROR(UserHistory(*c, uid, item_model ? kItemModelHistory : q.history,
                                         q.half_life_days, &history, &seen, seen_types));
        if (q.exclude_seen) excluded.insert(seen.begin(), seen.end());
      } else if (!st.IsNotFound()) {
        return st;
      }
    }
    if (!q.positive.empty() || !q.negative.empty()) source = q.user.empty() ? "examples" : source;
    for (const auto* list : {&q.positive, &q.negative}) {
      for (const auto& id : *list) {
        uint64_t iid;
        if (!store_->LookupId(c->record.id, id, &iid).ok()) continue;  // skipped, not fatal
        (list == &q.positive ? history : negatives).push_back({iid, 1.0, 0});
        excluded.insert(iid);
      }
    }
    for (const auto& id : q.exclude) {
      uint64_t iid;
      if (store_->LookupId(c->record.id, id, &iid).ok()) excluded.insert(iid);
    }

    const size_t want = q.k;
    // Candidates per space: enough to blend spaces, popularity and MMR over; the excluded
    // items are skipped inside the index.
    const size_t fetch = std::min<size_t>(options_.max_k, want * 3 + 10);
    ExcludingFilter allowed(id_filter.get(), excluded, c->external_ids);
    const index::IdFilter* search_filter =
        excluded.empty() ? static_cast<const index::IdFilter*>(id_filter.get()) : &allowed;
    std::unordered_map<uint64_t, std::map<std::string, double>> parts;
    std::unordered_map<uint64_t, double> total;
    bool used_profile = false;
    if (item_model) {
      // EASE: x_u B over the kept weights, x_u = 1 for every item of the history.
      std::unordered_map<uint64_t, double> scores;
      std::vector<std::pair<uint64_t, float>> row;
      for (const auto& h : history) {
        Status st = store_->GetItemRow(c->record.id, c->layout.item_model, h.item, &row);
        if (st.IsNotFound()) continue;  // an item newer than the model
        RECO_RETURN_IF_ERROR(st);
        for (const auto& [id, w] : row) scores[id] += w;
      }
      for (const auto& [id, score] : scores) {
        if (excluded.count(id) || (id_filter && !id_filter->Contains(id))) continue;
        if (!c->external_ids.count(id)) continue;  // deleted since the training
        parts[id]["model:" + q.model] = score;
      }
      used_profile = !history.empty();
      source = "ease";
    }
    for (const auto& [space, weight] : spaces) {
      if (item_model) break;
      if (weight == 0) continue;
      std::vector<std::vector<float>> queries;
      std::vector<std::string> labels;  // per query: "space:NAME", or "model:NAME"
      if (q.strategy == "best" && history.size() > 1) {
        for (const auto& h : history) {
          std::vector<float> v;
          if (Profile(*c, *space, {h}, &v)) queries.push_back(std::move(v));
        }
      } else {
        std::vector<float> v;
        storage::VectorRecord learned;
        if (IsLearned(*space) && known_user && q.positive.empty() &&
            store_->GetVector(c->record.id, space->storage | kUserVectors, uid, &learned).ok() &&
            learned.values.size() == space->config.dim) {
          // A user the collaborative model was trained with: its own score for each item.
          queries.push_back(std::move(learned.values));
          labels.push_back("model:" + space->config.name);
        } else if (Profile(*c, *space, history, &v)) {
          std::vector<float> neg;
          if (Profile(*c, *space, negatives, &neg)) {
            for (size_t d = 0; d < v.size(); ++d) v[d] -= 0.5f * neg[d];
          }
          queries.push_back(std::move(v));
          labels.push_back("space:" + space->config.name);
        }
      }
      for (size_t qi = 0; qi < queries.size(); ++qi) {
        const std::vector<float>& query = queries[qi];
        const std::string& label = qi < labels.size() ? labels[qi] : "space:" + space->config.name;
        std::vector<index::Neighbor> found;
        RECO_RETURN_IF_ERROR(space->index->Search(query.data(), fetch, {}, search_filter, &found));
        used_profile = true;
        for (const auto& n : found) {
          if (excluded.count(n.id)) continue;
          double& part = parts[n.id][label];
          part = std::max(part, weight * n.score);  // "best": the best example's score
        }
      }
    }
    for (auto& [iid, p] : parts) {
      double sum = 0;
      for (const auto& [name, v] : p) sum += v;
      total[iid] = sum;
    }
    if (!used_profile) {
      // Cold start: trending items (within the filter).
      source = "trending";
      std::vector<std::pair<uint64_t, double>> trending;
      RECO_RETURN_IF_ERROR(TrendingIds(*c, 14, 3, &trending));
      if (trending.empty()) {
        // Nothing recent: the most popular items of all time.
        RECO_RETURN_IF_ERROR(TrendingIds(*c, 36500, 1e9, &trending));
      }
      for (const auto& [iid, score] : trending) {
        if (excluded.count(iid) || (id_filter && !id_filter->Contains(iid))) continue;
        total[iid] = score;
        parts[iid]["trending"] = score;
      }
    }
    // Popularity and freshness blending.
    if (q.popularity_weight > 0 || q.freshness_weight > 0) {
      std::unordered_map<uint64_t, double> pop;
      if (q.popularity_weight > 0) {
        std::vector<std::pair<uint64_t, double>> counts;
        RECO_RETURN_IF_ERROR(TrendingIds(*c, 30, 1e9, &counts));
        double top = 1;
        for (const auto& [iid, n] : counts) top = std::max(top, n);
        for (const auto& [iid, n] : counts) pop[iid] = std::log1p(n) / std::log1p(top);
      }
      const int64_t now = NowMs();
      for (auto& [iid, score] : total) {
        double p = pop.count(iid) ? pop[iid] : 0.0;
        double fresh = 0;
        if (q.freshness_weight > 0) {
          Item item;
          if (store_->GetItem(c->record.id, iid, &item).ok()) {
            fresh = std::pow(0.5, double(now - item.created_ms) / (30.0 * 86400000.0));
          }
        }
        const double rest = 1 - q.popularity_weight - q.freshness_weight;
        score = std::max(rest, 0.0) * score + q.popularity_weight * p + q.freshness_weight * fresh;
        if (q.popularity_weight > 0) parts[iid]["popularity"] = p;
        if (q.freshness_weight > 0) parts[iid]["freshness"] = fresh;
      }
    }
    std::vector<std::pair<uint64_t, double>> ranked(total.begin(), total.end());
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    if (q.mmr_lambda < 1.0 && !spaces.empty() && ranked.size() > 1) {
      ranked = Mmr(*c, *spaces[0].first, ranked, want, q.mmr_lambda, &parts);
    }
    if (ranked.size() > want) ranked.resize(want);
    for (const auto& [iid, score] : ranked) {
      auto it = c->external_ids.find(iid);
      if (it == c->external_ids.end()) continue;
      Recommendation r;
      r.id = it->second;
      r.score = score;
      r.source = source;
      if (q.explain) {
        r.parts = parts[iid];
        r.because = Because(*c, spaces.empty() ? nullptr : spaces[0].first, iid, history);
      }
      out->push_back(std::move(r));
      iids->push_back(iid);
    }
    return Status::OK();
  }

  // Maximal marginal relevance over the candidates' vectors in `space`.
  std::vector<std::pair<uint64_t, double>> Mmr(
      const Collection& c, const Space& space, const std::vector<std::pair<uint64_t, double>>& in,
      size_t want, double lambda,
      std::unordered_map<uint64_t, std::map<std::string, double>>* parts) {
    const size_t n = std::min(in.size(), want * 4);
    std::vector<std::vector<float>> vecs(n);
    for (size_t i = 0; i < n; ++i) {
      storage::VectorRecord v;
      if (store_->GetVector(c.record.id, space.storage, in[i].first, &v).ok()) {
        double norm = 0;
        for (float x : v.values) norm += double(x) * x;
        norm = norm > 0 ? std::sqrt(norm) : 1;
        for (auto& x : v.values) x = float(x / norm);
        vecs[i] = std::move(v.values);
      }
    }
    std::vector<bool> used(n, false);
    std::vector<std::pair<uint64_t, double>> out;
    for (size_t round = 0; round < std::min(n, want); ++round) {
      double best = -1e300;
      size_t pick = 0;
      for (size_t i = 0; i < n; ++i) {
        if (used[i]) continue;
        double sim = 0;
        for (const auto& chosen : out) {
          size_t j = 0;
          while (in[j].first != chosen.first) ++j;
          if (vecs[i].empty() || vecs[j].empty()) continue;
          double dot = 0;
          for (size_t d = 0; d < vecs[i].size(); ++d) dot += vecs[i][d] * vecs[j][d];
          sim = std::max(sim, dot);
        }
        double value = lambda * in[i].second - (1 - lambda) * sim;
        if (value > best) {
          best = value;
          pick = i;
        }
      }
      used[pick] = true;
      (*parts)[in[pick].first]["mmr"] = best;
      out.emplace_back(in[pick].first, best);
    }
    return out;
  }

  // The history items most similar to `iid` (up to three), for explanations.
  std::vector<std::string> Because(const Collection& c, const Space* space, uint64_t iid,
                                   const std::vector<HistoryEntry>& history) {
    std::vector<std::string> out;
    if (space == nullptr || history.empty()) return out;
    storage::VectorRecord target;
    if (!store_->GetVector(c.record.id, space->storage, iid, &target).ok()) return out;
    std::vector<std::pair<double, uint64_t>> sims;
    for (const auto& h : history) {
      storage::VectorRecord v;
      if (!store_->GetVector(c.record.id, space->storage, h.item, &v).ok()) continue;
      double dot = 0;
      for (size_t d = 0; d < v.values.size() && d < target.values.size(); ++d) {
        dot += double(v.values[d]) * target.values[d];
      }
      sims.emplace_back(dot, h.item);
    }
    std::sort(sims.rbegin(), sims.rend());
    for (size_t i = 0; i < sims.size() && i < 3; ++i) {
      auto it = c.external_ids.find(sims[i].second);
      if (it != c.external_ids.end()) out.push_back(it->second);
    }
    return out;
  }

  // Time-decayed event weights per item over the last `days` days (caller holds c.mu).
  Status TrendingIds(const Collection& c, uint32_t days, double half_life_days,
                     std::vector<std::pair<uint64_t, double>>* out) {
    const int32_t today = static_cast<int32_t>(NowMs() / 86400000);
    std::unordered_map<uint64_t, double> score;
    RECO_RETURN_IF_ERROR(store_->ScanCounts(
        c.record.id, today - static_cast<int32_t>(days) + 1, today,
        [&](int32_t day, uint8_t type, uint64_t item, uint64_t count) {
          if (!c.external_ids.count(item)) return;
          double w = type < c.config.event_types.size() ? c.config.event_types[type].weight : 1;
          score[item] += w * count * std::pow(0.5, (today - day) / std::max(half_life_days, 1e-3));
        }));
    out->assign(score.begin(), score.end());
    std::sort(out->begin(), out->end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    return Status::OK();
  }

  // ---- analytics ----

  Status Feedback(const FeedbackQuery& q, FeedbackReport* out) override {
    *out = FeedbackReport();
    std::shared_ptr<Collection> c;
    RECO_RETURN_IF_ERROR(Find(q.collection, &c));
    if (q.k > options_.max_k) {
      return Status::OutOfRange("k is outside 0.." + std::to_string(options_.max_k));
    }
    std::shared_lock<std::shared_mutex> lock(c->mu);
    return feedback_->Report(*c, q, out);
  }

  Status AbTest(const AbQuery& q, AbReport* out) override {
    *out = AbReport();
    std::shared_ptr<Collection> c;
    RECO_RETURN_IF_ERROR(Find(q.collection, &c));
    std::shared_lock<std::shared_mutex> lock(c->mu);
    return feedback_->Ab(*c, q, out);
  }

  Status TopItems(const std::string& collection, const std::string& type, uint32_t days, uint32_t k,
                  std::vector<TopItem>* out) override {
    out->clear();
    std::shared_ptr<Collection> c;
    RECO_RETURN_IF_ERROR(Find(collection, &c));
    RECO_RETURN_IF_ERROR(CheckDays(days));
    if (k == 0 || k > options_.max_k)
      return Status::OutOfRange("k is outside 1.." + std::to_string(options_.max_k));
    int type_number = -1;
    if (!type.empty()) {
      auto it = c->event_type_index.find(type);
      if (it == c->event_type_index.end()) {
        return Status::InvalidArgument("unknown event type '" + type +
                                       "' (types: " + EventTypeNames(*c) + ")");
      }
      type_number = it->second;
    }
    std::shared_lock<std::shared_mutex> lock(c->mu);
    const int32_t today = static_cast<int32_t>(NowMs() / 86400000);
    std::unordered_map<uint64_t, double> counts;
    RECO_RETURN_IF_ERROR(store_->ScanCounts(c->record.id, today - static_cast<int32_t>(days) + 1,
                                            today,
                                            [&](int32_t, uint8_t t, uint64_t item, uint64_t n) {
                                              if (type_number < 0 || t == type_number)
                                                counts[item] += n;
                                            }));
    std::vector<std::pair<uint64_t, double>> ranked(counts.begin(), counts.end());
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    for (const auto& [iid, n] : ranked) {
      if (out->size() == k) break;
      auto it = c->external_ids.find(iid);
      if (it != c->external_ids.end()) out->push_back({it->second, n});
    }
    return Status::OK();
  }

  Status Trending(const std::string& collection, uint32_t days, double half_life_days, uint32_t k,
                  std::vector<TopItem>* out) override {
    out->clear();
    std::shared_ptr<Collection> c;
    RECO_RETURN_IF_ERROR(Find(collection, &c));
    RECO_RETURN_IF_ERROR(CheckDays(days));
    if (k == 0 || k > options_.max_k)
      return Status::OutOfRange("k is outside 1.." + std::to_string(options_.max_k));
    if (!(half_life_days > 0)) return Status::OutOfRange("half_life_days must be > 0");
    std::shared_lock<std::shared_mutex> lock(c->mu);
    std::vector<std::pair<uint64_t, double>> ranked;
    RECO_RETURN_IF_ERROR(TrendingIds(*c, days, half_life_days, &ranked));
    for (const auto& [iid, score] : ranked) {
      if (out->size() == k) break;
      out->push_back({c->external_ids.at(iid), score});
    }
    return Status::OK();
  }

  Status EventsPerDay(const std::string& collection, uint32_t days,
                      std::vector<DayCount>* out) override {
    out->clear();
    std::shared_ptr<Collection> c;
    RECO_RETURN_IF_ERROR(Find(collection, &c));
    if (days == 0 || days > 3660) return Status::OutOfRange("days must be 1..3660");
    const int64_t today = NowMs() / 86400000;
    const int64_t first = today - days + 1;
    std::map<int64_t, DayCount> per_day;
    std::map<int64_t, std::unordered_set<uint64_t>> users;
    RECO_RETURN_IF_ERROR(store_->ScanEvents(c->record.id, [&](const storage::EventRecord& e) {
      const int64_t day = e.time_ms / 86400000;
      if (day < first || day > today) return;
      per_day[day].events++;
      users[day].insert(e.user);
    }));
    for (int64_t d = first; d <= today; ++d) {
      DayCount dc;
      dc.day_ms = d * 86400000;
      if (per_day.count(d)) dc.events = per_day[d].events;
      if (users.count(d)) dc.users = users[d].size();
      out->push_back(dc);
    }
    return Status::OK();
  }

  // ---- collaborative models and offline evaluation ----

  // The collection's events as dense interactions (user and item numbers in order of first
  // appearance), weighted by event type (x rating value). Items must still exist.
  Status Evaluate(const EvalRequest& r, std::vector<EvalResult>* out) override {
    out->clear();
    std::shared_ptr<Collection> c;
    RECO_RETURN_IF_ERROR(Find(r.collection, &c));
    return EvaluateCollection(store_.get(), *c, r, out);
  }

  Status Train(const TrainRequest& r, TrainResult* out) override {
    *out = TrainResult();
    std::shared_ptr<Collection> c;
    RECO_RETURN_IF_ERROR(Find(r.collection, &c));
    if (r.model == "ease") return TrainItemModel(c, r, out);
    if (!r.model.empty() && r.model != "bpr") {
      return Status::InvalidArgument("unknown model '" + r.model + "' (bpr, ease)");
    }
    Space* space = nullptr;
    for (auto& s : c->spaces) {
      if (s->config.plugin == "collaborative" && (r.space.empty() || s->config.name == r.space)) {
        space = s.get();
        break;
      }
    }
    if (space == nullptr) {
      return Status::NotFound("collection " + Quote(r.collection) + " has no " +
                              (r.space.empty() ? "" : "space " + Quote(r.space) + " with ") +
                              "plugin 'collaborative' to train");
    }
    if (r.epochs == 0 || r.epochs > 10000) return Status::OutOfRange("epochs must be 1..10000");
    if (!(r.learning_rate > 0) || !(r.reg >= 0)) {
      return Status::OutOfRange("learning rate must be > 0 and reg >= 0");
    }
    int idle = 0;
    if (!space->train_state.compare_exchange_strong(idle, 1)) {
      if (space->train_state.load() == 1) {
        return Status::FailedPrecondition("space " + Quote(space->config.name) +
                                          " is being trained already");
      }
      space->train_state = 1;  // after a finished or failed run
    }
    space->train_epoch = 0;
    space->train_epochs = r.epochs;
    space->train_loss = 0;
    if (r.wait) {
      Status st = RunTrain(c.get(), space, r, out);
      FinishTrain(c.get(), space, st);
      return st;
    }
    StartJob([this, c, space, r] {
      TrainResult result;
      Status st = RunTrain(c.get(), space, r, &result);
      FinishTrain(c.get(), space, st);
    });
    return Status::OK();
  }

  // EASE on every event; its strongest weights per item become the collection's item model,
  // written under a fresh storage id and switched to at once (recommendations keep using the
  // old one meanwhile).
  Status TrainItemModel(const std::shared_ptr<Collection>& c, const TrainRequest& r,
                        TrainResult* out) {
    if (r.neighbours == 0 || r.neighbours > 10000) {
      return Status::OutOfRange("neighbours must be 1..10000");
    }
    const auto start = std::chrono::steady_clock::now();
    std::vector<recommend::Interaction> interactions;
    std::vector<uint64_t> items;
    uint32_t num_users = 0;
    {
      std::shared_lock<std::shared_mutex> lock(c->mu);
      if (c->dropped) return NotFoundCollection(r.collection);
      RECO_RETURN_IF_ERROR(
          CollectInteractions(store_.get(), *c, {}, &interactions, &items, &num_users));
    }
    if (interactions.empty()) {
      return Status::FailedPrecondition("collection " + Quote(r.collection) + " has no events");
    }
    ItemRows rows;
    RECO_RETURN_IF_ERROR(FitItemModel(interactions, items, num_users, r.neighbours, &rows)
                             .WithContext("collection " + Quote(r.collection)));
    std::lock_guard<std::mutex> maintenance(maintenance_mu_);
    uint32_t storage;
    {
      // Reserve the id first: a crash while writing leaves only orphans that a start drops.
      std::unique_lock<std::shared_mutex> lock(c->mu);
      if (c->dropped) return NotFoundCollection(r.collection);
      storage = c->layout.next_storage++;
      c->record.config = EncodeCollectionConfig(c->config, c->layout);
      RECO_RETURN_IF_ERROR(store_->UpdateCollectionConfig(c->record));
    }
    for (size_t begin = 0; begin < rows.size(); begin += 1024) {
      ItemRows part(rows.begin() + begin, rows.begin() + std::min(rows.size(), begin + 1024));
      RECO_RETURN_IF_ERROR(store_->WriteItemRows(c->record.id, storage, part));
    }
    uint32_t old = 0;
    {
      std::unique_lock<std::shared_mutex> lock(c->mu);
      if (c->dropped) return NotFoundCollection(r.collection);
      StorageLayout layout = c->layout;
      old = layout.item_model;
      layout.item_model = storage;
      storage::CollectionRecord record = c->record;
      record.config = EncodeCollectionConfig(c->config, layout);
      RECO_RETURN_IF_ERROR(store_->UpdateCollectionConfig(record));
      c->record = record;
      c->layout = layout;
    }
    if (old != 0) {
      Status st = store_->DropSpaceVectors(c->record.id, old);
      if (!st.ok()) Warn("dropping the old item model: " + st.message());
    }
    out->items = static_cast<uint32_t>(rows.size());
    out->users = num_users;
    out->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return Status::OK();
  }

  void FinishTrain(Collection* c, Space* space, const Status& st) {
    std::unique_lock<std::shared_mutex> lock(c->mu);
    if (st.ok()) {
      space->trained_ms = NowMs();
      space->train_state = 3;
    } else {
      space->train_error = st.message();
      space->train_state = 2;
      Warn("training space " + Quote(space->config.name) + " of " + Quote(c->config.name) +
           " failed: " + st.message());
    }
  }

  // Trains BPR-MF on every event (warm-started from the space's vectors when incremental) and
  // swaps the item vectors in; progress in the space's train_* fields.
  Status RunTrain(Collection* c, Space* space, const TrainRequest& r, TrainResult* out) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<recommend::Interaction> interactions;
    std::vector<uint64_t> items, users;
    uint32_t num_users = 0;
    uint32_t storage_now = 0;
    {
      std::shared_lock<std::shared_mutex> lock(c->mu);
      if (c->dropped) return NotFoundCollection(r.collection);
      RECO_RETURN_IF_ERROR(
          CollectInteractions(store_.get(), *c, {}, &interactions, &items, &num_users, &users));
      storage_now = space->storage;
    }
    const uint64_t events_seen = c->events_since_train.load();
    if (interactions.empty()) {
      return Status::FailedPrecondition("collection " + Quote(r.collection) + " has no events");
    }
    recommend::InteractionMatrix matrix;
    RECO_RETURN_IF_ERROR(recommend::InteractionMatrix::FromInteractions(
        num_users, static_cast<uint32_t>(items.size()), interactions, recommend::MatrixOptions(),
        &matrix));
    recommend::BprOptions o;
    o.dim = space->config.dim - 1;  // the item bias is the last component
    o.epochs = static_cast<int>(r.epochs);
    o.learning_rate = static_cast<float>(r.learning_rate);
    o.reg = static_cast<float>(r.reg);
    o.seed = r.seed;
    o.on_epoch = [&](const recommend::BprEpoch& e) {
      out->epochs = static_cast<uint32_t>(e.epoch);
      out->loss = e.loss;
      space->train_epoch = static_cast<uint32_t>(e.epoch);
      space->train_loss = e.loss;
      return !stopping_jobs_;
    };
    if (r.incremental) {
      // Continue from the current item vectors: items seen before keep what they learnt.
      std::unordered_map<uint64_t, uint32_t> dense;
      for (size_t i = 0; i < items.size(); ++i) dense[items[i]] = static_cast<uint32_t>(i);
      const size_t row = space->config.dim;
      o.warm_item_vectors.assign(items.size() * row, 0.0f);
      o.warm_present.assign(items.size(), 0);
      RECO_RETURN_IF_ERROR(store_->ScanVectors(
          c->record.id, storage_now, [&](uint64_t iid, const float* values, size_t dim) {
            auto it = dense.find(iid);
            if (it == dense.end() || dim != row) return;
            std::copy(values, values + dim, o.warm_item_vectors.begin() + it->second * row);
            o.warm_present[it->second] = 1;
            ++out->warm_items;
          }));
    }
    recommend::BprMf model(o);
    RECO_RETURN_IF_ERROR(model.Fit(matrix));
    if (stopping_jobs_) return Status::Unavailable("interrupted by shutdown");
    std::vector<float> vectors;
    uint32_t dim = 0;
    if (!model.ItemVectors(&vectors, &dim) || dim != space->config.dim) {
      return Status::Internal("the model's item vectors do not have the space's dim");
    }
    // Write the vectors under a fresh storage id and swap, as a re-embed does.
    std::lock_guard<std::mutex> maintenance(maintenance_mu_);
    std::unique_lock<std::shared_mutex> lock(c->mu);
    if (c->dropped) return NotFoundCollection(r.collection);
    const uint32_t storage = c->layout.next_storage++;
    index::IndexOptions io = space->index_options;
    io.train_inline = true;
    std::unique_ptr<index::VectorIndex> fresh;
    RECO_RETURN_IF_ERROR(index::VectorIndex::Create(io, &fresh));
    std::vector<std::pair<uint64_t, storage::VectorRecord>> puts;
    std::vector<uint64_t> ids;
    for (size_t i = 0; i < items.size(); ++i) {
      if (!c->external_ids.count(items[i])) continue;  // deleted since
      storage::VectorRecord v;
      v.space = storage;
      v.provenance = {"collaborative", "bpr-mf",
                      "seed=" + std::to_string(r.seed) + ",epochs=" + std::to_string(out->epochs)};
      v.values.assign(vectors.begin() + i * dim, vectors.begin() + (i + 1) * dim);
      puts.emplace_back(items[i], std::move(v));
      ids.push_back(items[i]);
    }
    RECO_RETURN_IF_ERROR(store_->WriteVectors(c->record.id, storage, puts, {}));
    // The user vectors, so that Recommend ranks a trained user's items by the model's own
    // score (user . item + bias) rather than by a profile of item vectors.
    {
      std::vector<std::pair<uint64_t, storage::VectorRecord>> user_puts;
      for (uint32_t u = 0; u < users.size(); ++u) {
        storage::VectorRecord v;
        v.space = storage | kUserVectors;
        v.provenance = puts.empty() ? VectorProvenance() : puts.front().second.provenance;
        if (!model.UserVector(u, &v.values) || v.values.size() != dim) continue;
        user_puts.emplace_back(users[u], std::move(v));
        if (user_puts.size() == 4096) {
          RECO_RETURN_IF_ERROR(
              store_->WriteVectors(c->record.id, storage | kUserVectors, user_puts, {}));
          user_puts.clear();
        }
      }
      RECO_RETURN_IF_ERROR(
          store_->WriteVectors(c->record.id, storage | kUserVectors, user_puts, {}));
    }
    std::vector<float> packed;
    for (const auto& [iid, v] : puts) packed.insert(packed.end(), v.values.begin(), v.values.end());
    RECO_RETURN_IF_ERROR(fresh->Add(ids.data(), packed.data(), ids.size()));
    RemoveIndexFiles(c->record.id, space->number, 0);
    space->snapshot_seq = 0;
    StorageLayout layout = c->layout;
    layout.storage[space->number] = storage;
    storage::CollectionRecord record = c->record;
    record.config = EncodeCollectionConfig(c->config, layout);
    RECO_RETURN_IF_ERROR(store_->UpdateCollectionConfig(record));
    const uint32_t old_storage = space->storage;
    c->record = record;
    c->layout = layout;
    space->storage = storage;
    space->index = std::move(fresh);
    Status st = store_->DropSpaceVectors(c->record.id, old_storage);
    if (st.ok()) st = store_->DropSpaceVectors(c->record.id, old_storage | kUserVectors);
    if (!st.ok()) Warn("dropping old collaborative vectors: " + st.message());
    c->events_since_train -= std::min(events_seen, c->events_since_train.load());
    out->items = static_cast<uint32_t>(ids.size());
    out->users = num_users;
    out->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return Status::OK();
  }

  Status Reembed(const std::string& collection, const std::string& space_name,
                 const std::map<std::string, std::string>& options, bool fit) override {
    std::shared_ptr<Collection> c;
    RECO_RETURN_IF_ERROR(Find(collection, &c));
    Space* space = nullptr;
    for (auto& s : c->spaces) {
      if (s->config.name == space_name) space = s.get();
    }
    if (space == nullptr) {
      return Status::NotFound("space " + Quote(space_name) + " does not exist in collection " +
                              Quote(collection) + " (spaces: " + c->SpaceNames() + ")");
    }
    if (space->config.plugin == "none") {
      return Status::InvalidArgument(
          "space " + Quote(space_name) +
          " takes vectors (plugin 'none'); there is nothing to re-embed");
    }
    int idle = 0;
    if (!space->reembed_state.compare_exchange_strong(idle, 1)) {
      int state = space->reembed_state.load();
      if (state == 1) {
        return Status::FailedPrecondition("space " + Quote(space_name) +
                                          " is being re-embedded already");
      }
      space->reembed_state = 1;  // a finished or failed job may be followed by another
    }
    auto fail = [&](const Status& st) {
      space->reembed_state = 0;
      return st;
    };
    SpaceConfig next = space->config;
    for (const auto& [key, value] : options) {
      if (value.empty()) {
        next.options.erase(key);
      } else {
        next.options[key] = value;
      }
    }
    std::unique_ptr<Embedder> made;
    Status st = plugins_.CreateEmbedder(next.plugin, PluginConfigJson(next), &made);
    if (!st.ok()) return fail(st.WithContext("space " + Quote(space_name)));
    std::shared_ptr<Embedder> embedder = std::move(made);
    if (fit && !embedder->CanFit()) {
      return fail(Status::InvalidArgument("plugin " + Quote(next.plugin) +
                                          " does not learn from a collection (it has no fit)"));
    }
    if (fit && !embedder->CanKeepState()) {
      return fail(Status::FailedPrecondition(
          "plugin " + Quote(next.plugin) +
          " learns (fit) but cannot hand what it learnt to the host (it needs plugin ABI 1.2 "
          "save_state/load_state), so its vectors could not be reproduced after a restart"));
    }
    next.dim = embedder->dim();
    index::IndexOptions io = space->index_options;
    io.dim = next.dim;
    io.train_inline = true;
    std::unique_ptr<index::VectorIndex> fresh;
    st = index::VectorIndex::Create(io, &fresh);
    if (!st.ok()) return fail(st);
    uint32_t storage;
    {
      // Reserve a storage id and record it, so a crash mid-way leaves only orphans that the
      // next start drops.
      std::unique_lock<std::shared_mutex> lock(c->mu);
      if (c->dropped) return fail(NotFoundCollection(collection));
      storage = c->layout.next_storage++;
      c->record.config = EncodeCollectionConfig(c->config, c->layout);
      st = store_->UpdateCollectionConfig(c->record);
      if (!st.ok()) return fail(st);
      space->reembed_done = 0;
      space->reembed_total = c->external_ids.size();
    }
    StartJob([this, c, space, next, embedder, io, fresh = fresh.release(), storage, fit] {
      std::unique_ptr<index::VectorIndex> index(fresh);
      Status st = fit ? FitEmbedder(*c, embedder.get(), storage) : Status::OK();
      if (st.ok()) st = RunReembed(c.get(), space, next, embedder, io, std::move(index), storage);
      std::unique_lock<std::shared_mutex> lock(c->mu);
      if (st.ok()) {
        space->reembed_state = 3;
      } else {
        space->reembed_error = st.message();
        space->reembed_state = 2;
        Warn("re-embedding space " + Quote(space->config.name) + " of " + Quote(c->config.name) +
             " failed: " + st.message());
      }
    });
    return Status::OK();
  }

  // Lets a re-embed's new instance learn from every item's input (its text, or its first
  // content the plugin takes), then keeps what it learnt with storage space `storage`.
  Status FitEmbedder(const Collection& c, Embedder* embedder, uint32_t storage) {
    std::vector<uint64_t> all;
    {
      std::shared_lock<std::shared_mutex> lock(c.mu);
      if (c.dropped) return Status::OK();
      for (const auto& [iid, id] : c.external_ids) all.push_back(iid);
    }
    std::sort(all.begin(), all.end());
    std::vector<Item> items;
    std::vector<std::vector<Content>> contents;
    items.reserve(all.size());
    contents.reserve(all.size());
    std::vector<reco_input> inputs;
    for (uint64_t iid : all) {
      if (stopping_jobs_) return Status::Unavailable("interrupted by shutdown");
      Item item;
      Status st = store_->GetItem(c.record.id, iid, &item);
      if (st.IsNotFound()) continue;
      RECO_RETURN_IF_ERROR(st);
      std::vector<Content> content;
      if (item.contents > 0) RECO_RETURN_IF_ERROR(store_->GetContents(c.record.id, iid, &content));
      items.push_back(std::move(item));
      contents.push_back(std::move(content));
    }
    // Inputs point into items/contents, which no longer grow.
    for (size_t i = 0; i < items.size(); ++i) {
      reco_input input;
      if (PickInput(*embedder, items[i].text, contents[i], &input)) inputs.push_back(input);
    }
    RECO_RETURN_IF_ERROR(embedder->Fit(inputs));
    std::string state;
    RECO_RETURN_IF_ERROR(embedder->SaveState(&state));
    return store_->PutPluginState(c.record.id, storage, state);
  }

  // Embeds the items `iids` (current stored text and contents) with `embedder` into storage
  // space `storage` and `index`; items gone or without input lose their vector there.
  Status EmbedInto(const Collection& c, const std::vector<uint64_t>& iids, Embedder* embedder,
                   uint32_t storage, index::VectorIndex* index) {
    std::vector<Item> items(iids.size());
    std::vector<std::vector<Content>> contents(iids.size());
    std::vector<reco_input> inputs;
    std::vector<uint64_t> owners, removes;
    for (size_t i = 0; i < iids.size(); ++i) {
      Status st = store_->GetItem(c.record.id, iids[i], &items[i]);
      if (st.IsNotFound()) {
        removes.push_back(iids[i]);
        continue;
      }
      RECO_RETURN_IF_ERROR(st);
      if (items[i].contents > 0) {
        RECO_RETURN_IF_ERROR(store_->GetContents(c.record.id, iids[i], &contents[i]));
      }
      reco_input input;
      if (!PickInput(*embedder, items[i].text, contents[i], &input)) {
        removes.push_back(iids[i]);
        continue;
      }
      inputs.push_back(input);
      owners.push_back(iids[i]);
    }
    std::vector<float> packed;
    RECO_RETURN_IF_ERROR(embedder->Embed(inputs, options_.embed_batch_size, &packed));
    const uint32_t d = embedder->dim();
    std::vector<std::pair<uint64_t, storage::VectorRecord>> puts;
    for (size_t j = 0; j < owners.size(); ++j) {
      storage::VectorRecord v;
      v.space = storage;
      v.provenance = embedder->provenance();
      v.values.assign(packed.begin() + j * d, packed.begin() + (j + 1) * d);
      puts.emplace_back(owners[j], std::move(v));
    }
    RECO_RETURN_IF_ERROR(store_->WriteVectors(c.record.id, storage, puts, removes));
    RECO_RETURN_IF_ERROR(index->Remove(removes.data(), removes.size()));
    return index->Add(owners.data(), packed.data(), owners.size());
  }

  Status RunReembed(Collection* c, Space* space, const SpaceConfig& next,
                    const std::shared_ptr<Embedder>& embedder, const index::IndexOptions& io,
                    std::unique_ptr<index::VectorIndex> fresh, uint32_t storage) {
    uint64_t seq0;
    std::vector<uint64_t> all;
    {
      std::shared_lock<std::shared_mutex> lock(c->mu);
      if (c->dropped) return Status::OK();
      seq0 = c->change_seq;
      for (const auto& [iid, id] : c->external_ids) all.push_back(iid);
    }
    std::sort(all.begin(), all.end());
    space->reembed_total = all.size();
    // The bulk pass, without the collection lock: queries and writes go on against the old
    // vectors; writes made meanwhile are caught up from the change log below.
    const size_t chunk = std::max<size_t>(options_.embed_batch_size, 64);
    for (size_t begin = 0; begin < all.size(); begin += chunk) {
      if (stopping_jobs_) return Status::Unavailable("interrupted by shutdown");
      std::vector<uint64_t> part(all.begin() + begin,
                                 all.begin() + std::min(all.size(), begin + chunk));
      RECO_RETURN_IF_ERROR(EmbedInto(*c, part, embedder.get(), storage, fresh.get()));
      space->reembed_done = begin + part.size();
    }
    // Catch up and swap, serialised with index snapshots and rebuilds.
    std::lock_guard<std::mutex> maintenance(maintenance_mu_);
    std::unique_lock<std::shared_mutex> lock(c->mu);
    if (c->dropped) return Status::OK();
    std::unordered_set<uint64_t> touched;
    RECO_RETURN_IF_ERROR(
        store_->ScanChanges(c->record.id, seq0, [&](uint64_t, const std::vector<uint64_t>& ids) {
          touched.insert(ids.begin(), ids.end());
        }));
    RECO_RETURN_IF_ERROR(EmbedInto(*c, std::vector<uint64_t>(touched.begin(), touched.end()),
                                   embedder.get(), storage, fresh.get()));
    const uint32_t old_storage = space->storage;
    const size_t position = space->number;
    // Old index files describe the old vectors: remove them before the switch is recorded.
    RemoveIndexFiles(c->record.id, space->number, 0);
    space->snapshot_seq = 0;
    CollectionConfig config = c->config;
    config.spaces[position] = next;
    StorageLayout layout = c->layout;
    layout.storage[position] = storage;
    storage::CollectionRecord record = c->record;
    record.config = EncodeCollectionConfig(config, layout);
    RECO_RETURN_IF_ERROR(store_->UpdateCollectionConfig(record));
    c->record = record;
    c->config = config;
    c->layout = layout;
    space->config = next;
    space->storage = storage;
    space->embedder = embedder;
    space->embedder_error.clear();
    space->index_options = io;
    space->index_options.train_inline = false;
    space->index = std::move(fresh);
    space->reembed_done = space->reembed_total.load();
    Status st = store_->DropSpaceVectors(c->record.id, old_storage);
    if (!st.ok()) Warn("dropping old vectors after a re-embed: " + st.message());
    return Status::OK();
  }

  Status LookupItem(const Collection& c, const std::string& id, uint64_t* iid) {
    Status st = store_->LookupId(c.record.id, id, iid);
    if (st.IsNotFound()) {
      return Status::NotFound("item " + Quote(id) + " does not exist in collection " +
                              Quote(c.config.name));
    }
    return st;
  }

  static Status ValidateText(const std::string& text) {
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
      return Status::InvalidArgument("text is empty");
    }
    if (text.size() > kMaxTextBytes) {
      return Status::InvalidArgument("text has " + std::to_string(text.size()) +
                                     " bytes; the limit is " + std::to_string(kMaxTextBytes));
    }
    return Status::OK();
  }

  static Status CheckVector(const std::vector<float>& v, uint32_t dim, const std::string& space) {
    if (v.size() != dim) {
      return Status::InvalidArgument("vector has " + std::to_string(v.size()) + " values; space " +
                                     Quote(space) + " expects " + std::to_string(dim));
    }
    for (size_t i = 0; i < v.size(); ++i) {
      if (!std::isfinite(v[i])) {
        return Status::InvalidArgument("vector value " + std::to_string(i) + " is NaN or infinite");
      }
    }
    return Status::OK();
  }

  // Turns a content from the request into bytes: a server-side path must resolve (after
  // symlinks) under content_root; every content obeys max_content_bytes.
  Status ResolveContent(const ContentInput& in, Content* out) const {
    out->content_type = in.content_type;
    if (!in.path.empty()) {
      if (!in.data.empty()) return Status::InvalidArgument("content has both bytes and a path");
      if (options_.content_root.empty()) {
        return Status::InvalidArgument("content path '" + in.path +
                                       "' refused: server-side paths are disabled (start recod "
                                       "with --content-root DIR)");
      }
      std::error_code ec;
      const fs::path root = fs::weakly_canonical(options_.content_root, ec);
      const fs::path path = fs::weakly_canonical(fs::path(options_.content_root) / in.path, ec);
      auto rel = path.lexically_relative(root);
      if (ec || rel.empty() || *rel.begin() == ".." || rel.is_absolute()) {
        return Status::InvalidArgument("content path '" + in.path +
                                       "' is outside the content root");
      }
      const auto size = fs::file_size(path, ec);
      if (ec) return Status::NotFound("content path '" + in.path + "': " + ec.message());
      if (size > options_.max_content_bytes) {
        return Status::OutOfRange("content '" + in.path + "' has " + std::to_string(size) +
                                  " bytes; the limit is " +
                                  std::to_string(options_.max_content_bytes));
      }
      std::FILE* f = std::fopen(path.c_str(), "rb");
      if (!f) return Status::IOError("cannot read content path '" + in.path + "'");
      out->data.resize(size);
      size_t got = size ? std::fread(out->data.data(), 1, size, f) : 0;
      std::fclose(f);
      if (got != size) return Status::IOError("short read of content path '" + in.path + "'");
      if (out->content_type.empty()) out->content_type = ContentTypeOf(in.path);
    } else {
      if (in.data.size() > options_.max_content_bytes) {
        return Status::OutOfRange("content has " + std::to_string(in.data.size()) +
                                  " bytes; the limit is " +
                                  std::to_string(options_.max_content_bytes));
      }
      if (in.data.empty()) return Status::InvalidArgument("content is empty");
      out->data = in.data;
    }
    if (out->content_type.empty()) {
      return Status::InvalidArgument("content has no content type");
    }
    return Status::OK();
  }

  static std::string ContentTypeOf(const std::string& path) {
    std::string ext = fs::path(path).extension().string();
    for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
    if (ext == ".png") return "image/png";
    if (ext == ".bmp") return "image/bmp";
    if (ext == ".gif") return "image/gif";
    if (ext == ".pnm" || ext == ".ppm" || ext == ".pgm" || ext == ".pbm") {
      return "image/x-portable-anymap";
    }
    if (ext == ".dcm" || ext == ".dicom" || ext.empty()) return "application/dicom";
    return "";
  }

  // The input a plugin space embeds for an item: its text for a text plugin, else its first
  // content of a type the plugin accepts. False when the item has none.
  static bool PickInput(const Embedder& embedder, const std::string& text,
                        const std::vector<Content>& contents, reco_input* out) {
    if (embedder.TakesText()) {
      *out = reco_input{"text/plain", reinterpret_cast<const uint8_t*>(text.data()), text.size()};
      return true;
    }
    for (const auto& c : contents) {
      if (embedder.Accepts(c.content_type)) {
        *out = reco_input{c.content_type.c_str(), reinterpret_cast<const uint8_t*>(c.data.data()),
                          c.data.size()};
        return true;
      }
    }
    return false;
  }

  // Adds a plugin's describe() output to attributes, keeping what is already there.
  static Status MergeDescribed(const std::string& json, Attributes* attributes) {
    nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) return Status::PluginError("describe() did not return a JSON object");
    for (const auto& [key, value] : j.items()) {
      if (attributes->count(key)) continue;
      if (value.is_string()) {
        (*attributes)[key] = value.get<std::string>();
      } else if (value.is_boolean()) {
        (*attributes)[key] = value.get<bool>();
      } else if (value.is_number()) {
        (*attributes)[key] = value.get<double>();
      } else if (value.is_array()) {
        std::vector<std::string> list;
        for (const auto& v : value) {
          if (v.is_string()) list.push_back(v.get<std::string>());
        }
        (*attributes)[key] = std::move(list);
      }
    }
    return Status::OK();
  }

  // What each space embeds, for error messages.
  static std::string SpaceNeeds(const Collection& c) {
    std::string out;
    for (const auto& s : c.spaces) {
      out += out.empty() ? "" : "; ";
      out += "space " + Quote(s->config.name) + " ";
      if (s->config.plugin == "none") {
        out += "takes vectors";
      } else if (s->embedder && !s->embedder->TakesText()) {
        out += "embeds contents of plugin " + Quote(s->config.plugin) + "'s types";
      } else {
        out += "embeds the text";
      }
    }
    return out;
  }

  Status ValidateItem(const Collection& c, const std::vector<std::shared_ptr<Embedder>>& embedders,
                      const ItemInput& in) const {
    if (in.id.empty()) return Status::InvalidArgument("id is empty");
    if (in.id.size() > kMaxIdBytes) {
      return Status::InvalidArgument("id has " + std::to_string(in.id.size()) +
                                     " bytes; the limit is " + std::to_string(kMaxIdBytes));
    }
    bool needs_text = false;
    for (size_t i = 0; i < c.spaces.size(); ++i) {
      needs_text |= c.spaces[i]->config.plugin != "none" && !IsLearned(*c.spaces[i]) &&
                    (!embedders[i] || embedders[i]->TakesText());
    }
    if (needs_text) RECO_RETURN_IF_ERROR(ValidateText(in.text));
    if (in.contents.size() > 256) {
      return Status::InvalidArgument("item has " + std::to_string(in.contents.size()) +
                                     " contents; the limit is 256");
    }
    for (const auto& [name, values] : in.vectors) {
      const Space* s = name.empty() ? nullptr : c.FindSpace(name);
      if (s == nullptr) {
        return Status::NotFound("vector for unknown space " + Quote(name) +
                                " (spaces: " + c.SpaceNames() + ")");
      }
      if (s->config.plugin != "none") {
        return Status::InvalidArgument("space " + Quote(name) + " is embedded by plugin " +
                                       Quote(s->config.plugin) + "; it does not take vectors");
      }
      RECO_RETURN_IF_ERROR(CheckVector(values, s->config.dim, name).WithContext("vectors." + name));
    }
    return Status::OK();
  }

  // Makes the spaces of c->config: embedders and empty indexes. When creating, every
  // problem is an error; when opening existing data, a missing plugin only disables
  // embedding for that space (its stored vectors still serve queries).
  Status BuildSpaces(Collection* c, bool creating) {
    for (size_t i = 0; i < c->config.spaces.size(); ++i) {
      auto space = std::make_unique<Space>();
      space->config = c->config.spaces[i];
      space->number = static_cast<uint32_t>(i);
      space->storage = i < c->layout.storage.size() ? c->layout.storage[i] : space->number;
      SpaceConfig& sc = space->config;
      const std::string ctx = "space " + Quote(sc.name);
      index::Metric metric;
      RECO_RETURN_IF_ERROR(index::ParseMetric(sc.metric, &metric).WithContext(ctx));
      if (sc.index.empty()) sc.index = "Flat";
      if (sc.plugin.empty()) return Status::InvalidArgument(ctx + ": plugin is empty");
      if (sc.plugin == "none" || sc.plugin == "collaborative") {
        if (sc.dim < (sc.plugin == "none" ? 1u : 2u) || sc.dim > options_.max_dim) {
          return Status::InvalidArgument(ctx + ": plugin '" + sc.plugin + "' needs dim between " +
                                         (sc.plugin == "none" ? "1" : "2") + " and " +
                                         std::to_string(options_.max_dim));
        }
      } else {
        std::unique_ptr<Embedder> made;
        Status st = plugins_.CreateEmbedder(sc.plugin, PluginConfigJson(sc), &made);
        if (st.ok() && sc.dim != 0 && made->dim() != sc.dim && !sc.options.count("dim")) {
          // A plugin whose output size is an option ("dim") gets the space's dim.
          SpaceConfig sized = sc;
          sized.options["dim"] = std::to_string(sc.dim);
          std::unique_ptr<Embedder> resized;
          if (plugins_.CreateEmbedder(sc.plugin, PluginConfigJson(sized), &resized).ok() &&
              resized->dim() == sc.dim) {
            made = std::move(resized);
            sc.options = sized.options;
          }
        }
        space->embedder = std::move(made);
        if (st.ok() && !creating) {
          // What the plugin learnt when these vectors were made (a fitted re-embed).
          std::string state;
          Status got = store_->GetPluginState(c->record.id, space->storage, &state);
          if (got.ok()) {
            st = space->embedder->LoadState(state);
          } else if (!got.IsNotFound()) {
            st = got;
          }
        }
        if (st.ok() && sc.dim != 0 && sc.dim != space->embedder->dim()) {
          st = Status::InvalidArgument("dim " + std::to_string(sc.dim) + " does not match plugin " +
                                       Quote(sc.plugin) + "'s output dim " +
                                       std::to_string(space->embedder->dim()));
        }
        if (!st.ok()) {
          if (creating) return st.WithContext(ctx);
          Warn("collection " + Quote(c->config.name) + " " + ctx + ": " + st.message());
          space->embedder_error = st.message();
          space->embedder.reset();
        } else {
          sc.dim = space->embedder->dim();
        }
      }
      index::IndexOptions& io = space->index_options;
      io.spec = sc.index;
      io.dim = sc.dim;
      io.metric = metric;
      RECO_RETURN_IF_ERROR(ParseIndexOptions(sc, &io).WithContext(ctx));
      RECO_RETURN_IF_ERROR(index::VectorIndex::Create(io, &space->index).WithContext(ctx));
      c->spaces.push_back(std::move(space));
    }
    return Status::OK();
  }

  // Adds every stored vector of a space (as of `snapshot`) to `index`.
  Status FillIndex(const Collection& c, const Space& space, const storage::Snapshot* snapshot,
                   index::VectorIndex* index) {
    std::vector<uint64_t> ids;
    std::vector<float> values;
    Status add_status;
    const uint32_t dim = space.config.dim;
    auto flush = [&] {
      if (add_status.ok() && !ids.empty()) {
        add_status = index->Add(ids.data(), values.data(), ids.size());
      }
      ids.clear();
      values.clear();
    };
    Status st = store_->ScanVectors(
        c.record.id, space.storage,
        [&](uint64_t iid, const float* v, size_t d) {
          if (d != dim) {
            if (add_status.ok()) {
              add_status = Status::Corruption("stored vector of item #" + std::to_string(iid) +
                                              " has dim " + std::to_string(d));
            }
            return;
          }
          ids.push_back(iid);
          values.insert(values.end(), v, v + d);
          if (ids.size() == kRebuildChunk) flush();
        },
        snapshot);
    flush();
    RECO_RETURN_IF_ERROR(st);
    return add_status;
  }

  // Brings `index` of `space` up to date with the change records after `after`: every id a
  // later batch touched gets its current stored vector, or is removed.
  Status Replay(const Collection& c, const Space& space, uint64_t after,
                index::VectorIndex* index) {
    std::unordered_set<uint64_t> touched;
    RECO_RETURN_IF_ERROR(
        store_->ScanChanges(c.record.id, after, [&](uint64_t, const std::vector<uint64_t>& ids) {
          touched.insert(ids.begin(), ids.end());
        }));
    for (uint64_t iid : touched) {
      storage::VectorRecord v;
      Status st = store_->GetVector(c.record.id, space.storage, iid, &v);
      if (st.IsNotFound()) {
        RECO_RETURN_IF_ERROR(index->Remove(&iid, 1));
      } else {
        RECO_RETURN_IF_ERROR(st);
        if (v.values.size() != space.config.dim) {
          return Status::Corruption("stored vector of item #" + std::to_string(iid));
        }
        RECO_RETURN_IF_ERROR(index->Add(&iid, v.values.data(), 1));
      }
    }
    return Status::OK();
  }

  // Fills the indexes, id map and attribute index of an existing collection from storage:
  // each index from its newest file plus the changes after it, or from scratch.
  Status LoadCollection(Collection* c) {
    RECO_RETURN_IF_ERROR(store_->ScanItems(c->record.id, [&](const Item& item) {
      c->external_ids[item.internal_id] = item.id;
      c->attributes.Insert(item.internal_id, item.attributes);
    }));
    auto files = IndexFiles(options_.data_dir);
    for (auto& space : c->spaces) {
      const std::string ctx =
          "collection " + Quote(c->config.name) + " space " + Quote(space->config.name);
      bool loaded = false;
      auto it = files.find({c->record.id, space->number});
      if (it != files.end() && it->second.first <= c->change_seq) {
        std::unique_ptr<index::VectorIndex> index;
        Status st = index::VectorIndex::Load(space->index_options, it->second.second, &index);
        if (st.ok()) st = Replay(*c, *space, it->second.first, index.get());
        if (st.ok()) {
          space->index = std::move(index);
          space->snapshot_seq = it->second.first;
          loaded = true;
        } else {
          Warn(ctx + ": index file unusable, rebuilding from storage: " + st.message());
        }
      } else if (it != files.end()) {
        Warn(ctx + ": index file is newer than the database; rebuilding from storage");
      }
      if (!loaded) {
        std::unique_ptr<index::VectorIndex> index;
        RECO_RETURN_IF_ERROR(index::VectorIndex::Create(space->index_options, &index));
        RECO_RETURN_IF_ERROR(FillIndex(*c, *space, nullptr, index.get()).WithContext(ctx));
        RECO_RETURN_IF_ERROR(index->TrainNow().WithContext(ctx));
        space->index = std::move(index);
      }
    }
    return Status::OK();
  }

  // Newest index file per (collection, space): seq and path.
  static std::map<std::pair<uint32_t, uint32_t>, std::pair<uint64_t, std::string>> IndexFiles(
      const std::string& data_dir) {
    std::map<std::pair<uint32_t, uint32_t>, std::pair<uint64_t, std::string>> out;
    std::error_code ec;
    for (fs::directory_iterator it(IndexDir(data_dir), ec), end; !ec && it != end;
         it.increment(ec)) {
      uint32_t c = 0, s = 0;
      uint64_t seq = 0;
      if (!ParseIndexFileName(it->path().filename().string(), &c, &s, &seq)) continue;
      auto& slot = out[{c, s}];
      if (slot.second.empty() || seq > slot.first) slot = {seq, it->path().string()};
    }
    return out;
  }

  uint64_t IndexFileBytes() const {
    uint64_t total = 0;
    std::error_code ec;
    for (fs::directory_iterator it(IndexDir(options_.data_dir), ec), end; !ec && it != end;
         it.increment(ec)) {
      total += it->is_regular_file(ec) ? it->file_size(ec) : 0;
    }
    return total;
  }

  // Removes index files of (collection, space) other than the one at `keep_seq`
  // (0: all of them).
  void RemoveIndexFiles(uint32_t collection, uint32_t space, uint64_t keep_seq) {
    std::error_code ec;
    std::vector<fs::path> doomed;
    for (fs::directory_iterator it(IndexDir(options_.data_dir), ec), end; !ec && it != end;
         it.increment(ec)) {
      uint32_t c = 0, s = 0;
      uint64_t seq = 0;
      std::string name = it->path().filename().string();
      if (ParseIndexFileName(name, &c, &s, &seq) && c == collection && s == space &&
          seq != keep_seq) {
        doomed.push_back(it->path());
      }
    }
    for (const auto& p : doomed) fs::remove(p, ec);
  }

  // Writes space's index as of change seq `seq` under data_dir/indexes (caller holds c.mu).
  Status WriteIndexFile(const std::string& data_dir, const Collection& c, const Space& s,
                        uint64_t seq) {
    const std::string path = IndexDir(data_dir) + "/" + IndexFileName(c.record.id, s.number, seq);
    const std::string tmp = path + ".tmp";
    RECO_RETURN_IF_ERROR(s.index->Save(tmp));
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) return Status::IOError("renaming '" + tmp + "': " + ec.message());
    return Status::OK();
  }

  // Writes the index files of every space whose file is older than the collection's change
  // seq, then drops the change records every file covers. Caller holds maintenance_mu_.
  Status SnapshotCollection(Collection* c) {
    uint64_t covered = UINT64_MAX;
    {
      std::shared_lock<std::shared_mutex> lock(c->mu);
      if (c->dropped) return Status::OK();
      const uint64_t seq = c->change_seq;
      for (auto& s : c->spaces) {
        if (s->snapshot_seq.load() != seq || seq == 0) {
          RECO_RETURN_IF_ERROR(WriteIndexFile(options_.data_dir, *c, *s, seq));
          s->snapshot_seq = seq;
          RemoveIndexFiles(c->record.id, s->number, seq);
        }
        covered = std::min(covered, s->snapshot_seq.load());
      }
      c->last_snapshot_ms = NowMs();
    }
    if (covered != UINT64_MAX && covered > 0) {
      RECO_RETURN_IF_ERROR(store_->TrimChanges(c->record.id, covered));
    }
    return Status::OK();
  }

  // Builds a fresh index for a space from a storage snapshot without holding the collection
  // lock, then catches up with the writes made meanwhile and swaps it in.
  Status Rebuild(Collection* c, Space* space) {
    std::shared_ptr<const storage::Snapshot> snapshot;
    uint64_t seq0;
    {
      std::shared_lock<std::shared_mutex> lock(c->mu);
      if (c->dropped) return Status::OK();
      seq0 = c->change_seq;
      snapshot = store_->GetSnapshot();
    }
    // (Re-embeds swap spaces while holding maintenance_mu_, as this does: the space cannot
    // change storage under a rebuild.)
    // Everything goes in first, then training sees all of it: training on whichever vectors
    // crossed the threshold first skews the lists when data arrives in a meaningful order.
    index::IndexOptions io = space->index_options;
    io.train_inline = false;
    std::unique_ptr<index::VectorIndex> fresh;
    RECO_RETURN_IF_ERROR(index::VectorIndex::Create(io, &fresh));
    RECO_RETURN_IF_ERROR(FillIndex(*c, *space, snapshot.get(), fresh.get()));
    RECO_RETURN_IF_ERROR(fresh->TrainNow());
    snapshot.reset();
    std::unique_lock<std::shared_mutex> lock(c->mu);
    if (c->dropped) return Status::OK();
    RECO_RETURN_IF_ERROR(Replay(*c, *space, seq0, fresh.get()));
    space->index = std::move(fresh);
    return Status::OK();
  }

  void BackgroundLoop() {
    std::unique_lock<std::mutex> lock(bg_mu_);
    while (!stop_) {
      bg_cv_.wait_for(lock, std::chrono::milliseconds(200));
      if (stop_) break;
      lock.unlock();
      MaintainOnce();
      lock.lock();
    }
  }

  // Scheduled retraining: starts a background training of each collaborative space whose
  // interval has passed with enough new events (incremental when it has vectors).
  void MaybeRetrain(const std::shared_ptr<Collection>& c) {
    const CollectionConfig& config = c->config;
    if (config.retrain_interval_s == 0 || c->dropped) return;
    if (c->events_since_train.load() < std::max<uint32_t>(config.retrain_min_events, 1)) return;
    const int64_t interval = int64_t{config.retrain_interval_s} * 1000;
    for (auto& s : c->spaces) {
      if (!IsLearned(*s) || s->train_state.load() == 1) continue;
      const int64_t last = s->trained_ms.load() ? s->trained_ms.load() : c->opened_ms;
      if (NowMs() - last < interval) continue;
      TrainRequest r;
      r.collection = config.name;
      r.space = s->config.name;
      r.incremental = s->index->Stats().vectors > 0;
      r.epochs = r.incremental ? config.retrain_epochs : TrainRequest().epochs;
      r.wait = false;
      TrainResult ignored;
      Status st = Train(r, &ignored);
      if (!st.ok()) Warn("scheduled training of " + Quote(config.name) + ": " + st.message());
    }
  }

  void MaintainOnce() {
    std::lock_guard<std::mutex> maintenance(maintenance_mu_);
    for (const auto& c : CollectionsSnapshot()) {
      for (auto& s : c->spaces) {
        bool needs;
        {
          std::shared_lock<std::shared_mutex> lock(c->mu);
          needs = !c->dropped && s->index->NeedsRebuild();
        }
        if (needs) {
          Status st = Rebuild(c.get(), s.get());
          if (!st.ok()) Warn("rebuilding space " + Quote(s->config.name) + ": " + st.message());
        }
      }
      MaybeRetrain(c);
      if (c->config.retention_days > 0 && NowMs() - c->last_retention_ms > 3600 * 1000) {
        c->last_retention_ms = NowMs();
        Status st = store_->DropEventsBefore(
            c->record.id, NowMs() - int64_t{c->config.retention_days} * 86400000);
        if (!st.ok()) Warn("event retention of " + Quote(c->config.name) + ": " + st.message());
      }
      if (NowMs() - c->last_snapshot_ms >= options_.snapshot_interval_ms) {
        Status st = SnapshotCollection(c.get());
        if (!st.ok()) Warn("writing index files of " + Quote(c->config.name) + ": " + st.message());
      }
    }
  }

  EngineOptions options_;
  PluginHost plugins_;
  std::unique_ptr<storage::Store> store_;
  std::shared_mutex collections_mu_;
  std::map<std::string, std::shared_ptr<Collection>> collections_;
  // Serialises background upkeep, Flush and Backup (index files and change trimming).
  std::mutex maintenance_mu_;
  std::mutex bg_mu_;
  std::condition_variable bg_cv_;
  bool stop_ = false;
  std::atomic<bool> stopping_jobs_{false};
  std::thread background_;
  // Background jobs (re-embeds, trainings); finished ones are joined when the next starts.
  struct Job {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  void StartJob(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(jobs_mu_);
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      if (it->done->load()) {
        it->thread.join();
        it = jobs_.erase(it);
      } else {
        ++it;
      }
    }
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::thread thread([fn = std::move(fn), done] {
      fn();
      *done = true;
    });
    jobs_.push_back(Job{std::move(thread), done});
  }
  std::mutex jobs_mu_;
  std::list<Job> jobs_;
  std::unique_ptr<FeedbackLog> feedback_;  // impressions and attribution (after store_)
};

}  // namespace

std::vector<EventType> DefaultEventTypes() {
  return {{"view", 1}, {"click", 2}, {"cart", 4}, {"purchase", 8}, {"rating", 1}};
}

Status Engine::Open(const EngineOptions& options, std::unique_ptr<Engine>* engine) {
  if (options.data_dir.empty()) return Status::InvalidArgument("data directory is empty");
  auto impl = std::make_unique<EngineImpl>(options);
  RECO_RETURN_IF_ERROR(impl->Init());
  *engine = std::move(impl);
  return Status::OK();
}

}  // namespace engine
}  // namespace reco
