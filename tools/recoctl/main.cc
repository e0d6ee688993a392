// recoctl: the command-line client for recod. Commands, flags and --json shapes are a
// contract (scripts parse them): see kUsage.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/client/client.h"

namespace {

using json = nlohmann::json;
namespace v1 = reco::api::v1;
using reco::Status;

constexpr int kExitFailed = 1;  // the server refused, or the connection failed
constexpr int kExitUsage = 2;   // bad command line
constexpr uint32_t kDefaultK = 10;
constexpr size_t kDefaultBatch = 256;

constexpr const char* kUsage = R"(usage: recoctl [--addr HOST:PORT] [--json] COMMAND ...

  --addr HOST:PORT   server address (default $RECO_ADDR, else 127.0.0.1:7070)
  --json             machine-readable output (may appear anywhere after the command)

commands:
  collection create NAME --space name=S,plugin=P,index=SPEC,metric=M[,dim=N][,KEY=VALUE...]
                     [--event-type NAME=WEIGHT ...] [--unknown-items reject|create]
                     [--retention-days N] [--click-type T ...] [--conversion-type T ...]
                     [--click-window-hours H] [--conversion-window-hours H]
                     [--retrain-interval SECONDS] [--retrain-min-events N] [--retrain-epochs N]
                     (repeat --space; a token without '=' continues the previous value, so
                     index=IVF256,Flat works; other keys become plugin options)
  collection list
  collection get NAME
  collection drop NAME
  import NAME FILE.jsonl [--batch N]
                     one JSON object a line: {"id": "...", "text": "...",
                     "attributes": {...}, "vectors": {"SPACE": [floats]},
                     "image": "PATH", "dicom": "PATH" (files relative to FILE's folder),
                     "contents": [{"type": T, "file": PATH} | {"type": T, "server_path": P}]}
  import NAME u.item|movies.csv [--format movielens]
                     MovieLens movies as items: text "Title (year). Genres: ...", attributes
                     title, year, genres
  upsert NAME --id ID [--text T] [--attr KEY=VALUE ...] [--vector '[...]' [--space S]]
  upsert NAME --json '{...}'     (one object like an import line)
                     --attr values that parse as JSON (9.5, true, ["a","b"], "7") keep
                     that type; anything else is a string
  get NAME ID [--vectors]
  delete NAME ID
  similar NAME ID [-k K] [--space S] [--filter EXPR] [--ef N] [--nprobe N]
  search NAME --text "..." [-k K] [--space S] [--filter EXPR] [--ef N] [--nprobe N]
  search NAME --vector '[...]' [--space S] [-k K] [--filter EXPR] [--ef N] [--nprobe N]
  search NAME --image PATH | --dicom PATH [--space S] [-k K] [--filter EXPR]
                     (--filter 'category = "shoes" and price < 80': = != < <= > >=, in [...],
                     contains, between A and B, exists, and / or / not, parentheses)
  events import NAME FILE [--format csv|jsonl|movielens] [--batch N]
                     csv: header naming user,item,type,value,time_ms; movielens: u.data or
                     ratings.csv (ratings as events of type rating); the file is checked first
  events add NAME --user U --item I [--type T] [--value V] [--time MS] [--request-id R]
  recommend NAME --user U [-k K] [--filter EXPR] [--exclude ID,..] [--include-seen]
                 [--seen-types T,..] [--space S=W ...] [--mmr LAMBDA] [--popularity W]
                 [--freshness W] [--explain] [--variant LABEL] [--no-log] [--model ease]
                     a user's answer is logged as an impression (request id printed); later
                     clicks/purchases of its items are attributed to it
  recommend NAME --like ID,.. [--unlike ID,..] [--strategy average|best] [-k K]
  analytics top NAME [--type T] [--days D] [-k K]
  analytics trending NAME [--days D] [--half-life DAYS] [-k K]
  analytics daily NAME [--days D]
  analytics ctr NAME [--variant V] [--days D] [-k K] [--confidence C]
                     impressions, attributed clicks/conversions, CTR and conversion rate with
                     Wilson intervals, per variant and for the most shown items
  analytics coverage NAME [--variant V] [--days D]
                     catalogue coverage and Gini of the recommended items, per variant
  analytics ab NAME --a A --b B [--days D] [--confidence C]
                     variant B against A: rates, difference with its interval, lift, p-value
  eval NAME [--protocol random-80-10-10|leave-last-out] [--seed S] [-k K]
            [--strategies most-popular,item-knn,ease,bpr,content,history-profile,hybrid]
            [--event-types T,..] [--valid]
                     offline evaluation on the collection's events, full ranking
  train NAME [--space S] [--epochs N] [--lr X] [--reg X] [--seed S] [--incremental]
        [--background]
  train NAME --model ease [--neighbours N]
                     EASE's item-item weights (N strongest per item) as the collection's item
                     model, served by recommend --model ease
                     BPR-MF on the events into a space created with plugin=collaborative,dim=N;
                     prints each epoch's loss; --incremental continues from the current item
                     vectors; --background returns at once (progress in recoctl stats)
  reembed NAME SPACE [--option KEY=VALUE ...] [--fit] [--wait]
                     re-embed a plugin space in the background (new model: --option model=PATH);
                     queries answer from the old vectors until the new ones swap in;
                     --fit: the plugin first learns from the collection (text: term weights)
  backup DIR         consistent copy of the server's data in DIR (on the server's machine);
                     recod --data DIR opens it as is
  stats NAME
  plugins
  ping

--json output: similar/search: one {"rank","id","score"} object per line; stats: one
{"name","items","spaces":[{"name","vectors","dim","index","metric","plugin"}]};
get: one {"id","text","attributes","created_ms","updated_ms"[,"vectors"]};
collection list: one collection object per line.
exit status: 0 ok, 1 the command failed (message on stderr), 2 usage error.
)";

// ---- exits ----

[[noreturn]] void UsageError(const std::string& message) {
  std::cerr << "recoctl: " << message << "\n(run 'recoctl --help' for usage)\n";
  std::exit(kExitUsage);
}

[[noreturn]] void Fail(const Status& status) {
  std::cerr << "error: " << status.ToString() << "\n";
  std::exit(kExitFailed);
}

void Check(const Status& status) {
  if (!status.ok()) Fail(status);
}

// ---- command-line parsing ----

struct Options {
  std::string addr;
  bool json_output = false;
  std::optional<std::string> item_json;  // upsert --json '{...}'
  std::vector<std::string> words;        // command, subcommand, arguments and flags
};

// Pulls the global flags (--addr, --json) out of argv, wherever they are. `--json` followed
// by a JSON object is upsert's item, not the output switch.
Options ParseGlobal(int argc, char** argv) {
  Options options;
  const char* env = std::getenv("RECO_ADDR");
  options.addr = env != nullptr && *env != '\0' ? env : "127.0.0.1:7070";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h" || arg == "help") {
      std::cout << kUsage;
      std::exit(0);
    } else if (arg == "--addr") {
      if (i + 1 >= argc) UsageError("--addr needs HOST:PORT");
      options.addr = argv[++i];
    } else if (arg.rfind("--addr=", 0) == 0) {
      options.addr = arg.substr(7);
    } else if (arg == "--json") {
      if (i + 1 < argc) {
        const std::string next = argv[i + 1];
        const size_t first = next.find_first_not_of(" \t\r\n");
        if (first != std::string::npos && next[first] == '{') {
          options.item_json = next;
          ++i;
          continue;
        }
      }
      options.json_output = true;
    } else {
      options.words.push_back(arg);
    }
  }
  return options;
}

// A command's arguments: positionals, flags with values (repeatable) and switches.
class Args {
 public:
  Args(const std::string& command, const std::vector<std::string>& tokens,
       const std::set<std::string>& value_flags, const std::set<std::string>& switches) {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string token = tokens[i];
      if (token.size() < 2 || token[0] != '-' || IsNumber(token)) {
        positional_.push_back(token);
        continue;
      }
      std::optional<std::string> inline_value;
      if (const size_t eq = token.find('='); eq != std::string::npos && token[1] == '-') {
        inline_value = token.substr(eq + 1);
        token = token.substr(0, eq);
      }
      if (token == "--k") token = "-k";
      if (switches.count(token) && !inline_value) {
        switches_.insert(token);
      } else if (value_flags.count(token)) {
        if (inline_value) {
          values_[token].push_back(*inline_value);
        } else if (i + 1 < tokens.size()) {
          values_[token].push_back(tokens[++i]);
        } else {
          UsageError(command + ": " + token + " needs a value");
        }
      } else {
        UsageError(command + ": unknown flag " + token);
      }
    }
  }

  const std::vector<std::string>& positional() const { return positional_; }
  void ExpectPositional(const std::string& command, size_t n, const std::string& names) const {
    if (positional_.size() != n) UsageError("usage: recoctl " + command + " " + names);
  }
  bool Has(const std::string& flag) const { return switches_.count(flag) || values_.count(flag); }
  std::optional<std::string> Value(const std::string& flag) const {
    auto it = values_.find(flag);
    if (it == values_.end()) return std::nullopt;
    return it->second.back();
  }
  std::vector<std::string> Values(const std::string& flag) const {
    auto it = values_.find(flag);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
  }

 private:
  static bool IsNumber(const std::string& s) {
    char* end = nullptr;
    std::strtod(s.c_str(), &end);
    return end != s.c_str() && *end == '\0';
  }

  std::vector<std::string> positional_;
  std::map<std::string, std::vector<std::string>> values_;
  std::set<std::string> switches_;
};

uint64_t ParseCount(const std::string& flag, const std::string& text, uint64_t max) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos ||
      text.size() > 19 || std::stoull(text) > max) {
    UsageError(flag + " wants a whole number 0.." + std::to_string(max) + ", got '" + text + "'");
  }
  return std::stoull(text);
}

// ---- JSON <-> protobuf ----

// The shortest decimal that reads back as the same float, so 0.9f prints as 0.9.
double ShortestDouble(float value) {
  if (!std::isfinite(value)) return value;
  char buf[32];
  for (int precision = 6; precision <= 9; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, static_cast<double>(value));
    if (std::strtof(buf, nullptr) == value) break;
  }
  return std::strtod(buf, nullptr);
}

// `where` prefixes messages: "line 7: attribute 'tags'".
std::optional<std::string> ToAttribute(const json& value, v1::AttributeValue* out) {
  if (value.is_string()) {
    out->set_string_value(value.get<std::string>());
  } else if (value.is_boolean()) {
    out->set_bool_value(value.get<bool>());
  } else if (value.is_number()) {
    out->set_number_value(value.get<double>());
  } else if (value.is_array()) {
    auto* list = out->mutable_list_value();
    for (const json& element : value) {
      if (!element.is_string()) return "a list attribute must hold strings only";
      list->add_values(element.get<std::string>());
    }
  } else {
    return "an attribute must be a string, number, bool or list of strings, not " +
           std::string(value.type_name());
  }
  return std::nullopt;
}

std::optional<std::string> ToFloats(const json& value, v1::FloatVector* out) {
  if (!value.is_array()) return "a vector must be an array of numbers";
  for (const json& element : value) {
    if (!element.is_number()) return "a vector must hold numbers only";
    out->add_values(element.get<float>());
  }
  return std::nullopt;
}

// The content type of a file, from its extension.
std::string ContentTypeOf(const std::string& path, const std::string& fallback) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
  if (ext == ".png") return "image/png";
  if (ext == ".bmp") return "image/bmp";
  if (ext == ".gif") return "image/gif";
  if (ext == ".pnm" || ext == ".ppm" || ext == ".pgm" || ext == ".pbm") {
    return "image/x-portable-anymap";
  }
  if (ext == ".dcm" || ext == ".dicom") return "application/dicom";
  return fallback;
}

// Adds a content read from a file on this machine: `name` is relative to base_dir unless
// absolute. The bytes are read when the item is sent (LoadClientFiles).
std::optional<std::string> AddClientFile(const std::string& base_dir, const std::string& name,
                                         const std::string& type, v1::Item* item,
                                         std::vector<std::string>* files) {
  std::filesystem::path path(name);
  if (path.is_relative()) path = std::filesystem::path(base_dir) / path;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return "file '" + name + "' does not exist (looked for " + path.string() + ")";
  }
  v1::Content* content = item->add_contents();
  content->set_content_type(type);
  files->resize(item->contents_size());
  files->back() = path.string();
  return std::nullopt;
}

// Reads the bytes of an item's client-side files into its contents.
Status LoadClientFiles(const std::vector<std::string>& files, v1::Item* item) {
  for (size_t i = 0; i < files.size() && i < static_cast<size_t>(item->contents_size()); ++i) {
    if (files[i].empty()) continue;
    std::ifstream in(files[i], std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    if (!in) return Status::IOError("cannot read " + files[i]);
    item->mutable_contents(static_cast<int>(i))->set_data(bytes.str());
  }
  return Status::OK();
}

// One import line (or upsert --json) -> Item. Files named by "image", "dicom" or
// "contents" are relative to base_dir; their paths go to `files` (one per content, "" for
// contents that are not client files). Returns an error message or nullopt.
std::optional<std::string> ToItem(const json& object, v1::Item* item, const std::string& base_dir,
                                  std::vector<std::string>* files) {
  if (!object.is_object()) return "expected a JSON object";
  for (const auto& [key, value] : object.items()) {
    if (key == "id") {
      if (!value.is_string() || value.get<std::string>().empty()) {
        return "'id' must be a non-empty string";
      }
      item->set_id(value.get<std::string>());
    } else if (key == "text") {
      if (!value.is_string()) return "'text' must be a string";
      item->set_text(value.get<std::string>());
    } else if (key == "attributes") {
      if (!value.is_object()) return "'attributes' must be an object";
      for (const auto& [name, attribute] : value.items()) {
        if (auto error = ToAttribute(attribute, &(*item->mutable_attributes())[name])) {
          return "attribute '" + name + "': " + *error;
        }
      }
    } else if (key == "vectors") {
      if (!value.is_object()) return "'vectors' must be an object {\"SPACE\": [numbers]}";
      for (const auto& [space, vector] : value.items()) {
        if (auto error = ToFloats(vector, &(*item->mutable_vectors())[space])) {
          return "vector for space '" + space + "': " + *error;
        }
      }
    } else if (key == "image" || key == "dicom") {
      if (!value.is_string() || value.get<std::string>().empty()) {
        return "'" + key + "' must be a file path";
      }
      const std::string name = value.get<std::string>();
      const std::string fallback = key == "dicom" ? "application/dicom" : "";
      const std::string type = key == "dicom" ? "application/dicom" : ContentTypeOf(name, fallback);
      if (type.empty()) return "'image' " + name + ": unknown image type (by its extension)";
      if (auto error = AddClientFile(base_dir, name, type, item, files)) {
        return "'" + key + "': " + *error;
      }
    } else if (key == "contents") {
      // [{"type": "image/png", "file": "a.png"} | {"type": ..., "server_path": "..."}]
      if (!value.is_array()) return "'contents' must be an array";
      for (const json& c : value) {
        if (!c.is_object()) return "a content must be an object";
        const std::string type = c.value("type", "");
        if (c.contains("file") && c["file"].is_string()) {
          const std::string name = c["file"].get<std::string>();
          const std::string t = type.empty() ? ContentTypeOf(name, "") : type;
          if (t.empty()) return "content '" + name + "': give its \"type\"";
          if (auto error = AddClientFile(base_dir, name, t, item, files)) return *error;
        } else if (c.contains("server_path") && c["server_path"].is_string()) {
          v1::Content* content = item->add_contents();
          content->set_content_type(type);
          content->set_path(c["server_path"].get<std::string>());
          files->resize(item->contents_size());
        } else {
          return "a content needs \"file\" (on this machine) or \"server_path\"";
        }
      }
    } else {
      return "unknown field '" + key +
             "' (an item has id, text, attributes, vectors, image, dicom, contents)";
    }
  }
  if (item->id().empty()) return "missing 'id'";
  return std::nullopt;
}

json AttributeToJson(const v1::AttributeValue& value) {
  switch (value.value_case()) {
    case v1::AttributeValue::kStringValue:
      return value.string_value();
    case v1::AttributeValue::kNumberValue:
      return value.number_value();
    case v1::AttributeValue::kBoolValue:
      return value.bool_value();
    case v1::AttributeValue::kListValue:
      return json(std::vector<std::string>(value.list_value().values().begin(),
                                           value.list_value().values().end()));
    case v1::AttributeValue::VALUE_NOT_SET:
      break;
  }
  return nullptr;
}

json FloatsToJson(const google::protobuf::RepeatedField<float>& values) {
  json out = json::array();
  for (float v : values) out.push_back(ShortestDouble(v));
  return out;
}

json SpaceToJson(const v1::SpaceConfig& space) {
  json options = json::object();
  for (const auto& [key, value] : space.options()) options[key] = value;
  return {{"name", space.name()},     {"plugin", space.plugin()}, {"dim", space.dim()},
          {"metric", space.metric()}, {"index", space.index()},   {"options", options}};
}

json CollectionToJson(const v1::CollectionConfig& collection) {
  json spaces = json::array();
  for (const auto& space : collection.spaces()) spaces.push_back(SpaceToJson(space));
  return {{"name", collection.name()}, {"spaces", spaces}};
}

json ItemToJson(const v1::StoredItem& stored, bool with_vectors) {
  json attributes = json::object();
  for (const auto& [key, value] : stored.item().attributes()) {
    attributes[key] = AttributeToJson(value);
  }
  json out = {{"id", stored.item().id()},
              {"text", stored.item().text()},
              {"attributes", attributes},
              {"created_ms", stored.created_ms()},
              {"updated_ms", stored.updated_ms()}};
  if (stored.contents_size() > 0) {
    json contents = json::array();
    for (const auto& c : stored.contents()) {
      contents.push_back({{"content_type", c.content_type()}, {"size", c.size()}});
    }
    out["contents"] = contents;
  }
  json provenance = json::object();
  for (const auto& v : stored.vectors()) {
    provenance[v.space()] = {{"plugin", v.provenance().plugin()},
                             {"version", v.provenance().version()},
                             {"fingerprint", v.provenance().fingerprint()}};
  }
  out["spaces"] = provenance;
  if (with_vectors) {
    json vectors = json::object();
    for (const auto& v : stored.vectors()) {
      vectors[v.space()] = {{"plugin", v.provenance().plugin()},
                            {"version", v.provenance().version()},
                            {"fingerprint", v.provenance().fingerprint()},
                            {"values", FloatsToJson(v.values())}};
    }
    out["vectors"] = vectors;
  }
  return out;
}

// ---- human-readable helpers ----

std::string AttributeToText(const v1::AttributeValue& value) {
  if (value.value_case() == v1::AttributeValue::kStringValue) return value.string_value();
  return AttributeToJson(value).dump();
}

std::string OneLine(std::string text, size_t max_chars) {
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
  if (text.size() > max_chars) text = text.substr(0, max_chars - 3) + "...";
  return text;
}

std::string FormatTime(int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string SpaceSummary(const v1::SpaceConfig& space) {
  std::ostringstream out;
  out << space.name() << " (plugin " << space.plugin() << ", dim " << space.dim() << ", "
      << space.metric() << ", " << space.index();
  for (const auto& [key, value] : space.options()) out << ", " << key << "=" << value;
  out << ")";
  return out.str();
}

void PrintJsonLine(const json& value) { std::cout << value.dump() << "\n"; }

// ---- commands ----

// Connects on first use, so that usage errors and a bad import file are reported without a
// server.
class LazyClient {
 public:
  explicit LazyClient(std::string addr) : addr_(std::move(addr)) {}
  reco::api::Client* operator->() {
    if (!client_.connected()) Check(client_.Connect(addr_));
    return &client_;
  }

 private:
  std::string addr_;
  reco::api::Client client_;
};

struct Context {
  LazyClient& client;
  bool json_output;
  std::string addr;
  std::optional<std::string> item_json;
};

// "name=S,plugin=P,index=IVF256,Flat,metric=M,dim=4,model=/m.pt"
v1::SpaceConfig ParseSpace(const std::string& spec) {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::stringstream tokens(spec);
  std::string token;
  while (std::getline(tokens, token, ',')) {
    const size_t eq = token.find('=');
    if (eq == std::string::npos) {
      if (pairs.empty()) UsageError("--space '" + spec + "': expected KEY=VALUE pairs");
      pairs.back().second += "," + token;
    } else {
      pairs.emplace_back(token.substr(0, eq), token.substr(eq + 1));
    }
  }
  v1::SpaceConfig space;
  for (const auto& [key, value] : pairs) {
    if (key == "name") {
      space.set_name(value);
    } else if (key == "plugin") {
      space.set_plugin(value);
    } else if (key == "index") {
      space.set_index(value);
    } else if (key == "metric") {
      space.set_metric(value);
    } else if (key == "dim") {
      space.set_dim(static_cast<uint32_t>(ParseCount("--space dim", value, UINT32_MAX)));
    } else if (key == "ef_construction" || key == "ef_search" || key == "nprobe" ||
               key == "train_threshold") {
      (*space.mutable_index_options())[key] = value;
    } else if (key.empty()) {
      UsageError("--space '" + spec + "': empty key");
    } else {
      (*space.mutable_options())[key] = value;
    }
  }
  if (space.name().empty()) UsageError("--space '" + spec + "': name=... is required");
  return space;
}

int CollectionCommand(const Context& ctx, const std::vector<std::string>& words) {
  if (words.size() < 2) UsageError("usage: recoctl collection create|list|get|drop ...");
  const std::string& sub = words[1];
  const std::string command = "collection " + sub;
  const std::vector<std::string> rest(words.begin() + 2, words.end());
  if (sub == "create") {
    Args args(command, rest,
              {"--space", "--event-type", "--unknown-items", "--retention-days", "--click-type",
               "--conversion-type", "--click-window-hours", "--conversion-window-hours",
               "--retrain-interval", "--retrain-min-events", "--retrain-epochs"},
              {});
    args.ExpectPositional(command, 1, "NAME --space name=S,plugin=P,... [--space ...]");
    v1::CreateCollectionRequest request;
    request.set_name(args.positional()[0]);
    for (const std::string& spec : args.Values("--space")) {
      *request.add_spaces() = ParseSpace(spec);
    }
    for (const std::string& spec : args.Values("--event-type")) {
      const size_t eq = spec.find('=');
      v1::EventType* t = request.add_event_types();
      t->set_name(spec.substr(0, eq));
      t->set_weight(eq == std::string::npos ? 1.0 : std::strtod(spec.c_str() + eq + 1, nullptr));
    }
    if (auto v = args.Value("--unknown-items")) request.set_unknown_items(*v);
    if (auto v = args.Value("--retention-days")) {
      request.set_retention_days(static_cast<uint32_t>(ParseCount("--retention-days", *v, 36500)));
    }
    for (const std::string& t : args.Values("--click-type")) request.add_click_types(t);
    for (const std::string& t : args.Values("--conversion-type")) request.add_conversion_types(t);
    if (auto v = args.Value("--click-window-hours")) {
      request.set_click_window_hours(
          static_cast<uint32_t>(ParseCount("--click-window-hours", *v, 8760)));
    }
    if (auto v = args.Value("--conversion-window-hours")) {
      request.set_conversion_window_hours(
          static_cast<uint32_t>(ParseCount("--conversion-window-hours", *v, 8760)));
    }
    if (auto v = args.Value("--retrain-interval")) {
      request.set_retrain_interval_s(
          static_cast<uint32_t>(ParseCount("--retrain-interval", *v, 31536000)));
    }
    if (auto v = args.Value("--retrain-min-events")) {
      request.set_retrain_min_events(
          static_cast<uint32_t>(ParseCount("--retrain-min-events", *v, UINT32_MAX)));
    }
    if (auto v = args.Value("--retrain-epochs")) {
      request.set_retrain_epochs(static_cast<uint32_t>(ParseCount("--retrain-epochs", *v, 10000)));
    }
    if (request.spaces_size() == 0) UsageError(command + ": at least one --space is required");
    Check(ctx.client->CreateCollection(request));
    if (ctx.json_output) {
      PrintJsonLine({{"collection", request.name()}, {"created", true}});
    } else {
      std::cout << "created collection " << request.name() << "\n";
    }
  } else if (sub == "list") {
    Args args(command, rest, {}, {});
    args.ExpectPositional(command, 0, "");
    std::vector<v1::CollectionConfig> collections;
    Check(ctx.client->ListCollections(&collections));
    for (const auto& collection : collections) {
      if (ctx.json_output) {
        PrintJsonLine(CollectionToJson(collection));
        continue;
      }
      std::cout << collection.name();
      for (int i = 0; i < collection.spaces_size(); ++i) {
        std::cout << (i == 0 ? "  " : ", ") << SpaceSummary(collection.spaces(i));
      }
      std::cout << "\n";
    }
    if (collections.empty() && !ctx.json_output) std::cout << "(no collections)\n";
  } else if (sub == "get") {
    Args args(command, rest, {}, {});
    args.ExpectPositional(command, 1, "NAME");
    v1::CollectionConfig collection;
    Check(ctx.client->GetCollection(args.positional()[0], &collection));
    if (ctx.json_output) {
      PrintJsonLine(CollectionToJson(collection));
    } else {
      std::cout << "collection " << collection.name() << "\n";
      for (const auto& space : collection.spaces()) {
        std::cout << "  space " << SpaceSummary(space) << "\n";
      }
    }
  } else if (sub == "drop") {
    Args args(command, rest, {}, {});
    args.ExpectPositional(command, 1, "NAME");
    Check(ctx.client->DropCollection(args.positional()[0]));
    if (ctx.json_output) {
      PrintJsonLine({{"collection", args.positional()[0]}, {"dropped", true}});
    } else {
      std::cout << "dropped collection " << args.positional()[0] << "\n";
    }
  } else {
    UsageError("unknown command 'collection " + sub + "' (create, list, get, drop)");
  }
  return 0;
}

// The file position of each item: `lines[i]` is the 1-based line of item i.
struct ParsedFile {
  std::vector<v1::Item> items;
  std::vector<std::vector<std::string>> files;  // per item: client files of its contents
  std::vector<size_t> lines;
  size_t last_line = 0;
};

ParsedFile ReadJsonLines(const std::string& path) {
  const std::string base_dir = std::filesystem::absolute(path).parent_path().string();
  std::ifstream in(path);
  if (!in) Fail(Status::IOError("cannot open " + path));
  ParsedFile file;
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const json object = json::parse(line, nullptr, /*allow_exceptions=*/false);
    std::optional<std::string> error;
    v1::Item item;
    std::vector<std::string> files;
    if (object.is_discarded()) {
      error = "not valid JSON";
    } else {
      error = ToItem(object, &item, base_dir, &files);
    }
    if (error) {
      Fail(Status::InvalidArgument(path + " line " + std::to_string(number) + ": " + *error +
                                   "; nothing was imported"));
    }
    file.items.push_back(std::move(item));
    file.files.push_back(std::move(files));
    file.lines.push_back(number);
    file.last_line = number;
  }
  if (in.bad()) Fail(Status::IOError("error reading " + path + "; nothing was imported"));
  return file;
}

// Finds which item of a refused batch the server's message names: "item 3 (id 'sku-9'): ..."
// (the position counts from 0 within the batch; the id may be cut short).
std::optional<size_t> FailedItem(const std::string& message, const ParsedFile& file, size_t begin,
                                 size_t end) {
  const size_t open = message.find("(id '");
  const size_t close = open == std::string::npos ? open : message.find("')", open + 5);
  if (close == std::string::npos) return std::nullopt;
  const std::string id = message.substr(open + 5, close - open - 5);
  auto matches = [&](size_t i) { return i < end && file.items[i].id().rfind(id, 0) == 0; };
  const size_t item = message.rfind("item ", open);
  if (item != std::string::npos) {
    const size_t position = std::strtoull(message.c_str() + item + 5, nullptr, 10);
    if (matches(begin + position)) return begin + position;
  }
  for (size_t i = begin; i < end; ++i) {
    if (matches(i)) return i;
  }
  return std::nullopt;
}

// Latin-1 text (MovieLens 100K's u.item) as UTF-8; valid UTF-8 stays as it is.
std::string ToUtf8(const std::string& text) {
  bool ascii = true;
  for (unsigned char c : text) ascii &= c < 0x80;
  if (ascii) return text;
  // Valid UTF-8? (a light check: lead bytes followed by the right number of continuations)
  bool valid = true;
  for (size_t i = 0; i < text.size() && valid;) {
    const unsigned char c = text[i];
    const size_t n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 9;
    if (n == 9 || i + n >= text.size() + (n == 0 ? 1 : 0)) valid = n == 0;
    for (size_t j = 1; valid && j <= n; ++j) {
      valid = i + j < text.size() && (static_cast<unsigned char>(text[i + j]) >> 6) == 2;
    }
    i += n + 1;
  }
  if (valid) return text;
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

// MovieLens movies as items: u.item (100K: id|title|date|video|url|19 genre flags) or
// movies.csv (movieId,title,genres with '|'). Text "Title (year). Genres: A, B"; attributes
// title, year, genres. Ids are the movie ids the ratings files use.
ParsedFile ReadMovieLensItems(const std::string& path) {
  static const char* kGenres100k[] = {
      "unknown",     "Action", "Adventure", "Animation", "Children's", "Comedy",  "Crime",
      "Documentary", "Drama",  "Fantasy",   "Film-Noir", "Horror",     "Musical", "Mystery",
      "Romance",     "Sci-Fi", "Thriller",  "War",       "Western"};
  std::ifstream in(path);
  if (!in) Fail(Status::IOError("cannot open " + path));
  ParsedFile file;
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (number == 1 && line.rfind("movieId,", 0) == 0) continue;  // the csv header
    std::string id, title;
    std::vector<std::string> genres;
    if (line.find('|') != std::string::npos && line.find(',') > line.find('|')) {
      std::vector<std::string> fields;
      std::stringstream fs(line);
      std::string f;
      while (std::getline(fs, f, '|')) fields.push_back(f);
      if (fields.size() < 5 + 19) {
        Fail(Status::InvalidArgument(path + " line " + std::to_string(number) +
                                     ": expected a u.item line (id|title|date|video|url|19 "
                                     "genre flags); nothing was imported"));
      }
      id = fields[0];
      title = ToUtf8(fields[1]);
      for (size_t g = 0; g < 19; ++g) {
        if (fields[5 + g] == "1" && g > 0) genres.push_back(kGenres100k[g]);
      }
    } else {
      // movieId,title,genres — the title may be quoted ("Bird, The (1999)").
      const size_t comma = line.find(',');
      const size_t last = line.rfind(',');
      if (comma == std::string::npos || last == comma) {
        Fail(Status::InvalidArgument(path + " line " + std::to_string(number) +
                                     ": expected movieId,title,genres; nothing was imported"));
      }
      id = line.substr(0, comma);
      title = line.substr(comma + 1, last - comma - 1);
      if (title.size() >= 2 && title.front() == '"' && title.back() == '"') {
        title = title.substr(1, title.size() - 2);
        for (size_t q = title.find("\"\""); q != std::string::npos; q = title.find("\"\"", q + 1)) {
          title.erase(q, 1);
        }
      }
      title = ToUtf8(title);
      std::stringstream gs(line.substr(last + 1));
      std::string g;
      while (std::getline(gs, g, '|')) {
        if (!g.empty() && g != "(no genres listed)") genres.push_back(g);
      }
    }
    if (id.empty() || title.empty()) {
      Fail(Status::InvalidArgument(path + " line " + std::to_string(number) +
                                   ": a movie needs an id and a title; nothing was imported"));
    }
    v1::Item item;
    item.set_id(id);
    std::string text = title;
    if (!genres.empty()) {
      text += ". Genres:";
      for (size_t g = 0; g < genres.size(); ++g) text += (g ? ", " : " ") + genres[g];
    }
    item.set_text(text);
    (*item.mutable_attributes())["title"].set_string_value(title);
    const size_t open = title.rfind('(');
    if (open != std::string::npos && title.size() >= open + 6 && title[open + 5] == ')') {
      const int year = std::atoi(title.c_str() + open + 1);
      if (year > 1800) (*item.mutable_attributes())["year"].set_number_value(year);
    }
    auto* list = (*item.mutable_attributes())["genres"].mutable_list_value();
    for (const auto& g : genres) list->add_values(g);
    file.items.push_back(std::move(item));
    file.files.emplace_back();
    file.lines.push_back(number);
    file.last_line = number;
  }
  if (in.bad()) Fail(Status::IOError("error reading " + path + "; nothing was imported"));
  return file;
}

int ImportCommand(const Context& ctx, const std::vector<std::string>& words) {
  Args args("import", std::vector<std::string>(words.begin() + 1, words.end()),
            {"--batch", "--format"}, {});
  args.ExpectPositional("import", 2, "NAME FILE [--format jsonl|movielens] [--batch N]");
  const std::string& collection = args.positional()[0];
  const std::string& path = args.positional()[1];
  size_t batch = kDefaultBatch;
  if (auto value = args.Value("--batch")) batch = ParseCount("--batch", *value, 1000000);
  if (batch == 0) UsageError("--batch must be at least 1");
  std::string format = args.Value("--format").value_or("");
  if (format.empty()) {
    const std::string name = std::filesystem::path(path).filename().string();
    format = name == "u.item" || name == "movies.csv" ? "movielens" : "jsonl";
  }
  if (format != "jsonl" && format != "movielens") {
    UsageError("import: --format must be jsonl or movielens, not '" + format + "'");
  }

  // The whole file is checked before any write.
  const ParsedFile file = format == "movielens" ? ReadMovieLensItems(path) : ReadJsonLines(path);
  for (size_t begin = 0; begin < file.items.size(); begin += batch) {
    const size_t end = std::min(begin + batch, file.items.size());
    v1::UpsertRequest request;
    request.set_collection(collection);
    for (size_t i = begin; i < end; ++i) {
      v1::Item* item = request.add_items();
      *item = file.items[i];
      const Status read = LoadClientFiles(file.files[i], item);
      if (!read.ok()) {
        Fail(read.WithContext(
            path + " line " + std::to_string(file.lines[i]) + ": " +
            (begin == 0 ? std::string("nothing was imported")
                        : "lines 1-" + std::to_string(file.lines[begin - 1]) + " were imported")));
      }
    }
    const Status status = ctx.client->Upsert(std::move(request));
    if (status.ok()) continue;

    const std::string kept =
        begin == 0 ? "nothing was imported"
                   : "lines 1-" + std::to_string(file.lines[begin - 1]) + " were imported";
    const std::string first_not = std::to_string(file.lines[begin]);
    const std::string last = std::to_string(file.last_line);
    std::string where = path + " lines " + first_not + "-" + std::to_string(file.lines[end - 1]);
    if (auto failed = FailedItem(status.message(), file, begin, end)) {
      where = path + " line " + std::to_string(file.lines[*failed]);
    }
    std::string fate;
    if (status.code() == Status::Code::kIOError) {
      // The answer was lost: the server may or may not have applied this batch.
      fate = kept + "; lines " + first_not + "-" + std::to_string(file.lines[end - 1]) +
             " may have been imported; lines after " + std::to_string(file.lines[end - 1]) +
             " were not";
    } else {
      fate = kept + "; lines " + first_not + "-" + last + " were not";
    }
    Fail(Status(status.code(), where + ": " + status.message() + "; " + fate));
  }
  if (ctx.json_output) {
    PrintJsonLine({{"collection", collection}, {"imported", file.items.size()}});
  } else {
    std::cout << "imported " << file.items.size() << " items into " << collection << "\n";
  }
  return 0;
}

// Parses '[0.1, 0.2]' from a flag.
v1::FloatVector ParseVectorFlag(const std::string& text) {
  const json value = json::parse(text, nullptr, false);
  v1::FloatVector vector;
  if (value.is_discarded()) UsageError("--vector '" + text + "' is not a JSON array");
  if (auto error = ToFloats(value, &vector)) UsageError("--vector: " + *error);
  return vector;
}

// The space a flag names, or the collection's first space.
std::string SpaceOrFirst(const Context& ctx, const Args& args, const std::string& collection) {
  if (auto space = args.Value("--space")) return *space;
  v1::CollectionConfig config;
  Check(ctx.client->GetCollection(collection, &config));
  if (config.spaces_size() == 0) UsageError("collection " + collection + " has no space");
  return config.spaces(0).name();
}

int UpsertCommand(const Context& ctx, const std::vector<std::string>& words) {
  Args args("upsert", std::vector<std::string>(words.begin() + 1, words.end()),
            {"--id", "--text", "--attr", "--vector", "--space"}, {});
  args.ExpectPositional("upsert", 1, "NAME --id ID [...] | NAME --json '{...}'");
  const std::string& collection = args.positional()[0];
  v1::Item item;
  if (ctx.item_json) {
    if (args.Has("--id") || args.Has("--text") || args.Has("--attr") || args.Has("--vector")) {
      UsageError("upsert: use either --json '{...}' or --id/--text/--attr/--vector");
    }
    const json object = json::parse(*ctx.item_json, nullptr, false);
    if (object.is_discarded()) UsageError("upsert --json: not valid JSON");
    std::vector<std::string> files;
    if (auto error = ToItem(object, &item, std::filesystem::current_path().string(), &files)) {
      UsageError("upsert --json: " + *error);
    }
    Check(LoadClientFiles(files, &item));
  } else {
    auto id = args.Value("--id");
    if (!id || id->empty()) UsageError("upsert: --id ID (or --json '{...}') is required");
    item.set_id(*id);
    if (auto text = args.Value("--text")) item.set_text(*text);
    for (const std::string& attr : args.Values("--attr")) {
      const size_t eq = attr.find('=');
      if (eq == std::string::npos || eq == 0) UsageError("--attr wants KEY=VALUE, got " + attr);
      const std::string raw = attr.substr(eq + 1);
      json value = json::parse(raw, nullptr, false);
      if (value.is_discarded() || value.is_null() || value.is_object()) value = raw;
      v1::AttributeValue& out = (*item.mutable_attributes())[attr.substr(0, eq)];
      if (auto error = ToAttribute(value, &out)) UsageError("--attr " + attr + ": " + *error);
    }
    if (auto vector = args.Value("--vector")) {
      (*item.mutable_vectors())[SpaceOrFirst(ctx, args, collection)] = ParseVectorFlag(*vector);
    }
  }
  v1::UpsertRequest request;
  request.set_collection(collection);
  *request.add_items() = item;
  Check(ctx.client->Upsert(std::move(request)));
  if (ctx.json_output) {
    PrintJsonLine({{"collection", collection}, {"id", item.id()}, {"upserted", true}});
  } else {
    std::cout << "upserted " << item.id() << " into " << collection << "\n";
  }
  return 0;
}

int GetCommand(const Context& ctx, const std::vector<std::string>& words) {
  Args args("get", std::vector<std::string>(words.begin() + 1, words.end()), {}, {"--vectors"});
  args.ExpectPositional("get", 2, "NAME ID [--vectors]");
  const bool with_vectors = args.Has("--vectors");
  v1::StoredItem stored;
  Check(ctx.client->Get(args.positional()[0], args.positional()[1], with_vectors, &stored));
  if (ctx.json_output) {
    PrintJsonLine(ItemToJson(stored, with_vectors));
    return 0;
  }
  const v1::Item& item = stored.item();
  std::cout << "id:       " << item.id() << "\n"
            << "text:     " << OneLine(item.text(), 200) << "\n"
            << "created:  " << FormatTime(stored.created_ms()) << "\n"
            << "updated:  " << FormatTime(stored.updated_ms()) << "\n";
  std::map<std::string, std::string> attributes;  // sorted for stable output
  for (const auto& [key, value] : item.attributes()) attributes[key] = AttributeToText(value);
  if (!attributes.empty()) std::cout << "attributes:\n";
  for (const auto& [key, value] : attributes) std::cout << "  " << key << ": " << value << "\n";
  if (with_vectors) {
    std::cout << "vectors:\n";
    for (const auto& v : stored.vectors()) {
      std::cout << "  " << v.space() << " (dim " << v.values_size() << ", plugin "
                << v.provenance().plugin();
      if (!v.provenance().version().empty()) std::cout << " " << v.provenance().version();
      if (!v.provenance().fingerprint().empty()) {
        std::cout << ", model " << v.provenance().fingerprint();
      }
      std::cout << "): " << OneLine(FloatsToJson(v.values()).dump(), 100) << "\n";
    }
  }
  return 0;
}

int DeleteCommand(const Context& ctx, const std::vector<std::string>& words) {
  Args args("delete", std::vector<std::string>(words.begin() + 1, words.end()), {}, {});
  args.ExpectPositional("delete", 2, "NAME ID");
  Check(ctx.client->Delete(args.positional()[0], args.positional()[1]));
  if (ctx.json_output) {
    PrintJsonLine(
        {{"collection", args.positional()[0]}, {"id", args.positional()[1]}, {"deleted", true}});
  } else {
    std::cout << "deleted " << args.positional()[1] << " from " << args.positional()[0] << "\n";
  }
  return 0;
}

void PrintHits(const Context& ctx, const std::string& collection,
               const std::vector<v1::Hit>& hits) {
  if (ctx.json_output) {
    for (size_t i = 0; i < hits.size(); ++i) {
      PrintJsonLine(
          {{"rank", i + 1}, {"id", hits[i].id()}, {"score", ShortestDouble(hits[i].score())}});
    }
    return;
  }
  if (hits.empty()) {
    std::cout << "(no results)\n";
    return;
  }
  size_t id_width = 2;
  for (const auto& hit : hits) id_width = std::max(id_width, hit.id().size());
  std::cout << std::setw(4) << "rank"
            << "  " << std::left << std::setw(id_width) << "id" << std::right << "  "
            << std::setw(10) << "score"
            << "  title\n";
  for (size_t i = 0; i < hits.size(); ++i) {
    // A title makes the table readable; one Get per hit is cheap next to a search.
    std::string title;
    v1::StoredItem stored;
    if (ctx.client->Get(collection, hits[i].id(), false, &stored).ok()) {
      auto it = stored.item().attributes().find("title");
      title = it != stored.item().attributes().end() ? AttributeToText(it->second)
                                                     : stored.item().text();
    }
    std::cout << std::setw(4) << i + 1 << "  " << std::left << std::setw(id_width) << hits[i].id()
              << std::right << "  " << std::setw(10) << std::fixed << std::setprecision(4)
              << hits[i].score() << "  " << OneLine(title, 60) << "\n";
  }
}

uint32_t KFlag(const Args& args) {
  if (auto k = args.Value("-k")) return static_cast<uint32_t>(ParseCount("-k", *k, UINT32_MAX));
  return kDefaultK;
}

// --filter, --ef and --nprobe, shared by similar and search.
void SearchKnobs(const Args& args, v1::SearchRequest* request) {
  if (auto f = args.Value("--filter")) request->set_filter(*f);
  if (auto ef = args.Value("--ef")) {
    request->set_ef(static_cast<uint32_t>(ParseCount("--ef", *ef, UINT32_MAX)));
  }
  if (auto nprobe = args.Value("--nprobe")) {
    request->set_nprobe(static_cast<uint32_t>(ParseCount("--nprobe", *nprobe, UINT32_MAX)));
  }
}

int SimilarCommand(const Context& ctx, const std::vector<std::string>& words) {
  Args args("similar", std::vector<std::string>(words.begin() + 1, words.end()),
            {"-k", "--space", "--filter", "--ef", "--nprobe"}, {});
  args.ExpectPositional("similar", 2, "NAME ID [-k K] [--space S] [--filter EXPR]");
  v1::SearchRequest request;
  request.set_collection(args.positional()[0]);
  request.set_item_id(args.positional()[1]);
  request.set_space(args.Value("--space").value_or(""));
  request.set_k(KFlag(args));
  SearchKnobs(args, &request);
  std::vector<v1::Hit> hits;
  Check(ctx.client->Search(request, &hits));
  PrintHits(ctx, request.collection(), hits);
  return 0;
}

int SearchCommand(const Context& ctx, const std::vector<std::string>& words) {
  Args args(
      "search", std::vector<std::string>(words.begin() + 1, words.end()),
      {"-k", "--space", "--text", "--vector", "--image", "--dicom", "--filter", "--ef", "--nprobe"},
      {});
  args.ExpectPositional("search", 1,
                        "NAME (--text \"...\" | --vector '[...]' | --image PATH | --dicom PATH) "
                        "[-k K] [--space S] [--filter EXPR]");
  v1::SearchRequest request;
  request.set_collection(args.positional()[0]);
  request.set_space(args.Value("--space").value_or(""));
  request.set_k(KFlag(args));
  SearchKnobs(args, &request);
  const auto text = args.Value("--text");
  const auto vector = args.Value("--vector");
  const auto image = args.Value("--image");
  const auto dicom = args.Value("--dicom");
  if (text.has_value() + vector.has_value() + image.has_value() + dicom.has_value() != 1) {
    UsageError("search: give exactly one of --text, --vector, --image and --dicom");
  }
  if (text) request.set_text(*text);
  if (vector) *request.mutable_vector() = ParseVectorFlag(*vector);
  if (image || dicom) {
    const std::string path = image ? *image : *dicom;
    const std::string type =
        dicom ? std::string("application/dicom") : ContentTypeOf(path, "image/jpeg");
    v1::Item holder;
    std::vector<std::string> files;
    if (auto error =
            AddClientFile(std::filesystem::current_path().string(), path, type, &holder, &files)) {
      UsageError("search: " + *error);
    }
    Check(LoadClientFiles(files, &holder));
    *request.mutable_content() = holder.contents(0);
  }
  std::vector<v1::Hit> hits;
  Check(ctx.client->Search(request, &hits));
  PrintHits(ctx, request.collection(), hits);
  return 0;
}

int StatsCommand(const Context& ctx, const std::vector<std::string>& words) {
  Args args("stats", std::vector<std::string>(words.begin() + 1, words.end()), {}, {});
  args.ExpectPositional("stats", 1, "NAME");
  v1::StatsResponse stats;
  Check(ctx.client->Stats(args.positional()[0], &stats));
  if (ctx.json_output) {
    json spaces = json::array();
    for (const auto& s : stats.spaces()) {
      spaces.push_back({{"name", s.name()},
                        {"vectors", s.vectors()},
                        {"dim", s.dim()},
                        {"index", s.index()},
                        {"metric", s.metric()},
                        {"plugin", s.plugin()},
                        {"backend", s.backend()},
                        {"trained", s.trained()},
                        {"tombstones", s.tombstones()},
                        {"rebuild_pending", s.rebuild_pending()},
                        {"memory_bytes", s.memory_bytes()},
                        {"snapshot_seq", s.snapshot_seq()},
                        {"fingerprint", s.fingerprint()},
                        {"reembed_state", s.reembed_state()},
                        {"reembed_done", s.reembed_done()},
                        {"reembed_total", s.reembed_total()}});
      if (s.plugin() == "collaborative") {
        spaces.back()["train_state"] = s.train_state();
        spaces.back()["train_epoch"] = s.train_epoch();
        spaces.back()["train_epochs"] = s.train_epochs();
        spaces.back()["train_loss"] = s.train_loss();
        spaces.back()["trained_ms"] = s.trained_ms();
      }
    }
    PrintJsonLine({{"name", stats.name()},
                   {"items", stats.items()},
                   {"spaces", spaces},
                   {"attribute_index_bytes", stats.attribute_index_bytes()},
                   {"disk_bytes", stats.disk_bytes()},
                   {"change_seq", stats.change_seq()}});
    return 0;
  }
  auto mib = [](uint64_t bytes) {
    std::ostringstream out;
    out << std::fixed << std::setprecision(1) << bytes / 1048576.0 << " MiB";
    return out.str();
  };
  std::cout << "collection " << stats.name() << ": " << stats.items() << " items, "
            << stats.change_seq() << " writes, attribute index "
            << mib(stats.attribute_index_bytes()) << ", disk " << mib(stats.disk_bytes()) << "\n";
  for (const auto& s : stats.spaces()) {
    std::cout << "  space " << s.name() << ": " << s.vectors() << " vectors, dim " << s.dim()
              << ", " << s.metric() << ", index " << s.index() << " (" << s.backend()
              << (s.trained() ? "" : ", untrained: exact until enough vectors") << "), "
              << s.tombstones() << " tombstones, memory " << mib(s.memory_bytes()) << ", plugin "
              << s.plugin();
    if (!s.train_state().empty()) {
      std::cout << ", training " << s.train_state() << " (epoch " << s.train_epoch() << "/"
                << s.train_epochs() << ", loss " << s.train_loss() << ")";
    }
    std::cout << "\n";
  }
  return 0;
}

int ReembedCommand(const Context& ctx, const std::vector<std::string>& words) {
  Args args("reembed", std::vector<std::string>(words.begin() + 1, words.end()), {"--option"},
            {"--wait", "--fit"});
  args.ExpectPositional("reembed", 2, "NAME SPACE [--option KEY=VALUE ...] [--fit] [--wait]");
  const std::string& collection = args.positional()[0];
  const std::string& space = args.positional()[1];
  std::map<std::string, std::string> options;
  for (const std::string& kv : args.Values("--option")) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      UsageError("--option wants KEY=VALUE, got '" + kv + "'");
    options[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  Check(ctx.client->Reembed(collection, space, options, args.Has("--fit")));
  if (!args.Has("--wait")) {
    if (ctx.json_output) {
      PrintJsonLine({{"ok", true}, {"state", "running"}});
    } else {
      std::cout << "re-embedding " << collection << "/" << space
                << " in the background (see: recoctl stats " << collection << ")\n";
    }
    return 0;
  }
  for (;;) {
    v1::StatsResponse stats;
    Check(ctx.client->Stats(collection, &stats));
    for (const auto& s : stats.spaces()) {
      if (s.name() != space) continue;
      if (s.reembed_state() == "done" || s.reembed_state().rfind("failed", 0) == 0) {
        const bool ok = s.reembed_state() == "done";
        if (ctx.json_output) {
          PrintJsonLine({{"ok", ok},
                         {"state", s.reembed_state()},
                         {"items", s.reembed_total()},
                         {"fingerprint", s.fingerprint()}});
        } else {
          std::cout << "re-embedding " << collection << "/" << space << ": " << s.reembed_state()
                    << " (" << s.reembed_done() << " of " << s.reembed_total() << " items)\n";
        }
        return ok ? 0 : 1;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// ---- events, recommendations, analytics ----

// Splits "a,b,c".
std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

// One line of an events file -> Event; nullopt + error for a malformed line.
std::optional<std::string> ParseEventLine(const std::string& format, const std::string& line,
                                          const std::vector<std::string>& header, v1::Event* e) {
  if (format == "jsonl") {
    const json o = json::parse(line, nullptr, false);
    if (!o.is_object()) return "not a JSON object";
    for (const auto& [key, value] : o.items()) {
      if (key == "user" || key == "item") {
        std::string v = value.is_string()           ? value.get<std::string>()
                        : value.is_number_integer() ? std::to_string(value.get<int64_t>())
                                                    : "";
        if (v.empty()) return "'" + key + "' must be a non-empty string or integer";
        (key == "user" ? *e->mutable_user() : *e->mutable_item()) = v;
      } else if (key == "type") {
        if (!value.is_string()) return "'type' must be a string";
        e->set_type(value.get<std::string>());
      } else if (key == "value") {
        if (!value.is_number()) return "'value' must be a number";
        e->set_value(value.get<double>());
      } else if (key == "time_ms" || key == "time") {
        if (!value.is_number_integer()) return "'" + key + "' must be an integer";
        e->set_time_ms(key == "time" ? value.get<int64_t>() * 1000 : value.get<int64_t>());
      } else if (key == "request_id") {
        if (!value.is_string()) return "'request_id' must be a string";
        e->set_request_id(value.get<std::string>());
      } else {
        return "unknown field '" + key +
               "' (an event has user, item, type, value, time_ms, request_id)";
      }
    }
    if (e->user().empty() || e->item().empty()) return "an event needs 'user' and 'item'";
    return std::nullopt;
  }
  // movielens (u.data: tab-separated user item rating unix-seconds, or ratings.csv) and csv.
  std::vector<std::string> fields;
  const char sep = line.find('\t') != std::string::npos ? '\t' : ',';
  std::stringstream in(line);
  std::string field;
  while (std::getline(in, field, sep)) fields.push_back(field);
  if (format == "movielens") {
    if (fields.size() < 4) return "expected user, item, rating, timestamp";
    char* end = nullptr;
    double rating = std::strtod(fields[2].c_str(), &end);
    long long seconds = std::strtoll(fields[3].c_str(), nullptr, 10);
    if (fields[0].empty() || fields[1].empty() || end == fields[2].c_str()) {
      return "expected user, item, rating, timestamp";
    }
    e->set_user(fields[0]);
    e->set_item(fields[1]);
    e->set_type("rating");
    e->set_value(rating);
    e->set_time_ms(seconds * 1000);
    return std::nullopt;
  }
  // csv with a header naming the columns: user, item, type, value, time_ms (or time, seconds).
  if (fields.size() != header.size()) {
    return "has " + std::to_string(fields.size()) + " columns; the header has " +
           std::to_string(header.size());
  }
  for (size_t i = 0; i < fields.size(); ++i) {
    const std::string& h = header[i];
    if (h == "user")
      e->set_user(fields[i]);
    else if (h == "item")
      e->set_item(fields[i]);
    else if (h == "type")
      e->set_type(fields[i]);
    else if (h == "value")
      e->set_value(std::strtod(fields[i].c_str(), nullptr));
    else if (h == "time_ms")
      e->set_time_ms(std::strtoll(fields[i].c_str(), nullptr, 10));
    else if (h == "time")
      e->set_time_ms(std::strtoll(fields[i].c_str(), nullptr, 10) * 1000);
    else if (h == "request_id")
      e->set_request_id(fields[i]);
  }
  if (e->user().empty() || e->item().empty()) return "an event needs a user and an item";
  return std::nullopt;
}

int EventsCommand(const Context& ctx, const std::vector<std::string>& words) {
  if (words.size() < 2) UsageError("usage: recoctl events import|add ...");
  const std::string sub = words[1];
  const std::vector<std::string> rest(words.begin() + 2, words.end());
  if (sub == "add") {
    Args args("events add", rest,
              {"--user", "--item", "--type", "--value", "--time", "--request-id"}, {});
    args.ExpectPositional("events add", 1, "NAME --user U --item I [--type T] [--value V]");
    v1::Request req;
    v1::AddEventsRequest* r = req.mutable_add_events();
    r->set_collection(args.positional()[0]);
    v1::Event* e = r->add_events();
    e->set_user(args.Value("--user").value_or(""));
    e->set_item(args.Value("--item").value_or(""));
    e->set_type(args.Value("--type").value_or("view"));
    if (auto v = args.Value("--value")) e->set_value(std::strtod(v->c_str(), nullptr));
    if (auto v = args.Value("--time")) e->set_time_ms(std::strtoll(v->c_str(), nullptr, 10));
    e->set_request_id(args.Value("--request-id").value_or(""));
    v1::Response resp;
    Check(ctx.client->Call(req, &resp));
    if (ctx.json_output) {
      PrintJsonLine({{"accepted", resp.add_events().accepted()},
                     {"attributed", resp.add_events().attributed()}});
    } else {
      std::cout << "stored 1 event"
                << (resp.add_events().attributed() ? " (attributed to a recommendation)" : "")
                << "\n";
    }
    return 0;
  }
  if (sub != "import") UsageError("unknown command 'events " + sub + "' (import, add)");
  Args args("events import", rest, {"--format", "--batch"}, {});
  args.ExpectPositional("events import", 2, "NAME FILE [--format csv|jsonl|movielens]");
  const std::string& collection = args.positional()[0];
  const std::string& path = args.positional()[1];
  std::string format = args.Value("--format").value_or("");
  if (format.empty()) {
    const std::string ext = std::filesystem::path(path).extension().string();
    const std::string name = std::filesystem::path(path).filename().string();
    format = ext == ".jsonl" || ext == ".json"           ? "jsonl"
             : name == "u.data" || name == "ratings.csv" ? "movielens"
                                                         : "csv";
  }
  if (format != "csv" && format != "jsonl" && format != "movielens") {
    UsageError("--format must be csv, jsonl or movielens");
  }
  size_t batch = 5000;
  if (auto v = args.Value("--batch")) batch = ParseCount("--batch", *v, 100000);
  if (batch == 0) UsageError("--batch must be at least 1");
  // Check the whole file first: a malformed line imports nothing.
  std::ifstream in(path);
  if (!in) Fail(Status::IOError("cannot open " + path));
  std::vector<v1::Event> events;
  std::vector<size_t> lines;
  std::vector<std::string> header;
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (number == 1 &&
        (format == "csv" || (format == "movielens" && line.rfind("userId", 0) == 0))) {
      header = SplitList(line);  // csv: the column names; ratings.csv: its header
      continue;
    }
    v1::Event e;
    if (auto error = ParseEventLine(format, line, header, &e)) {
      Fail(Status::InvalidArgument(path + " line " + std::to_string(number) + ": " + *error +
                                   "; nothing was imported"));
    }
    events.push_back(std::move(e));
    lines.push_back(number);
  }
  uint64_t accepted = 0, placeholders = 0;
  for (size_t begin = 0; begin < events.size(); begin += batch) {
    const size_t end = std::min(events.size(), begin + batch);
    v1::Request req;
    v1::AddEventsRequest* r = req.mutable_add_events();
    r->set_collection(collection);
    for (size_t i = begin; i < end; ++i) *r->add_events() = events[i];
    v1::Response resp;
    const Status st = ctx.client->Call(req, &resp);
    if (!st.ok()) {
      Fail(st.WithContext(
          path + " lines " + std::to_string(lines[begin]) + "-" + std::to_string(lines[end - 1]) +
          " (" +
          (begin == 0 ? std::string("nothing was imported")
                      : "lines up to " + std::to_string(lines[begin - 1]) + " were imported") +
          ")"));
    }
    accepted += resp.add_events().accepted();
    placeholders += resp.add_events().placeholders();
  }
  if (ctx.json_output) {
    PrintJsonLine(
        {{"collection", collection}, {"events", accepted}, {"placeholders", placeholders}});
  } else {
    std::cout << "imported " << accepted << " events into " << collection;
    if (placeholders) std::cout << " (" << placeholders << " placeholder items created)";
    std::cout << "\n";
  }
  return 0;
}

int RecommendCommand(const Context& ctx, const std::vector<std::string>& words) {
  Args args(
      "recommend", std::vector<std::string>(words.begin() + 1, words.end()),
      {"--user", "-k", "--like", "--unlike", "--strategy", "--filter", "--exclude", "--seen-types",
       "--space", "--mmr", "--popularity", "--freshness", "--history", "--variant", "--model"},
      {"--include-seen", "--explain", "--no-log"});
  args.ExpectPositional("recommend", 1, "NAME (--user U | --like ID,...) [-k K] [--json]");
  v1::Request req;
  v1::RecommendRequest* r = req.mutable_recommend();
  r->set_collection(args.positional()[0]);
  r->set_user(args.Value("--user").value_or(""));
  r->set_k(KFlag(args));
  for (const auto& id : SplitList(args.Value("--like").value_or(""))) r->add_positive(id);
  for (const auto& id : SplitList(args.Value("--unlike").value_or(""))) r->add_negative(id);
  if (r->user().empty() && r->positive_size() == 0) {
    UsageError("recommend: give --user U or --like ID[,ID...]");
  }
  r->set_strategy(args.Value("--strategy").value_or(""));
  r->set_filter(args.Value("--filter").value_or(""));
  for (const auto& id : SplitList(args.Value("--exclude").value_or(""))) r->add_exclude(id);
  for (const auto& t : SplitList(args.Value("--seen-types").value_or(""))) r->add_seen_types(t);
  for (const auto& spec : args.Values("--space")) {
    const size_t eq = spec.find('=');
    (*r->mutable_spaces())[spec.substr(0, eq)] =
        eq == std::string::npos ? 1.0 : std::strtod(spec.c_str() + eq + 1, nullptr);
  }
  if (auto v = args.Value("--mmr")) r->set_mmr_lambda(std::strtod(v->c_str(), nullptr));
  if (auto v = args.Value("--popularity"))
    r->set_popularity_weight(std::strtod(v->c_str(), nullptr));
  if (auto v = args.Value("--freshness")) r->set_freshness_weight(std::strtod(v->c_str(), nullptr));
  if (auto v = args.Value("--history")) {
    r->set_history(static_cast<uint32_t>(ParseCount("--history", *v, 100000)));
  }
  r->set_include_seen(args.Has("--include-seen"));
  r->set_explain(args.Has("--explain"));
  r->set_variant(args.Value("--variant").value_or(""));
  r->set_no_log(args.Has("--no-log"));
  r->set_model(args.Value("--model").value_or(""));
  v1::Response resp;
  Check(ctx.client->Call(req, &resp));
  const std::string& request_id = resp.recommend().request_id();
  size_t rank = 0;
  for (const auto& item : resp.recommend().items()) {
    ++rank;
    if (ctx.json_output) {
      json out = {
          {"rank", rank}, {"id", item.id()}, {"score", item.score()}, {"source", item.source()}};
      if (!request_id.empty()) {
        out["request_id"] = request_id;
        out["variant"] = resp.recommend().variant();
      }
      if (r->explain()) {
        json parts = json::object();
        for (const auto& [k, v] : item.parts()) parts[k] = v;
        out["parts"] = parts;
        out["because"] = std::vector<std::string>(item.because().begin(), item.because().end());
      }
      PrintJsonLine(out);
    } else {
      std::cout << std::setw(4) << rank << "  " << std::left << std::setw(24) << item.id()
                << std::right << std::fixed << std::setprecision(4) << item.score() << "  "
                << item.source();
      if (r->explain()) {
        for (const auto& [k, v] : item.parts()) std::cout << "  " << k << "=" << v;
        if (item.because_size()) {
          std::cout << "  because:";
          for (const auto& b : item.because()) std::cout << " " << b;
        }
      }
      std::cout << "\n";
    }
  }
  if (rank == 0 && !ctx.json_output) std::cout << "(no recommendations)\n";
  if (!request_id.empty() && !ctx.json_output) {
    std::cout << "request " << request_id << " (variant " << resp.recommend().variant()
              << "): send it with the events that follow (--request-id)\n";
  }
  return 0;
}

json VariantToJson(const v1::VariantFeedback& v) {
  return {{"variant", v.variant()},
          {"requests", v.requests()},
          {"impressions", v.impressions()},
          {"clicks", v.clicks()},
          {"ctr", v.ctr()},
          {"ctr_low", v.ctr_low()},
          {"ctr_high", v.ctr_high()},
          {"conversions", v.conversions()},
          {"conversion_rate", v.conversion_rate()},
          {"conversion_low", v.conversion_low()},
          {"conversion_high", v.conversion_high()},
          {"items_shown", v.items_shown()},
          {"coverage", v.coverage()},
          {"gini", v.gini()}};
}

// "0.0312 [0.0281, 0.0345]"
std::string RateText(double rate, double low, double high) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(4) << rate << " [" << low << ", " << high << "]";
  return out.str();
}

int FeedbackCommand(const Context& ctx, const std::string& sub,
                    const std::vector<std::string>& rest) {
  const std::string command = "analytics " + sub;
  v1::Request req;
  if (sub == "ab") {
    Args args(command, rest, {"--a", "--b", "--days", "--confidence"}, {});
    args.ExpectPositional(command, 1, "NAME --a A --b B [--days D] [--confidence C]");
    v1::AbRequest* r = req.mutable_ab();
    r->set_collection(args.positional()[0]);
    r->set_a(args.Value("--a").value_or(""));
    r->set_b(args.Value("--b").value_or(""));
    if (r->a().empty() || r->b().empty()) UsageError(command + ": give --a A and --b B");
    if (auto v = args.Value("--days"))
      r->set_days(static_cast<uint32_t>(ParseCount("--days", *v, 36500)));
    if (auto v = args.Value("--confidence")) r->set_confidence(std::strtod(v->c_str(), nullptr));
    v1::Response resp;
    Check(ctx.client->Call(req, &resp));
    const v1::AbResponse& ab = resp.ab();
    if (ctx.json_output) {
      for (const auto& m : ab.metrics()) {
        const bool ctr = m.metric() == "ctr";
        PrintJsonLine({{"metric", m.metric()},
                       {"a", m.a()},
                       {"b", m.b()},
                       {"difference", m.difference()},
                       {"low", m.low()},
                       {"high", m.high()},
                       {"lift", m.lift()},
                       {"p_value", m.p_value()},
                       {"significant", m.significant()},
                       {"confidence", ab.confidence()},
                       {"a_variant", ab.a().variant()},
                       {"b_variant", ab.b().variant()},
                       {"a_impressions", ab.a().impressions()},
                       {"b_impressions", ab.b().impressions()},
                       {"a_events", ctr ? ab.a().clicks() : ab.a().conversions()},
                       {"b_events", ctr ? ab.b().clicks() : ab.b().conversions()}});
      }
      return 0;
    }
    const int pct = static_cast<int>(std::lround(ab.confidence() * 100));
    std::cout << std::left << std::setw(12) << "variant" << std::right << std::setw(10)
              << "requests" << std::setw(13) << "impressions" << std::setw(9) << "clicks"
              << std::setw(13) << "conversions"
              << "  " << std::left << std::setw(27) << "ctr [" + std::to_string(pct) + "% CI]"
              << "conversion [" << pct << "% CI]" << std::right << "\n";
    for (const auto* v : {&ab.a(), &ab.b()}) {
      std::cout << std::left << std::setw(12) << v->variant() << std::right << std::setw(10)
                << v->requests() << std::setw(13) << v->impressions() << std::setw(9) << v->clicks()
                << std::setw(13) << v->conversions() << "  " << std::left << std::setw(27)
                << RateText(v->ctr(), v->ctr_low(), v->ctr_high())
                << RateText(v->conversion_rate(), v->conversion_low(), v->conversion_high())
                << std::right << "\n";
    }
    for (const auto& m : ab.metrics()) {
      std::cout << std::fixed << std::setprecision(4) << m.metric() << ": " << ab.b().variant()
                << " - " << ab.a().variant() << " = " << std::showpos << m.difference() << " ["
                << m.low() << ", " << m.high() << "]" << std::noshowpos << ", lift "
                << std::setprecision(1) << m.lift() * 100 << "%, p = " << std::setprecision(4)
                << m.p_value() << (m.significant() ? "  significant" : "  not significant") << "\n";
    }
    return 0;
  }
  Args args(command, rest, {"--variant", "--days", "-k", "--confidence"}, {});
  args.ExpectPositional(command, 1, "NAME [--variant V] [--days D]");
  v1::FeedbackRequest* r = req.mutable_feedback();
  r->set_collection(args.positional()[0]);
  r->set_variant(args.Value("--variant").value_or(""));
  if (auto v = args.Value("--days"))
    r->set_days(static_cast<uint32_t>(ParseCount("--days", *v, 36500)));
  if (sub == "ctr") {
    r->set_k(KFlag(args));
    if (auto v = args.Value("--confidence")) r->set_confidence(std::strtod(v->c_str(), nullptr));
  } else {
    r->set_k(1);
  }
  v1::Response resp;
  Check(ctx.client->Call(req, &resp));
  const v1::FeedbackResponse& f = resp.feedback();
  std::vector<const v1::VariantFeedback*> rows;
  for (const auto& v : f.variants()) rows.push_back(&v);
  if (r->variant().empty() && f.variants_size() != 1) rows.push_back(&f.total());
  if (sub == "coverage") {
    for (const auto* v : rows) {
      if (ctx.json_output) {
        PrintJsonLine({{"variant", v->variant()},
                       {"catalogue_items", f.catalogue_items()},
                       {"items_shown", v->items_shown()},
                       {"coverage", v->coverage()},
                       {"gini", v->gini()},
                       {"impressions", v->impressions()}});
      } else {
        std::cout << std::left << std::setw(12) << v->variant() << std::right << std::setw(8)
                  << v->items_shown() << " of " << f.catalogue_items() << " items shown"
                  << std::fixed << std::setprecision(4) << "  coverage " << v->coverage()
                  << "  gini " << v->gini() << "  (" << v->impressions() << " impressions)\n";
      }
    }
    if (rows.empty() && !ctx.json_output) std::cout << "(no recommendations logged)\n";
    return 0;
  }
  if (ctx.json_output) {
    for (const auto* v : rows) PrintJsonLine(VariantToJson(*v));
    for (const auto& item : f.items()) {
      PrintJsonLine({{"id", item.id()},
                     {"impressions", item.impressions()},
                     {"clicks", item.clicks()},
                     {"ctr", item.ctr()},
                     {"conversions", item.conversions()},
                     {"conversion_rate", item.conversion_rate()}});
    }
    return 0;
  }
  if (rows.empty()) {
    std::cout << "(no recommendations logged)\n";
    return 0;
  }
  std::cout << std::left << std::setw(12) << "variant" << std::right << std::setw(10) << "requests"
            << std::setw(13) << "impressions" << std::setw(9) << "clicks" << std::setw(13)
            << "conversions"
            << "  " << std::left << std::setw(27) << "ctr [CI]"
            << "conversion [CI]" << std::right << "\n";
  for (const auto* v : rows) {
    std::cout << std::left << std::setw(12) << v->variant() << std::right << std::setw(10)
              << v->requests() << std::setw(13) << v->impressions() << std::setw(9) << v->clicks()
              << std::setw(13) << v->conversions() << "  " << std::left << std::setw(27)
              << RateText(v->ctr(), v->ctr_low(), v->ctr_high())
              << RateText(v->conversion_rate(), v->conversion_low(), v->conversion_high())
              << std::right << "\n";
  }
  std::cout << "\n"
            << std::left << std::setw(24) << "item" << std::right << std::setw(13) << "impressions"
            << std::setw(9) << "clicks" << std::setw(9) << "ctr" << std::setw(13) << "conversions"
            << std::setw(12) << "conversion\n";
  for (const auto& item : f.items()) {
    std::cout << std::left << std::setw(24) << item.id() << std::right << std::setw(13)
              << item.impressions() << std::setw(9) << item.clicks() << std::fixed
              << std::setprecision(4) << std::setw(9) << item.ctr() << std::setw(13)
              << item.conversions() << std::setw(11) << item.conversion_rate() << "\n";
  }
  return 0;
}

int AnalyticsCommand(const Context& ctx, const std::vector<std::string>& words) {
  if (words.size() < 2) {
    UsageError("usage: recoctl analytics top|trending|daily|ctr|coverage|ab NAME ...");
  }
  const std::string sub = words[1];
  const std::vector<std::string> rest(words.begin() + 2, words.end());
  if (sub == "ctr" || sub == "coverage" || sub == "ab") return FeedbackCommand(ctx, sub, rest);
  v1::Request req;
  if (sub == "top" || sub == "trending") {
    Args args("analytics " + sub, rest, {"-k", "--type", "--days", "--half-life"}, {});
    args.ExpectPositional("analytics " + sub, 1, "NAME [-k K] [--days D]");
    uint32_t days = 0;
    if (auto v = args.Value("--days"))
      days = static_cast<uint32_t>(ParseCount("--days", *v, 36500));
    if (sub == "top") {
      v1::TopItemsRequest* r = req.mutable_top_items();
      r->set_collection(args.positional()[0]);
      r->set_type(args.Value("--type").value_or(""));
      r->set_days(days);
      r->set_k(KFlag(args));
    } else {
      v1::TrendingRequest* r = req.mutable_trending();
      r->set_collection(args.positional()[0]);
      r->set_days(days);
      if (auto v = args.Value("--half-life"))
        r->set_half_life_days(std::strtod(v->c_str(), nullptr));
      r->set_k(KFlag(args));
    }
    v1::Response resp;
    Check(ctx.client->Call(req, &resp));
    const auto& items = sub == "top" ? resp.top_items().items() : resp.trending().items();
    size_t rank = 0;
    for (const auto& item : items) {
      ++rank;
      if (ctx.json_output) {
        PrintJsonLine({{"rank", rank}, {"id", item.id()}, {"score", item.score()}});
      } else {
        std::cout << std::setw(4) << rank << "  " << std::left << std::setw(24) << item.id()
                  << std::right << std::fixed << std::setprecision(2) << item.score() << "\n";
      }
    }
    return 0;
  }
  if (sub == "daily") {
    Args args("analytics daily", rest, {"--days"}, {});
    args.ExpectPositional("analytics daily", 1, "NAME [--days D]");
    v1::EventsPerDayRequest* r = req.mutable_events_per_day();
    r->set_collection(args.positional()[0]);
    if (auto v = args.Value("--days"))
      r->set_days(static_cast<uint32_t>(ParseCount("--days", *v, 3660)));
    v1::Response resp;
    Check(ctx.client->Call(req, &resp));
    for (const auto& d : resp.events_per_day().days()) {
      const std::time_t t = static_cast<std::time_t>(d.day_ms() / 1000);
      char date[16];
      std::strftime(date, sizeof(date), "%Y-%m-%d", std::gmtime(&t));
      if (ctx.json_output) {
        PrintJsonLine({{"day", date}, {"events", d.events()}, {"users", d.users()}});
      } else {
        std::cout << date << "  " << d.events() << " events, " << d.users() << " users\n";
      }
    }
    return 0;
  }
  UsageError("unknown command 'analytics " + sub + "' (top, trending, daily, ctr, coverage, ab)");
}

int EvalCommand(const Context& ctx, const std::vector<std::string>& words) {
  Args args("eval", std::vector<std::string>(words.begin() + 1, words.end()),
            {"--protocol", "--seed", "-k", "--strategies", "--event-types"}, {"--valid"});
  args.ExpectPositional("eval", 1,
                        "NAME [--protocol random-80-10-10|leave-last-out] [--seed S] [-k K]");
  v1::Request req;
  v1::EvalRequest* r = req.mutable_eval();
  r->set_collection(args.positional()[0]);
  r->set_protocol(args.Value("--protocol").value_or("random-80-10-10"));
  if (auto v = args.Value("--seed")) r->set_seed(ParseCount("--seed", *v, UINT64_MAX));
  r->set_k(KFlag(args));
  for (const auto& x : SplitList(args.Value("--strategies").value_or(""))) r->add_strategies(x);
  for (const auto& x : SplitList(args.Value("--event-types").value_or(""))) r->add_event_types(x);
  r->set_on_valid(args.Has("--valid"));
  v1::Response resp;
  Check(ctx.client->Call(req, &resp));
  const std::string k = std::to_string(r->k());
  if (!ctx.json_output) {
    std::cout << std::left << std::setw(14) << "strategy" << std::right;
    for (const char* m : {"recall", "ndcg", "hr", "precision", "mrr", "coverage"}) {
      std::cout << std::setw(14) << (std::string(m) + "@" + k);
    }
    std::cout << std::setw(10) << "fit s"
              << "\n";
  }
  for (const auto& x : resp.eval().results()) {
    if (ctx.json_output) {
      json out = {{"strategy", x.strategy()},        {"recall@" + k, x.recall()},
                  {"ndcg@" + k, x.ndcg()},           {"hr@" + k, x.hr()},
                  {"precision@" + k, x.precision()}, {"mrr@" + k, x.mrr()},
                  {"coverage@" + k, x.coverage()},   {"users", x.users()},
                  {"fit_seconds", x.fit_seconds()},  {"protocol", r->protocol()}};
      if (!x.error().empty()) out["error"] = x.error();
      if (!x.detail().empty()) out["detail"] = x.detail();
      PrintJsonLine(out);
    } else if (!x.error().empty()) {
      std::cout << std::left << std::setw(14) << x.strategy() << std::right << "  " << x.error()
                << "\n";
    } else {
      std::cout << std::left << std::setw(14) << x.strategy() << std::right << std::fixed
                << std::setprecision(4);
      for (double v : {x.recall(), x.ndcg(), x.hr(), x.precision(), x.mrr(), x.coverage()}) {
        std::cout << std::setw(14) << v;
      }
      std::cout << std::setprecision(2) << std::setw(10) << x.fit_seconds();
      if (!x.detail().empty()) std::cout << "  " << x.detail();
      std::cout << "\n";
    }
  }
  return 0;
}

int TrainCommand(const Context& ctx, const std::vector<std::string>& words) {
  Args args("train", std::vector<std::string>(words.begin() + 1, words.end()),
            {"--space", "--epochs", "--lr", "--reg", "--seed", "--model", "--neighbours"},
            {"--incremental", "--background"});
  args.ExpectPositional("train", 1, "NAME [--space S] [--epochs N] [--incremental]");
  v1::Request req;
  v1::TrainRequest* r = req.mutable_train();
  r->set_collection(args.positional()[0]);
  r->set_space(args.Value("--space").value_or(""));
  if (auto v = args.Value("--epochs"))
    r->set_epochs(static_cast<uint32_t>(ParseCount("--epochs", *v, 10000)));
  if (auto v = args.Value("--lr")) r->set_learning_rate(std::strtod(v->c_str(), nullptr));
  if (auto v = args.Value("--reg")) r->set_reg(std::strtod(v->c_str(), nullptr));
  if (auto v = args.Value("--seed")) r->set_seed(ParseCount("--seed", *v, UINT64_MAX));
  r->set_incremental(args.Has("--incremental"));
  r->set_model(args.Value("--model").value_or(""));
  if (auto v = args.Value("--neighbours")) {
    r->set_neighbours(static_cast<uint32_t>(ParseCount("--neighbours", *v, 10000)));
  }
  v1::Response resp;
  if (args.Has("--background")) {
    r->set_background(true);
    Check(ctx.client->Call(req, &resp));
    if (ctx.json_output) {
      PrintJsonLine({{"ok", true}, {"state", "running"}});
    } else {
      std::cout << "training " << r->collection() << " in the background (progress: recoctl stats "
                << r->collection() << ")\n";
    }
    return 0;
  }
  // The training call runs on its own connection (no deadline: it takes as long as it takes)
  // while this one reports the epochs from the server's stats.
  reco::api::ClientOptions options;
  options.call_timeout = std::chrono::milliseconds(0);
  reco::api::Client trainer(options);
  Check(trainer.Connect(ctx.addr));
  Status result;
  std::atomic<bool> done{false};
  std::thread call([&] {
    result = trainer.Call(req, &resp);
    done = true;
  });
  uint32_t shown = 0;
  while (!done) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    v1::StatsResponse stats;
    if (done || !ctx.client->Stats(r->collection(), &stats).ok()) continue;
    for (const auto& s : stats.spaces()) {
      if (s.plugin() != "collaborative" || (!r->space().empty() && s.name() != r->space())) {
        continue;
      }
      if (s.train_state() == "running" && s.train_epoch() > shown) {
        shown = s.train_epoch();
        (ctx.json_output ? std::cerr : std::cout)
            << "epoch " << shown << "/" << s.train_epochs() << "  loss " << std::fixed
            << std::setprecision(4) << s.train_loss() << "\n"
            << std::flush;
      }
      break;
    }
  }
  call.join();
  Check(result);
  const auto& t = resp.train();
  if (ctx.json_output) {
    PrintJsonLine({{"items", t.items()},
                   {"users", t.users()},
                   {"epochs", t.epochs()},
                   {"loss", t.loss()},
                   {"seconds", t.seconds()},
                   {"warm_items", t.warm_items()}});
  } else {
    if (r->model() == "ease") {
      std::cout << "trained EASE on " << t.users() << " users x " << t.items() << " items in "
                << t.seconds() << " s; recommend --model ease serves it\n";
      return 0;
    }
    std::cout << "trained BPR-MF on " << t.users() << " users x " << t.items()
              << " items: " << t.epochs() << " epochs, final loss " << t.loss() << ", "
              << t.seconds() << " s";
    if (r->incremental()) std::cout << ", " << t.warm_items() << " items warm-started";
    std::cout << "; the item vectors now serve the space\n";
  }
  return 0;
}

int BackupCommand(const Context& ctx, const std::vector<std::string>& words) {
  Args args("backup", std::vector<std::string>(words.begin() + 1, words.end()), {}, {});
  args.ExpectPositional("backup", 1, "DIR");
  // The server writes the backup; a relative path means relative to here, not to recod.
  std::string dir = std::filesystem::absolute(args.positional()[0]).lexically_normal().string();
  Check(ctx.client->Backup(dir));
  if (ctx.json_output) {
    PrintJsonLine({{"ok", true}, {"backup", dir}});
  } else {
    std::cout << "backup written to " << dir << " (open it with: recod --data " << dir << ")\n";
  }
  return 0;
}

int PluginsCommand(const Context& ctx, const std::vector<std::string>& words) {
  Args args("plugins", std::vector<std::string>(words.begin() + 1, words.end()), {}, {});
  args.ExpectPositional("plugins", 0, "");
  v1::ListPluginsResponse plugins;
  Check(ctx.client->ListPlugins(&plugins));
  if (ctx.json_output) {
    json loaded = json::array();
    for (const auto& p : plugins.plugins()) {
      loaded.push_back({{"name", p.name()},
                        {"version", p.version()},
                        {"abi", p.abi()},
                        {"modality", p.modality()},
                        {"content_types", p.content_types()},
                        {"default_dim", p.default_dim()},
                        {"path", p.path()}});
    }
    json refused = json::array();
    for (const auto& r : plugins.refused()) {
      refused.push_back({{"path", r.path()}, {"reason", r.reason()}});
    }
    PrintJsonLine({{"plugins", loaded}, {"refused", refused}});
    return 0;
  }
  if (plugins.plugins_size() == 0) std::cout << "(no plugins loaded)\n";
  for (const auto& p : plugins.plugins()) {
    std::cout << p.name() << " " << p.version() << "  " << p.modality() << ", dim "
              << p.default_dim() << ", abi " << p.abi() << ", accepts " << p.content_types() << "  "
              << p.path() << "\n";
  }
  for (const auto& r : plugins.refused()) {
    std::cout << "refused " << r.path() << ": " << r.reason() << "\n";
  }
  return 0;
}

int PingCommand(const Context& ctx, const std::vector<std::string>& words) {
  Args args("ping", std::vector<std::string>(words.begin() + 1, words.end()), {}, {});
  args.ExpectPositional("ping", 0, "");
  const auto start = std::chrono::steady_clock::now();
  std::string version;
  Check(ctx.client->Ping(&version));
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (ctx.json_output) {
    PrintJsonLine({{"ok", true},
                   {"addr", ctx.addr},
                   {"server_version", version},
                   {"latency_ms", std::round(ms * 1000) / 1000}});
  } else {
    std::cout << "pong from " << ctx.addr << " (recod " << version << ") in " << std::fixed
              << std::setprecision(2) << ms << " ms\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = ParseGlobal(argc, argv);
  if (options.words.empty()) UsageError("no command given");
  const std::string& command = options.words[0];

  using Handler = int (*)(const Context&, const std::vector<std::string>&);
  const std::map<std::string, Handler> commands = {{"collection", CollectionCommand},
                                                   {"import", ImportCommand},
                                                   {"upsert", UpsertCommand},
                                                   {"get", GetCommand},
                                                   {"delete", DeleteCommand},
                                                   {"similar", SimilarCommand},
                                                   {"search", SearchCommand},
                                                   {"stats", StatsCommand},
                                                   {"backup", BackupCommand},
                                                   {"reembed", ReembedCommand},
                                                   {"events", EventsCommand},
                                                   {"recommend", RecommendCommand},
                                                   {"analytics", AnalyticsCommand},
                                                   {"eval", EvalCommand},
                                                   {"train", TrainCommand},
                                                   {"plugins", PluginsCommand},
                                                   {"ping", PingCommand}};
  const auto it = commands.find(command);
  if (it == commands.end()) UsageError("unknown command '" + command + "'");
  if (options.item_json && command != "upsert") {
    UsageError("--json takes no value (a JSON item is only for 'upsert')");
  }

  LazyClient client(options.addr);
  const Context ctx{client, options.json_output, options.addr, options.item_json};
  return it->second(ctx, options.words);
}
