#include "engine/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <shared_mutex>
#include <unordered_map>

#include "engine/config_codec.h"
#include "engine/plugin_host.h"
#include "index/vector_index.h"
#include "storage/store.h"

namespace reco {
namespace engine {
namespace {

constexpr size_t kMaxIdBytes = 1024;       // longest external id
constexpr size_t kMaxTextBytes = 1 << 20;  // longest text content
constexpr size_t kMaxSpaces = 32;          // spaces per collection
constexpr size_t kRebuildChunk = 4096;     // vectors per index Add while rebuilding

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

struct Space {
  SpaceConfig config;
  uint32_t number = 0;                 // position in the config: the storage key
  std::unique_ptr<Embedder> embedder;  // null for plugin "none"
  std::string embedder_error;          // why there is no embedder for a plugin space
  std::unique_ptr<index::VectorIndex> index;
};

struct Collection {
  storage::CollectionRecord record;
  CollectionConfig config;
  std::vector<std::unique_ptr<Space>> spaces;
  // Writers (upsert, delete) hold it exclusively; readers share it.
  mutable std::shared_mutex mu;
  uint64_t next_item_id = 1;
  std::unordered_map<uint64_t, std::string> external_ids;  // internal -> external id
  bool dropped = false;

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

class EngineImpl final : public Engine {
 public:
  explicit EngineImpl(const EngineOptions& options) : options_(options) {}

  Status Init() {
    if (!options_.plugin_dir.empty()) {
      Status st = plugins_.LoadDirectory(options_.plugin_dir);
      if (!st.ok()) std::fprintf(stderr, "reco: warning: %s\n", st.message().c_str());
    }
    storage::StoreOptions so;
    so.sync = options_.sync_writes;
    RECO_RETURN_IF_ERROR(storage::Store::Open(options_.data_dir, so, &store_));
    std::vector<storage::CollectionRecord> records;
    RECO_RETURN_IF_ERROR(store_->ListCollections(&records));
    for (auto& record : records) {
      auto c = std::make_shared<Collection>();
      RECO_RETURN_IF_ERROR(DecodeCollectionConfig(record.config, &c->config)
                               .WithContext("collection " + Quote(record.name)));
      c->record = record;
      c->next_item_id = record.next_item_id;
      RECO_RETURN_IF_ERROR(BuildSpaces(c.get(), /*creating=*/false));
      RECO_RETURN_IF_ERROR(LoadCollection(c.get()));
      collections_[record.name] = std::move(c);
    }
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
    // BuildSpaces filled in each plugin space's dim.
    for (size_t i = 0; i < c->spaces.size(); ++i) c->config.spaces[i] = c->spaces[i]->config;

    std::unique_lock<std::shared_mutex> lock(collections_mu_);
    if (collections_.count(config.name)) {
      return Status::AlreadyExists("collection " + Quote(config.name) + " already exists");
    }
    c->record.name = config.name;
    c->record.config = EncodeCollectionConfig(c->config);
    RECO_RETURN_IF_ERROR(store_->CreateCollection(&c->record));
    c->next_item_id = c->record.next_item_id;
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
    for (size_t i = 0; i < items.size(); ++i) {
      RECO_RETURN_IF_ERROR(ValidateItem(*c, items[i]).WithContext(ItemContext(i, items[i])));
    }

    // Embed outside the collection lock: it is the slow part, and needs no collection state
    // beyond the (immutable) spaces.
    std::vector<std::vector<float>> vectors(c->spaces.size());
    std::vector<const std::string*> texts;
    for (const auto& item : items) texts.push_back(&item.text);
    for (size_t s = 0; s < c->spaces.size(); ++s) {
      Space& space = *c->spaces[s];
      if (space.config.plugin == "none") continue;
      if (!space.embedder) {
        return Status::FailedPrecondition("space " + Quote(space.config.name) +
                                          " cannot embed: " + space.embedder_error);
      }
      Status st = space.embedder->EmbedTexts(texts, options_.embed_batch_size, &vectors[s]);
      if (!st.ok()) return st.WithContext("space " + Quote(space.config.name));
    }

    std::unique_lock<std::shared_mutex> lock(c->mu);
    if (c->dropped) return NotFoundCollection(collection);
    const int64_t now = NowMs();
    uint64_t next_id = c->next_item_id;
    std::vector<storage::ItemWrite> writes(items.size());
    std::unordered_map<std::string, uint64_t> batch_ids;  // ids new in this batch
    std::vector<bool> is_new(items.size(), false);
    for (size_t i = 0; i < items.size(); ++i) {
      const ItemInput& in = items[i];
      storage::ItemWrite& w = writes[i];
      w.item.id = in.id;
      w.item.text = in.text;
      w.item.attributes = in.attributes;
      w.item.created_ms = now;
      w.item.updated_ms = now;
      auto dup = batch_ids.find(in.id);
      if (dup != batch_ids.end()) {
        w.item.internal_id = dup->second;
      } else {
        uint64_t iid = 0;
        Status st = store_->LookupId(c->record.id, in.id, &iid);
        if (st.ok()) {
          Item old;
          if (store_->GetItem(c->record.id, iid, &old).ok()) w.item.created_ms = old.created_ms;
        } else if (st.IsNotFound()) {
          iid = next_id++;
          is_new[i] = true;
        } else {
          return st.WithContext(ItemContext(i, in));
        }
        w.item.internal_id = iid;
        batch_ids[in.id] = iid;
      }
      for (size_t s = 0; s < c->spaces.size(); ++s) {
        const Space& space = *c->spaces[s];
        storage::VectorRecord v;
        v.space = space.number;
        if (space.config.plugin == "none") {
          auto it = in.vectors.find(space.config.name);
          if (it == in.vectors.end()) {
            w.clear_spaces.push_back(space.number);
            continue;
          }
          v.provenance.plugin = "none";
          v.values = it->second;
        } else {
          v.provenance = space.embedder->provenance();
          const uint32_t d = space.config.dim;
          v.values.assign(vectors[s].begin() + i * d, vectors[s].begin() + (i + 1) * d);
        }
        w.vectors.push_back(std::move(v));
      }
    }
    RECO_RETURN_IF_ERROR(store_->WriteItems(c->record.id, writes, next_id));
    c->next_item_id = next_id;

    // Storage is the truth; bring the in-memory state in line with it.
    Status index_status;
    for (size_t s = 0; s < c->spaces.size(); ++s) {
      Space& space = *c->spaces[s];
      std::vector<uint64_t> add_ids, remove_ids;
      std::vector<float> add_values;
      for (const auto& w : writes) {
        bool has = false;
        for (const auto& v : w.vectors) {
          if (v.space == space.number) {
            add_ids.push_back(w.item.internal_id);
            add_values.insert(add_values.end(), v.values.begin(), v.values.end());
            has = true;
          }
        }
        if (!has) remove_ids.push_back(w.item.internal_id);
      }
      Status st = space.index->Remove(remove_ids.data(), remove_ids.size());
      if (st.ok()) st = space.index->Add(add_ids.data(), add_values.data(), add_ids.size());
      if (!st.ok() && index_status.ok())
        index_status = st.WithContext("space " + Quote(space.config.name));
    }
    for (const auto& w : writes) c->external_ids[w.item.internal_id] = w.item.id;
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
    for (const auto& space : c->spaces) {
      storage::VectorRecord v;
      Status st = store_->GetVector(c->record.id, space->number, iid, &v);
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
    std::vector<uint32_t> spaces;
    for (const auto& s : c->spaces) spaces.push_back(s->number);
    RECO_RETURN_IF_ERROR(store_->DeleteItem(c->record.id, id, iid, spaces));
    for (const auto& s : c->spaces) RECO_RETURN_IF_ERROR(s->index->Remove(&iid, 1));
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
    const Space* space = c->FindSpace(q.space);
    if (space == nullptr) {
      return Status::NotFound("space " + Quote(q.space) + " does not exist in collection " +
                              Quote(q.collection) + " (spaces: " + c->SpaceNames() + ")");
    }
    const int given = q.item_id.has_value() + q.text.has_value() + q.vector.has_value();
    if (given != 1) {
      return Status::InvalidArgument("a query needs exactly one of item id, text or vector");
    }
    const uint32_t dim = space->config.dim;
    std::vector<float> query;
    if (q.text) {
      if (!space->embedder) {
        return Status::InvalidArgument(
            "space " + Quote(space->config.name) +
            (space->config.plugin == "none"
                 ? " takes vectors only (plugin 'none'); search it by vector"
                 : " cannot embed: " + space->embedder_error));
      }
      RECO_RETURN_IF_ERROR(ValidateText(*q.text).WithContext("query text"));
      std::vector<const std::string*> texts{&*q.text};
      RECO_RETURN_IF_ERROR(space->embedder->EmbedTexts(texts, 1, &query));
    } else if (q.vector) {
      RECO_RETURN_IF_ERROR(
          CheckVector(*q.vector, dim, space->config.name).WithContext("query vector"));
      query = *q.vector;
    }

    std::shared_lock<std::shared_mutex> lock(c->mu);
    uint64_t self = 0;
    bool exclude_self = false;
    if (q.item_id) {
      RECO_RETURN_IF_ERROR(LookupItem(*c, *q.item_id, &self));
      storage::VectorRecord v;
      Status st = store_->GetVector(c->record.id, space->number, self, &v);
      if (st.IsNotFound()) {
        return Status::NotFound("item " + Quote(*q.item_id) + " has no vector in space " +
                                Quote(space->config.name));
      }
      RECO_RETURN_IF_ERROR(st);
      query = std::move(v.values);
      exclude_self = true;
    }
    std::vector<index::Neighbor> found;
    RECO_RETURN_IF_ERROR(space->index->Search(query.data(), q.k + (exclude_self ? 1 : 0), &found));
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
    out->spaces.clear();
    for (const auto& s : c->spaces) {
      SpaceStats ss;
      ss.name = s->config.name;
      ss.plugin = s->config.plugin;
      ss.dim = s->config.dim;
      ss.metric = s->config.metric;
      ss.index = s->config.index;
      ss.vectors = s->index->size();
      out->spaces.push_back(std::move(ss));
    }
    return Status::OK();
  }

  std::vector<PluginInfo> Plugins() const override { return plugins_.plugins(); }
  std::vector<std::pair<std::string, std::string>> RefusedPlugins() const override {
    return plugins_.refused();
  }
  const EngineOptions& options() const override { return options_; }

 private:
  static Status NotFoundCollection(const std::string& name) {
    return Status::NotFound("collection " + Quote(name) + " does not exist");
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

  Status ValidateItem(const Collection& c, const ItemInput& in) const {
    if (in.id.empty()) return Status::InvalidArgument("id is empty");
    if (in.id.size() > kMaxIdBytes) {
      return Status::InvalidArgument("id has " + std::to_string(in.id.size()) +
                                     " bytes; the limit is " + std::to_string(kMaxIdBytes));
    }
    bool needs_text = false;
    for (const auto& s : c.spaces) needs_text |= s->config.plugin != "none";
    if (needs_text) RECO_RETURN_IF_ERROR(ValidateText(in.text));
    for (const auto& [name, values] : in.vectors) {
      const Space* s = c.FindSpace(name);
      if (s == nullptr || name.empty()) {
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
      SpaceConfig& sc = space->config;
      const std::string ctx = "space " + Quote(sc.name);
      index::Metric metric;
      RECO_RETURN_IF_ERROR(index::ParseMetric(sc.metric, &metric).WithContext(ctx));
      if (sc.index.empty()) sc.index = "Flat";
      if (sc.plugin.empty()) return Status::InvalidArgument(ctx + ": plugin is empty");
      if (sc.plugin == "none") {
        if (sc.dim == 0 || sc.dim > options_.max_dim) {
          return Status::InvalidArgument(ctx + ": plugin 'none' needs dim between 1 and " +
                                         std::to_string(options_.max_dim));
        }
      } else {
        Status st = plugins_.CreateEmbedder(sc.plugin, PluginConfigJson(sc), &space->embedder);
        if (st.ok() && sc.dim != 0 && sc.dim != space->embedder->dim()) {
          st = Status::InvalidArgument("dim " + std::to_string(sc.dim) + " does not match plugin " +
                                       Quote(sc.plugin) + "'s output dim " +
                                       std::to_string(space->embedder->dim()));
        }
        if (!st.ok()) {
          if (creating) return st.WithContext(ctx);
          std::fprintf(stderr, "reco: warning: collection '%s' %s: %s\n", c->config.name.c_str(),
                       ctx.c_str(), st.message().c_str());
          space->embedder_error = st.message();
          space->embedder.reset();
        } else {
          sc.dim = space->embedder->dim();
        }
      }
      index::IndexOptions io;
      io.spec = sc.index;
      io.dim = sc.dim;
      io.metric = metric;
      RECO_RETURN_IF_ERROR(index::VectorIndex::Create(io, &space->index).WithContext(ctx));
      c->spaces.push_back(std::move(space));
    }
    return Status::OK();
  }

  // Fills the indexes and id map of an existing collection from storage.
  Status LoadCollection(Collection* c) {
    RECO_RETURN_IF_ERROR(store_->ScanItems(
        c->record.id, [&](const Item& item) { c->external_ids[item.internal_id] = item.id; }));
    for (auto& space : c->spaces) {
      std::vector<uint64_t> ids;
      std::vector<float> values;
      Status add_status;
      const uint32_t dim = space->config.dim;
      auto flush = [&] {
        if (add_status.ok() && !ids.empty()) {
          add_status = space->index->Add(ids.data(), values.data(), ids.size());
        }
        ids.clear();
        values.clear();
      };
      Status st = store_->ScanVectors(
          c->record.id, space->number, [&](uint64_t iid, const float* v, size_t d) {
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
          });
      flush();
      RECO_RETURN_IF_ERROR(st);
      RECO_RETURN_IF_ERROR(add_status.WithContext("collection " + Quote(c->config.name) +
                                                  " space " + Quote(space->config.name)));
    }
    return Status::OK();
  }

  EngineOptions options_;
  PluginHost plugins_;
  std::unique_ptr<storage::Store> store_;
  std::shared_mutex collections_mu_;
  std::map<std::string, std::shared_ptr<Collection>> collections_;
};

}  // namespace

Status Engine::Open(const EngineOptions& options, std::unique_ptr<Engine>* engine) {
  if (options.data_dir.empty()) return Status::InvalidArgument("data directory is empty");
  auto impl = std::make_unique<EngineImpl>(options);
  RECO_RETURN_IF_ERROR(impl->Init());
  *engine = std::move(impl);
  return Status::OK();
}

}  // namespace engine
}  // namespace reco
