// reco::engine — collections, items, spaces, plugins and queries over storage/ and index/.
// The api/ layer calls only this header (and common/). Thread-safe: every method may be called
// from several threads at once. Calls may block (embedding, search, disk): never call them on
// an IO thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/item.h"
#include "common/status.h"

namespace reco {
namespace engine {

struct EngineOptions {
  std::string data_dir;            // created when missing: db/ (RocksDB) and indexes/
  std::string plugin_dir;          // every *.so here is tried as a plugin; "" for none
  bool sync_writes = false;        // fsync the WAL on every write (survives power loss)
  uint32_t max_k = 10000;          // largest k a query may ask for
  uint32_t max_batch = 10000;      // most items in one upsert call
  uint32_t embed_batch_size = 32;  // items per plugin embed_batch call
  uint32_t max_dim = 65536;        // largest vector dimension a space may have
  std::string content_root;        // server-side content paths must lie under it; "" = refused
  uint64_t max_content_bytes = 64u << 20;  // largest content (image, DICOM) accepted
  bool background = true;  // write index files, train and rebuild indexes in a background thread
  uint32_t snapshot_interval_ms = 30000;  // how often changed indexes are written to disk
};

// One space of a collection: a way to turn an item into a vector, and its index.
struct SpaceConfig {
  std::string name;                            // [A-Za-z0-9_-]+
  std::string plugin = "text";                 // a loaded plugin's name, or "none" (vectors given)
  std::map<std::string, std::string> options;  // plugin options (e.g. model=/path.pt)
  uint32_t dim = 0;                            // required for plugin "none"; else from the plugin
  std::string metric = "cosine";               // "cosine", "ip" or "l2"
  std::string index = "Flat";  // FAISS factory string: "Flat", "HNSW32", "IVF256,Flat"
  // Index knobs: ef_construction, ef_search (HNSW), nprobe, train_threshold (IVF/PQ/SQ).
  std::map<std::string, std::string> index_options;
};

// An event type and how much it says about interest (a purchase more than a view).
struct EventType {
  std::string name;     // [a-z0-9_-]+
  double weight = 1.0;  // > 0; for "rating" the event's value multiplies it
};

// Defaults: view 1, click 2, cart 4, purchase 8, rating 1 (value-weighted).
std::vector<EventType> DefaultEventTypes();

struct CollectionConfig {
  std::string name;  // [A-Za-z0-9_.-]+, at most 128 bytes
  std::vector<SpaceConfig> spaces;
  std::vector<EventType> event_types;  // empty = DefaultEventTypes(); at most 64
  // Events for an item that does not exist: "reject" the event, or "create" a placeholder
  // item (no text, no vectors) so the event is kept.
  std::string unknown_items = "reject";
  uint32_t retention_days = 0;  // events older than this are dropped; 0 = keep them all
  // Attribution of events to logged recommendations (impressions): events of these types that
  // follow a user's impression of the item within the window count as its clicks or
  // conversions. Empty = "click" / "purchase" (when the collection has those types).
  std::vector<std::string> click_types;
  std::vector<std::string> conversion_types;
  uint32_t click_window_hours = 24;
  uint32_t conversion_window_hours = 168;
  // Scheduled retraining of the collaborative spaces: every `retrain_interval_s` seconds (0 =
  // never) when at least `retrain_min_events` events arrived since the last training; incremental
  // (warm-started, `retrain_epochs` epochs) once a space has vectors.
  uint32_t retrain_interval_s = 0;
  uint32_t retrain_min_events = 1000;
  uint32_t retrain_epochs = 10;
};

struct EventInput {
  std::string user;
  std::string item;
  std::string type = "view";
  double value = 1.0;   // a rating's value; 1 otherwise
  int64_t time_ms = 0;  // unix milliseconds; 0 = now
  // The recommendation request this event answers (its request id), when the client knows
  // it; "" = attributed to the user's latest impression of the item within the window.
  std::string request_id;
};

struct EventsResult {
  uint64_t accepted = 0;
  uint64_t placeholders = 0;  // items created for unknown ids (unknown_items = "create")
  uint64_t attributed = 0;    // clicks and conversions attributed to logged recommendations
};

// Recommendations for a user (from their events) or from example items.
struct RecommendQuery {
  std::string collection;
  std::string user;                   // "" when recommending from examples only
  std::vector<std::string> positive;  // example items the result should resemble
  std::vector<std::string> negative;  // example items it should not
  std::string strategy = "average";   // examples: "average" vector or "best" score
  uint32_t k = 10;
  std::string filter;                    // attribute filter, as in Query
  bool exclude_seen = true;              // leave out items the user had events with
  std::vector<std::string> seen_types;   // which event types count as seen; empty = all
  std::vector<std::string> exclude;      // more ids to leave out
  std::map<std::string, double> spaces;  // space -> blend weight; empty = every vector space
  double mmr_lambda = 1.0;               // 1 = no diversification; lower trades relevance for it
  double popularity_weight = 0.0;        // 0..1 blend of recent popularity into the score
  double freshness_weight = 0.0;         // 0..1 blend of item recency into the score
  uint32_t history = 50;                 // most recent events that form the profile
  double half_life_days = 14;            // recency weighting of those events
  bool explain = false;
  // A/B label the answer is logged and counted under ([A-Za-z0-9_.:-], at most 64 bytes);
  // "" = the answer's source ("profile", "examples", "trending").
  std::string variant;
  bool log = true;  // log an answer for a user as an impression (gets a request id)
  // "" = the vector spaces; "ease" = the collection's item-item model (Train with model "ease"):
  // an item's score is the sum of the EASE weights from every item of the user's history (or
  // the examples).
  std::string model;
};

struct Recommendation {
  std::string id;
  double score = 0;
  // With explain: where the score came from.
  std::map<std::string, double> parts;  // "space:NAME", "popularity", "freshness", "mmr"
  std::vector<std::string> because;     // history or example items most like this one
  std::string source;                   // "profile", "examples", "trending", "ease"
};

struct RecommendResult {
  std::vector<Recommendation> items;
  std::string request_id;  // the logged impression's id ("" when not logged)
  std::string variant;     // what it was counted under
};

// Feedback on logged recommendations (recoctl analytics ctr / coverage / ab). Rates are per
// impression (an item shown once in a list): CTR = attributed clicks / impressions,
// conversion rate = attributed conversions / impressions; intervals are Wilson score
// intervals at the query's confidence.
struct FeedbackQuery {
  std::string collection;
  uint32_t days = 30;   // impressions of the last `days` days (UTC)
  std::string variant;  // "" = every variant
  uint32_t k = 10;      // items listed (most shown first)
  double confidence = 0.95;
};

struct VariantFeedback {
  std::string variant;
  uint64_t requests = 0, impressions = 0, clicks = 0, conversions = 0;
  double ctr = 0, ctr_low = 0, ctr_high = 0;
  double conversion_rate = 0, conversion_low = 0, conversion_high = 0;
  uint64_t items_shown = 0;  // distinct items recommended
  double coverage = 0;       // items_shown / catalogue items
  double gini = 0;           // concentration of impressions over the catalogue (0 even, 1 one item)
};

struct ItemFeedback {
  std::string id;
  uint64_t impressions = 0, clicks = 0, conversions = 0;
  double ctr = 0, conversion_rate = 0;
};

struct FeedbackReport {
  uint64_t catalogue_items = 0;
  VariantFeedback total;                  // every variant asked for together
  std::vector<VariantFeedback> variants;  // by name
  std::vector<ItemFeedback> items;        // the k most shown
};

// An A/B comparison of two variants: B against A, per metric.
struct AbQuery {
  std::string collection;
  std::string a, b;
  uint32_t days = 30;
  double confidence = 0.95;
};

struct AbMetric {
  std::string metric;                        // "ctr", "conversion_rate"
  double a = 0, b = 0;                       // the rates
  double difference = 0, low = 0, high = 0;  // b - a and its interval (Newcombe)
  double lift = 0;                           // (b - a) / a; 0 when a is 0
  double p_value = 1;                        // two-sided two-proportion z-test
  bool significant = false;                  // the interval excludes 0
};

struct AbReport {
  VariantFeedback a, b;
  std::vector<AbMetric> metrics;
  double confidence = 0.95;
};

struct TopItem {
  std::string id;
  double score = 0;  // events (top) or time-decayed events (trending)
};

// Offline evaluation on the collection's own events (recoctl eval).
struct EvalRequest {
  std::string collection;
  std::string protocol = "random-80-10-10";  // or "leave-last-out"
  uint64_t seed = 2020;
  uint32_t k = 10;
  // Empty = all: most-popular, item-knn, ease, bpr (collaborative), content (profile over the
  // content spaces), history-profile (Recommend's recency-weighted profile over content and
  // in-run BPR vectors), hybrid (EASE + content, blend weight tuned on valid).
  std::vector<std::string> strategies;
  std::vector<std::string> event_types;  // events that count as interactions; empty = all
  bool on_valid = false;                 // report the valid part (tuning) instead of test
};

struct EvalResult {
  std::string strategy;
  std::string error;  // why it could not run (e.g. too many items for EASE)
  uint32_t k = 10;
  double recall = 0, ndcg = 0, hr = 0, precision = 0, mrr = 0, coverage = 0;
  uint32_t users = 0;
  double fit_seconds = 0;
  std::string detail;  // e.g. the blend weight a hybrid chose on the valid part
};

// Collaborative training into a space with plugin "collaborative" (recoctl train).
struct TrainRequest {
  std::string collection;
  std::string space;  // "" = the collection's first collaborative space
  uint32_t epochs = 40;
  double learning_rate = 0.05;
  double reg = 0.005;
  uint64_t seed = 2020;
  // Continue from the space's current item vectors (items new since start fresh) instead of
  // from random ones: fewer epochs reach the same quality as the catalogue and events grow.
  bool incremental = false;
  // Wait for the end (the result is filled in), or return at once and train in the
  // background (progress in Stats: train_state, train_epoch, train_loss).
  bool wait = true;
  // "bpr" (default): BPR-MF into a collaborative space. "ease": EASE's item-item weights,
  // the `neighbours` strongest per item, kept as the collection's item model, which Recommend
  // serves with model = "ease" (no space needed; catalogues up to about 30,000 items).
  std::string model = "bpr";
  uint32_t neighbours = 200;
};

struct TrainResult {
  uint32_t items = 0;  // items that got a vector
  uint32_t users = 0;
  uint32_t epochs = 0;
  double loss = 0;  // the last epoch's BPR loss
  double seconds = 0;
  uint32_t warm_items = 0;  // items that started from their previous vector (incremental)
};

struct DayCount {
  int64_t day_ms = 0;  // start of the UTC day
  uint64_t events = 0;
  uint64_t users = 0;  // distinct users with events that day
};

struct SpaceStats {
  std::string name;
  std::string plugin;
  uint32_t dim = 0;
  std::string metric;
  std::string index;
  uint64_t vectors = 0;          // vectors in the index
  std::string backend;           // "flat", "hnswlib", "faiss"
  bool trained = true;           // false while an IVF/PQ space still answers exactly
  uint64_t tombstones = 0;       // removed vectors still in an HNSW graph
  bool rebuild_pending = false;  // a background (re)training or rebuild is due or running
  uint64_t memory_bytes = 0;     // index memory, approximately
  uint64_t snapshot_seq = 0;     // change sequence of the last index file written (0: none)
  std::string reembed_state;     // "", "running", "failed: ...", "done"
  uint64_t reembed_done = 0;     // items re-embedded so far by the running job
  uint64_t reembed_total = 0;
  std::string fingerprint;  // the model the space embeds with now
  // Collaborative spaces: training progress ("", "running", "failed: ...", "done").
  std::string train_state;
  uint32_t train_epoch = 0, train_epochs = 0;
  double train_loss = 0;
  int64_t trained_ms = 0;  // when training last finished in this process (0: not yet)
};

struct CollectionStats {
  std::string name;
  uint64_t items = 0;
  std::vector<SpaceStats> spaces;
  uint64_t attribute_index_bytes = 0;  // in-memory attribute index for filters
  uint64_t disk_bytes = 0;             // RocksDB files of the whole database, approximately
  uint64_t change_seq = 0;             // writes applied to this collection so far
};

// Non-text content of an item or a query: bytes, or a path on the server's machine.
struct ContentInput {
  std::string
      content_type;  // "image/jpeg", "application/dicom" ...; "" = from the path's extension
  std::string data;  // the bytes, or
  std::string path;  // a file under EngineOptions::content_root (no escaping it)
};

// An item as the user writes it. Vectors are only for spaces with plugin "none"; a space
// whose plugin takes text embeds `text`, any other plugin space embeds the first content
// of a type its plugin accepts (an item without one has no vector in that space).
struct ItemInput {
  std::string id;
  std::string text;
  Attributes attributes;
  std::map<std::string, std::vector<float>> vectors;  // space name -> vector
  std::vector<ContentInput> contents;
};

// What is stored for an item, including per-space vector provenance.
struct ItemView {
  Item item;
  struct SpaceVector {
    std::string space;
    VectorProvenance provenance;
    std::vector<float> values;
  };
  std::vector<SpaceVector> vectors;  // provenance always; values only when asked for
  struct ContentInfo {
    std::string content_type;
    uint64_t size = 0;
  };
  std::vector<ContentInfo> contents;  // stored non-text contents (types and sizes)
};

struct Hit {
  std::string id;
  float score = 0;  // higher is better: cosine / inner product, or -squared L2 distance
};

// A query: find items near an item, a text, or a vector, in one space.
struct Query {
  std::string collection;
  std::string space;  // "" means the collection's first space
  uint32_t k = 10;
  // Exactly one of these:
  std::optional<std::string> item_id;  // similar items (the item itself is left out)
  std::optional<std::string> text;     // embed with the space's plugin
  std::optional<std::vector<float>> vector;
  std::optional<ContentInput> content;  // an image, a DICOM file ... embedded by the space
  // Optional attribute filter, e.g. `category = "shoes" and price < 80` (see filter/).
  std::string filter;
  uint32_t ef = 0;      // HNSW candidate list size for this query; 0 = the space's default
  uint32_t nprobe = 0;  // IVF lists to visit for this query; 0 = the space's default
};

struct PluginInfo {
  std::string name;
  std::string version;
  std::string abi;  // "1.0"
  std::string modality;
  std::string content_types;
  uint32_t default_dim = 0;
  std::string path;
};

class Engine {
 public:
  // Opens (or creates) the data directory, loads plugins, and rebuilds every index from
  // storage so that it matches what RocksDB holds.
  static Status Open(const EngineOptions& options, std::unique_ptr<Engine>* engine);
  virtual ~Engine() = default;

  virtual Status CreateCollection(const CollectionConfig& config) = 0;
  virtual Status DropCollection(const std::string& name) = 0;
  virtual Status GetCollection(const std::string& name, CollectionConfig* config) = 0;
  virtual Status ListCollections(std::vector<CollectionConfig>* out) = 0;

  // Inserts or replaces items, all or none: one atomic write. On failure the message names
  // the failing item by position and id ("item 3 (id 'sku-9'): ...").
  virtual Status Upsert(const std::string& collection, const std::vector<ItemInput>& items) = 0;
  virtual Status Get(const std::string& collection, const std::string& id, bool with_vectors,
                     ItemView* out) = 0;
  virtual Status Delete(const std::string& collection, const std::string& id) = 0;

  virtual Status Search(const Query& query, std::vector<Hit>* hits) = 0;
  virtual Status Stats(const std::string& collection, CollectionStats* out) = 0;

  // Writes a consistent copy of everything (RocksDB checkpoint plus index files) to dir,
  // which must not exist; `recod --data dir` opens it as is.
  virtual Status Backup(const std::string& dir) = 0;
  // Writes every index file now (also done in the background and at shutdown).
  virtual Status Flush() = 0;

  // ---- events, recommendations, analytics ----
  virtual Status AddEvents(const std::string& collection, const std::vector<EventInput>& events,
                           EventsResult* result) = 0;
  // Logs an answer for a user as an impression (query.log) under a request id; later clicks
  // and conversions of those items are attributed to it (CollectionConfig click_types ...).
  virtual Status Recommend(const RecommendQuery& query, RecommendResult* out) = 0;
  Status Recommend(const RecommendQuery& query, std::vector<Recommendation>* out) {
    RecommendResult result;
    Status st = Recommend(query, &result);
    *out = std::move(result.items);
    return st;
  }
  // Impressions, attributed clicks and conversions per variant and item, catalogue coverage
  // and Gini of what was recommended.
  virtual Status Feedback(const FeedbackQuery& query, FeedbackReport* out) = 0;
  // Two variants side by side with confidence intervals.
  virtual Status AbTest(const AbQuery& query, AbReport* out) = 0;
  // Items with the most events of `type` ("" = all types) in the last `days` days.
  virtual Status TopItems(const std::string& collection, const std::string& type, uint32_t days,
                          uint32_t k, std::vector<TopItem>* out) = 0;
  // Items by time-decayed event weight (half-life in days) over the last `days` days.
  virtual Status Trending(const std::string& collection, uint32_t days, double half_life_days,
                          uint32_t k, std::vector<TopItem>* out) = 0;
  // Events and distinct users per day for the last `days` days.
  virtual Status EventsPerDay(const std::string& collection, uint32_t days,
                              std::vector<DayCount>* out) = 0;

  virtual Status Evaluate(const EvalRequest& request, std::vector<EvalResult>* out) = 0;
  // Trains BPR-MF on the events and swaps its item vectors into the space atomically.
  virtual Status Train(const TrainRequest& request, TrainResult* out) = 0;

  // Re-embeds every item of a plugin space in the background — after a model change, or with
  // new plugin options (merged into the space's; an empty value removes one) — while queries
  // keep answering from the old vectors; then swaps in the new vectors and index at once.
  // Progress is in Stats (reembed_*). FailedPrecondition while one is running.
  // With `fit`, the new instance first learns from the collection (the plugin's fit: e.g. the
  // text plugin's term weights from every item's text); what it learnt is kept with the new
  // vectors (ABI 1.2 state) and restored at every start.
  virtual Status Reembed(const std::string& collection, const std::string& space,
                         const std::map<std::string, std::string>& options, bool fit) = 0;
  virtual std::vector<PluginInfo> Plugins() const = 0;
  // Libraries in plugin_dir that were refused, with the reason.
  virtual std::vector<std::pair<std::string, std::string>> RefusedPlugins() const = 0;

  virtual const EngineOptions& options() const = 0;
};

}  // namespace engine
}  // namespace reco
