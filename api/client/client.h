// reco::api::Client — a blocking client for recod's protocol (api/proto/reco.proto).
// Thread-compatible: use one Client per thread. Every call has a deadline; an IO error or a
// timeout closes the connection (Connect() again to continue).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api/proto/reco.pb.h"
#include "common/status.h"

namespace reco {
namespace api {

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{5'000};  // resolving and connecting
  std::chrono::milliseconds call_timeout{120'000};   // one Call(): send + answer; 0 = no limit
  uint32_t max_response_bytes = 1u << 30;            // larger response frames are refused
};

class Client {
 public:
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // address: "host:port" ("[::1]:7070" for IPv6). Closes a previous connection first.
  Status Connect(const std::string& address);
  void Close();
  bool connected() const;

  // Sends `request` with a fresh request id (its own request_id is ignored) and waits for the
  // matching response. IO failures and timeouts -> IOError; an error answered by the server
  // -> a Status with the server's code and message (`response` still holds the answer).
  Status Call(const v1::Request& request, v1::Response* response);

  // One method per operation. On success the out-parameter holds the server's answer.
  Status Ping(std::string* server_version = nullptr);
  Status CreateCollection(v1::CreateCollectionRequest request);
  Status DropCollection(const std::string& name);
  Status ListCollections(std::vector<v1::CollectionConfig>* collections);
  Status GetCollection(const std::string& name, v1::CollectionConfig* collection);
  // All items or none (one atomic write on the server).
  Status Upsert(v1::UpsertRequest request);
  Status Get(const std::string& collection, const std::string& id, bool with_vectors,
             v1::StoredItem* item);
  Status Delete(const std::string& collection, const std::string& id);
  Status Search(v1::SearchRequest request, std::vector<v1::Hit>* hits);
  Status Stats(const std::string& collection, v1::StatsResponse* stats);
  Status ListPlugins(v1::ListPluginsResponse* plugins);
  // A consistent copy of the server's data in `dir` (a path on the server's machine).
  Status Backup(const std::string& dir);
  // Starts re-embedding a plugin space in the background (see ReembedRequest).
  Status Reembed(const std::string& collection, const std::string& space,
                 const std::map<std::string, std::string>& options = {}, bool fit = false);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Turns a server's Error into a Status (an unknown code becomes Internal).
Status StatusFromError(const v1::Error& error);

}  // namespace api
}  // namespace reco
