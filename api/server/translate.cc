#include "api/server/translate.h"

#include <exception>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "engine/engine.h"

namespace reco {
namespace api {
namespace {

// ---- protobuf -> engine ----

engine::SpaceConfig FromProto(const v1::SpaceConfig& in) {
  engine::SpaceConfig out;  // empty strings keep the engine's defaults
  out.name = in.name();
  if (!in.plugin().empty()) out.plugin = in.plugin();
  out.options.insert(in.options().begin(), in.options().end());
  out.dim = in.dim();
  if (!in.metric().empty()) out.metric = in.metric();
  if (!in.index().empty()) out.index = in.index();
  out.index_options.insert(in.index_options().begin(), in.index_options().end());
  return out;
}

Status FromProto(const v1::AttributeValue& in, AttrValue* out) {
  switch (in.value_case()) {
    case v1::AttributeValue::kStringValue:
      *out = in.string_value();
      return Status::OK();
    case v1::AttributeValue::kNumberValue:
      *out = in.number_value();
      return Status::OK();
    case v1::AttributeValue::kBoolValue:
      *out = in.bool_value();
      return Status::OK();
    case v1::AttributeValue::kListValue:
      *out = std::vector<std::string>(in.list_value().values().begin(),
                                      in.list_value().values().end());
      return Status::OK();
    case v1::AttributeValue::VALUE_NOT_SET:
      break;
  }
  return Status::InvalidArgument("attribute has no value");
}

engine::ContentInput FromProto(const v1::Content& in) {
  engine::ContentInput out;
  out.content_type = in.content_type();
  out.data = in.data();
  out.path = in.path();
  return out;
}

Status FromProto(const v1::Item& in, engine::ItemInput* out) {
  out->id = in.id();
  out->text = in.text();
  for (const auto& [key, value] : in.attributes()) {
    RECO_RETURN_IF_ERROR(
        FromProto(value, &out->attributes[key]).WithContext("attribute '" + key + "'"));
  }
  for (const auto& [space, vector] : in.vectors()) {
    out->vectors[space].assign(vector.values().begin(), vector.values().end());
  }
  for (const auto& content : in.contents()) out->contents.push_back(FromProto(content));
  return Status::OK();
}

// ---- engine -> protobuf ----

void ToProto(const engine::SpaceConfig& in, v1::SpaceConfig* out) {
  out->set_name(in.name);
  out->set_plugin(in.plugin);
  out->mutable_options()->insert(in.options.begin(), in.options.end());
  out->set_dim(in.dim);
  out->set_metric(in.metric);
  out->set_index(in.index);
  out->mutable_index_options()->insert(in.index_options.begin(), in.index_options.end());
}

void ToProto(const engine::CollectionConfig& in, v1::CollectionConfig* out) {
  out->set_name(in.name);
  for (const auto& space : in.spaces) ToProto(space, out->add_spaces());
  for (const auto& t : in.event_types) {
    v1::EventType* et = out->add_event_types();
    et->set_name(t.name);
    et->set_weight(t.weight);
  }
  out->set_unknown_items(in.unknown_items);
  out->set_retention_days(in.retention_days);
  for (const auto& t : in.click_types) out->add_click_types(t);
  for (const auto& t : in.conversion_types) out->add_conversion_types(t);
  out->set_click_window_hours(in.click_window_hours);
  out->set_conversion_window_hours(in.conversion_window_hours);
  out->set_retrain_interval_s(in.retrain_interval_s);
  out->set_retrain_min_events(in.retrain_min_events);
  out->set_retrain_epochs(in.retrain_epochs);
}

void ToProto(const AttrValue& in, v1::AttributeValue* out) {
  std::visit(
      [out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          out->set_string_value(v);
        } else if constexpr (std::is_same_v<T, double>) {
          out->set_number_value(v);
        } else if constexpr (std::is_same_v<T, bool>) {
          out->set_bool_value(v);
        } else {
          out->mutable_list_value()->mutable_values()->Add(v.begin(), v.end());
        }
      },
      in);
}

void ToProto(const engine::ItemView& in, v1::StoredItem* out) {
  v1::Item* item = out->mutable_item();
  item->set_id(in.item.id);
  item->set_text(in.item.text);
  for (const auto& [key, value] : in.item.attributes) {
    ToProto(value, &(*item->mutable_attributes())[key]);
  }
  out->set_created_ms(in.item.created_ms);
  out->set_updated_ms(in.item.updated_ms);
  for (const auto& sv : in.vectors) {
    v1::SpaceVector* v = out->add_vectors();
    v->set_space(sv.space);
    v->mutable_provenance()->set_plugin(sv.provenance.plugin);
    v->mutable_provenance()->set_version(sv.provenance.version);
    v->mutable_provenance()->set_fingerprint(sv.provenance.fingerprint);
    v->mutable_values()->Add(sv.values.begin(), sv.values.end());
  }
  for (const auto& c : in.contents) {
    v1::ContentInfo* info = out->add_contents();
    info->set_content_type(c.content_type);
    info->set_size(c.size);
  }
}

// ---- one handler per operation ----

Status Handle(engine::Engine* e, const v1::CreateCollectionRequest& req,
              v1::CreateCollectionResponse*) {
  engine::CollectionConfig config;
  config.name = req.name();
  for (const auto& space : req.spaces()) config.spaces.push_back(FromProto(space));
  for (const auto& t : req.event_types()) config.event_types.push_back({t.name(), t.weight()});
  if (!req.unknown_items().empty()) config.unknown_items = req.unknown_items();
  config.retention_days = req.retention_days();
  config.click_types.assign(req.click_types().begin(), req.click_types().end());
  config.conversion_types.assign(req.conversion_types().begin(), req.conversion_types().end());
  if (req.click_window_hours() != 0) config.click_window_hours = req.click_window_hours();
  if (req.conversion_window_hours() != 0) {
    config.conversion_window_hours = req.conversion_window_hours();
  }
  config.retrain_interval_s = req.retrain_interval_s();
  if (req.retrain_min_events() != 0) config.retrain_min_events = req.retrain_min_events();
  if (req.retrain_epochs() != 0) config.retrain_epochs = req.retrain_epochs();
  return e->CreateCollection(config);
}

Status Handle(engine::Engine* e, const v1::AddEventsRequest& req, v1::AddEventsResponse* resp) {
  std::vector<engine::EventInput> events;
  events.reserve(req.events_size());
  for (const auto& ev : req.events()) {
    engine::EventInput in;
    in.user = ev.user();
    in.item = ev.item();
    if (!ev.type().empty()) in.type = ev.type();
    in.value = ev.value() == 0 && in.type != "rating" ? 1.0 : ev.value();
    in.time_ms = ev.time_ms();
    in.request_id = ev.request_id();
    events.push_back(std::move(in));
  }
  engine::EventsResult result;
  RECO_RETURN_IF_ERROR(e->AddEvents(req.collection(), events, &result));
  resp->set_accepted(result.accepted);
  resp->set_placeholders(result.placeholders);
  resp->set_attributed(result.attributed);
  return Status::OK();
}

Status Handle(engine::Engine* e, const v1::RecommendRequest& req, v1::RecommendResponse* resp) {
  engine::RecommendQuery q;
  q.collection = req.collection();
  q.user = req.user();
  q.positive.assign(req.positive().begin(), req.positive().end());
  q.negative.assign(req.negative().begin(), req.negative().end());
  if (!req.strategy().empty()) q.strategy = req.strategy();
  q.k = req.k();
  q.filter = req.filter();
  q.exclude_seen = !req.include_seen();
  q.seen_types.assign(req.seen_types().begin(), req.seen_types().end());
  q.exclude.assign(req.exclude().begin(), req.exclude().end());
  q.spaces.insert(req.spaces().begin(), req.spaces().end());
  q.mmr_lambda = req.mmr_lambda() == 0 ? 1.0 : req.mmr_lambda();
  q.popularity_weight = req.popularity_weight();
  q.freshness_weight = req.freshness_weight();
  if (req.history() != 0) q.history = req.history();
  if (req.half_life_days() != 0) q.half_life_days = req.half_life_days();
  q.explain = req.explain();
  q.variant = req.variant();
  q.log = !req.no_log();
  q.model = req.model();
  engine::RecommendResult result;
  RECO_RETURN_IF_ERROR(e->Recommend(q, &result));
  resp->set_request_id(result.request_id);
  resp->set_variant(result.variant);
  for (const auto& r : result.items) {
    v1::Recommendation* out = resp->add_items();
    out->set_id(r.id);
    out->set_score(r.score);
    out->mutable_parts()->insert(r.parts.begin(), r.parts.end());
    for (const auto& b : r.because) out->add_because(b);
    out->set_source(r.source);
  }
  return Status::OK();
}

void ToProto(const engine::VariantFeedback& in, v1::VariantFeedback* out) {
  out->set_variant(in.variant);
  out->set_requests(in.requests);
  out->set_impressions(in.impressions);
  out->set_clicks(in.clicks);
  out->set_conversions(in.conversions);
  out->set_ctr(in.ctr);
  out->set_ctr_low(in.ctr_low);
  out->set_ctr_high(in.ctr_high);
  out->set_conversion_rate(in.conversion_rate);
  out->set_conversion_low(in.conversion_low);
  out->set_conversion_high(in.conversion_high);
  out->set_items_shown(in.items_shown);
  out->set_coverage(in.coverage);
  out->set_gini(in.gini);
}

Status Handle(engine::Engine* e, const v1::FeedbackRequest& req, v1::FeedbackResponse* resp) {
  engine::FeedbackQuery q;
  q.collection = req.collection();
  if (req.days() != 0) q.days = req.days();
  q.variant = req.variant();
  if (req.k() != 0) q.k = req.k();
  if (req.confidence() != 0) q.confidence = req.confidence();
  engine::FeedbackReport report;
  RECO_RETURN_IF_ERROR(e->Feedback(q, &report));
  resp->set_catalogue_items(report.catalogue_items);
  ToProto(report.total, resp->mutable_total());
  for (const auto& v : report.variants) ToProto(v, resp->add_variants());
  for (const auto& item : report.items) {
    v1::ItemFeedback* out = resp->add_items();
    out->set_id(item.id);
    out->set_impressions(item.impressions);
    out->set_clicks(item.clicks);
    out->set_conversions(item.conversions);
    out->set_ctr(item.ctr);
    out->set_conversion_rate(item.conversion_rate);
  }
  return Status::OK();
}

Status Handle(engine::Engine* e, const v1::AbRequest& req, v1::AbResponse* resp) {
  engine::AbQuery q;
  q.collection = req.collection();
  q.a = req.a();
  q.b = req.b();
  if (req.days() != 0) q.days = req.days();
  if (req.confidence() != 0) q.confidence = req.confidence();
  engine::AbReport report;
  RECO_RETURN_IF_ERROR(e->AbTest(q, &report));
  ToProto(report.a, resp->mutable_a());
  ToProto(report.b, resp->mutable_b());
  resp->set_confidence(report.confidence);
  for (const auto& m : report.metrics) {
    v1::AbMetric* out = resp->add_metrics();
    out->set_metric(m.metric);
    out->set_a(m.a);
    out->set_b(m.b);
    out->set_difference(m.difference);
    out->set_low(m.low);
    out->set_high(m.high);
    out->set_lift(m.lift);
    out->set_p_value(m.p_value);
    out->set_significant(m.significant);
  }
  return Status::OK();
}

void ToProto(const std::vector<engine::TopItem>& items, v1::TopItemsResponse* resp) {
  for (const auto& item : items) {
    v1::TopItem* out = resp->add_items();
    out->set_id(item.id);
    out->set_score(item.score);
  }
}

Status Handle(engine::Engine* e, const v1::TopItemsRequest& req, v1::TopItemsResponse* resp) {
  std::vector<engine::TopItem> items;
  RECO_RETURN_IF_ERROR(e->TopItems(req.collection(), req.type(), req.days() ? req.days() : 7,
                                   req.k() ? req.k() : 10, &items));
  ToProto(items, resp);
  return Status::OK();
}

Status Handle(engine::Engine* e, const v1::TrendingRequest& req, v1::TopItemsResponse* resp) {
  std::vector<engine::TopItem> items;
  RECO_RETURN_IF_ERROR(e->Trending(req.collection(), req.days() ? req.days() : 14,
                                   req.half_life_days() ? req.half_life_days() : 3,
                                   req.k() ? req.k() : 10, &items));
  ToProto(items, resp);
  return Status::OK();
}

Status Handle(engine::Engine* e, const v1::EventsPerDayRequest& req,
              v1::EventsPerDayResponse* resp) {
  std::vector<engine::DayCount> days;
  RECO_RETURN_IF_ERROR(e->EventsPerDay(req.collection(), req.days() ? req.days() : 7, &days));
  for (const auto& d : days) {
    v1::DayCount* out = resp->add_days();
    out->set_day_ms(d.day_ms);
    out->set_events(d.events);
    out->set_users(d.users);
  }
  return Status::OK();
}

Status Handle(engine::Engine* e, const v1::DropCollectionRequest& req,
              v1::DropCollectionResponse*) {
  return e->DropCollection(req.name());
}

Status Handle(engine::Engine* e, const v1::ListCollectionsRequest&,
              v1::ListCollectionsResponse* resp) {
  std::vector<engine::CollectionConfig> configs;
  RECO_RETURN_IF_ERROR(e->ListCollections(&configs));
  for (const auto& config : configs) ToProto(config, resp->add_collections());
  return Status::OK();
}

Status Handle(engine::Engine* e, const v1::GetCollectionRequest& req,
              v1::GetCollectionResponse* resp) {
  engine::CollectionConfig config;
  RECO_RETURN_IF_ERROR(e->GetCollection(req.name(), &config));
  ToProto(config, resp->mutable_collection());
  return Status::OK();
}

Status Handle(engine::Engine* e, const v1::UpsertRequest& req, v1::UpsertResponse* resp) {
  std::vector<engine::ItemInput> items(req.items_size());
  for (int i = 0; i < req.items_size(); ++i) {
    RECO_RETURN_IF_ERROR(
        FromProto(req.items(i), &items[i])
            .WithContext("item " + std::to_string(i) + " (id '" + req.items(i).id() + "')"));
  }
  RECO_RETURN_IF_ERROR(e->Upsert(req.collection(), items));
  resp->set_upserted(static_cast<uint32_t>(items.size()));
  return Status::OK();
}

Status Handle(engine::Engine* e, const v1::GetRequest& req, v1::GetResponse* resp) {
  engine::ItemView view;
  RECO_RETURN_IF_ERROR(e->Get(req.collection(), req.id(), req.with_vectors(), &view));
  ToProto(view, resp->mutable_item());
  return Status::OK();
}

Status Handle(engine::Engine* e, const v1::DeleteRequest& req, v1::DeleteResponse*) {
  return e->Delete(req.collection(), req.id());
}

Status Handle(engine::Engine* e, const v1::SearchRequest& req, v1::SearchResponse* resp) {
  const uint32_t max_k = e->options().max_k;
  if (req.k() == 0 || req.k() > max_k) {
    return Status::OutOfRange("k = " + std::to_string(req.k()) +
                              " is out of range: it must be 1.." + std::to_string(max_k) +
                              " (max_k)");
  }
  engine::Query query;
  query.collection = req.collection();
  query.space = req.space();
  query.k = req.k();
  query.filter = req.filter();
  query.ef = req.ef();
  query.nprobe = req.nprobe();
  switch (req.query_case()) {
    case v1::SearchRequest::kItemId:
      query.item_id = req.item_id();
      break;
    case v1::SearchRequest::kText:
      query.text = req.text();
      break;
    case v1::SearchRequest::kVector:
      query.vector.emplace(req.vector().values().begin(), req.vector().values().end());
      break;
    case v1::SearchRequest::kContent:
      query.content = FromProto(req.content());
      break;
    case v1::SearchRequest::QUERY_NOT_SET:
      return Status::InvalidArgument("search needs a query: one of item_id, text or vector");
  }
  std::vector<engine::Hit> hits;
  RECO_RETURN_IF_ERROR(e->Search(query, &hits));
  for (const auto& hit : hits) {
    v1::Hit* h = resp->add_hits();
    h->set_id(hit.id);
    h->set_score(hit.score);
  }
  return Status::OK();
}

Status Handle(engine::Engine* e, const v1::StatsRequest& req, v1::StatsResponse* resp) {
  engine::CollectionStats stats;
  RECO_RETURN_IF_ERROR(e->Stats(req.collection(), &stats));
  resp->set_name(stats.name);
  resp->set_items(stats.items);
  for (const auto& s : stats.spaces) {
    v1::SpaceStats* out = resp->add_spaces();
    out->set_name(s.name);
    out->set_plugin(s.plugin);
    out->set_dim(s.dim);
    out->set_metric(s.metric);
    out->set_index(s.index);
    out->set_vectors(s.vectors);
    out->set_backend(s.backend);
    out->set_trained(s.trained);
    out->set_tombstones(s.tombstones);
    out->set_memory_bytes(s.memory_bytes);
    out->set_snapshot_seq(s.snapshot_seq);
    out->set_reembed_state(s.reembed_state);
    out->set_reembed_done(s.reembed_done);
    out->set_reembed_total(s.reembed_total);
    out->set_fingerprint(s.fingerprint);
    out->set_train_state(s.train_state);
    out->set_train_epoch(s.train_epoch);
    out->set_train_epochs(s.train_epochs);
    out->set_train_loss(s.train_loss);
    out->set_trained_ms(s.trained_ms);
    out->set_rebuild_pending(s.rebuild_pending);
  }
  resp->set_attribute_index_bytes(stats.attribute_index_bytes);
  resp->set_disk_bytes(stats.disk_bytes);
  resp->set_change_seq(stats.change_seq);
  return Status::OK();
}

Status Handle(engine::Engine* e, const v1::BackupRequest& req, v1::BackupResponse*) {
  return e->Backup(req.dir());
}

Status Handle(engine::Engine* e, const v1::ReembedRequest& req, v1::ReembedResponse*) {
  return e->Reembed(req.collection(), req.space(),
                    std::map<std::string, std::string>(req.options().begin(), req.options().end()),
                    req.fit());
}

Status Handle(engine::Engine* e, const v1::ListPluginsRequest&, v1::ListPluginsResponse* resp) {
  for (const auto& p : e->Plugins()) {
    v1::PluginInfo* out = resp->add_plugins();
    out->set_name(p.name);
    out->set_version(p.version);
    out->set_abi(p.abi);
    out->set_modality(p.modality);
    out->set_content_types(p.content_types);
    out->set_default_dim(p.default_dim);
    out->set_path(p.path);
  }
  for (const auto& [path, reason] : e->RefusedPlugins()) {
    v1::RefusedPlugin* out = resp->add_refused();
    out->set_path(path);
    out->set_reason(reason);
  }
  return Status::OK();
}

Status Handle(engine::Engine*, const v1::PingRequest&, v1::PingResponse* resp) {
  resp->set_server_version(RECO_VERSION);
  return Status::OK();
}

Status Handle(engine::Engine* e, const v1::EvalRequest& req, v1::EvalResponse* resp) {
  engine::EvalRequest r;
  r.collection = req.collection();
  if (!req.protocol().empty()) r.protocol = req.protocol();
  if (req.seed() != 0) r.seed = req.seed();
  if (req.k() != 0) r.k = req.k();
  r.strategies.assign(req.strategies().begin(), req.strategies().end());
  r.event_types.assign(req.event_types().begin(), req.event_types().end());
  r.on_valid = req.on_valid();
  std::vector<engine::EvalResult> results;
  RECO_RETURN_IF_ERROR(e->Evaluate(r, &results));
  for (const auto& x : results) {
    v1::EvalResult* out = resp->add_results();
    out->set_strategy(x.strategy);
    out->set_error(x.error);
    out->set_k(x.k);
    out->set_recall(x.recall);
    out->set_ndcg(x.ndcg);
    out->set_hr(x.hr);
    out->set_precision(x.precision);
    out->set_mrr(x.mrr);
    out->set_coverage(x.coverage);
    out->set_users(x.users);
    out->set_fit_seconds(x.fit_seconds);
    out->set_detail(x.detail);
  }
  return Status::OK();
}

Status Handle(engine::Engine* e, const v1::TrainRequest& req, v1::TrainResponse* resp) {
  engine::TrainRequest r;
  r.collection = req.collection();
  r.space = req.space();
  if (req.epochs() != 0) r.epochs = req.epochs();
  if (req.learning_rate() != 0) r.learning_rate = req.learning_rate();
  if (req.reg() != 0) r.reg = req.reg();
  if (req.seed() != 0) r.seed = req.seed();
  r.incremental = req.incremental();
  r.wait = !req.background();
  if (!req.model().empty()) r.model = req.model();
  if (req.neighbours() != 0) r.neighbours = req.neighbours();
  engine::TrainResult result;
  RECO_RETURN_IF_ERROR(e->Train(r, &result));
  resp->set_warm_items(result.warm_items);
  resp->set_items(result.items);
  resp->set_users(result.users);
  resp->set_epochs(result.epochs);
  resp->set_loss(result.loss);
  resp->set_seconds(result.seconds);
  return Status::OK();
}

Status Dispatch(engine::Engine* e, const v1::Request& req, v1::Response* resp) {
  using R = v1::Request;
  switch (req.body_case()) {
    case R::kCreateCollection:
      return Handle(e, req.create_collection(), resp->mutable_create_collection());
    case R::kDropCollection:
      return Handle(e, req.drop_collection(), resp->mutable_drop_collection());
    case R::kListCollections:
      return Handle(e, req.list_collections(), resp->mutable_list_collections());
    case R::kGetCollection:
      return Handle(e, req.get_collection(), resp->mutable_get_collection());
    case R::kUpsert:
      return Handle(e, req.upsert(), resp->mutable_upsert());
    case R::kGetItem:
      return Handle(e, req.get_item(), resp->mutable_get_item());
    case R::kDeleteItem:
      return Handle(e, req.delete_item(), resp->mutable_delete_item());
    case R::kSearch:
      return Handle(e, req.search(), resp->mutable_search());
    case R::kStats:
      return Handle(e, req.stats(), resp->mutable_stats());
    case R::kListPlugins:
      return Handle(e, req.list_plugins(), resp->mutable_list_plugins());
    case R::kPing:
      return Handle(e, req.ping(), resp->mutable_ping());
    case R::kBackup:
      return Handle(e, req.backup(), resp->mutable_backup());
    case R::kReembed:
      return Handle(e, req.reembed(), resp->mutable_reembed());
    case R::kAddEvents:
      return Handle(e, req.add_events(), resp->mutable_add_events());
    case R::kRecommend:
      return Handle(e, req.recommend(), resp->mutable_recommend());
    case R::kTopItems:
      return Handle(e, req.top_items(), resp->mutable_top_items());
    case R::kTrending:
      return Handle(e, req.trending(), resp->mutable_trending());
    case R::kEventsPerDay:
      return Handle(e, req.events_per_day(), resp->mutable_events_per_day());
    case R::kEval:
      return Handle(e, req.eval(), resp->mutable_eval());
    case R::kTrain:
      return Handle(e, req.train(), resp->mutable_train());
    case R::kFeedback:
      return Handle(e, req.feedback(), resp->mutable_feedback());
    case R::kAb:
      return Handle(e, req.ab(), resp->mutable_ab());
    case R::BODY_NOT_SET:
      break;
  }
  return Status::InvalidArgument("request " + std::to_string(req.request_id()) +
                                 " has no body (no operation, or one this server does not know)");
}

}  // namespace

v1::Response ErrorResponse(uint64_t request_id, const Status& status) {
  v1::Response resp;
  resp.set_request_id(request_id);
  resp.mutable_error()->set_code(static_cast<v1::ErrorCode>(status.code()));
  resp.mutable_error()->set_message(status.message());
  return resp;
}

v1::Response HandleRequest(engine::Engine* engine, const v1::Request& request) {
  v1::Response resp;
  resp.set_request_id(request.request_id());
  Status status;
  try {
    status = Dispatch(engine, request, &resp);
  } catch (const std::exception& e) {
    status = Status::Internal(std::string("unexpected exception: ") + e.what());
  } catch (...) {
    status = Status::Internal("unexpected exception");
  }
  if (!status.ok()) return ErrorResponse(request.request_id(), status);
  return resp;
}

}  // namespace api
}  // namespace reco
