#include "api/client/client.h"

#include <array>
#include <utility>

#include <boost/asio.hpp>

namespace reco {
namespace api {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

constexpr size_t kHeaderBytes = 4;  // big-endian payload length

// Splits "host:port" or "[v6]:port".
bool SplitAddress(const std::string& address, std::string* host, std::string* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) return false;
  *host = address.substr(0, colon);
  *port = address.substr(colon + 1);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return port->find_first_not_of("0123456789") == std::string::npos;
}

// Appends protobuf field 1 (request_id, varint). A parser keeps the last value it sees for a
// scalar field, so this overrides whatever id the caller's message carried without copying it.
void AppendRequestId(uint64_t id, std::string* payload) {
  payload->push_back(static_cast<char>(0x08));  // field 1, wire type 0
  while (id >= 0x80) {
    payload->push_back(static_cast<char>((id & 0x7f) | 0x80));
    id >>= 7;
  }
  payload->push_back(static_cast<char>(id));
}

Status WrongBody(const char* want) {
  return Status::Internal(std::string("the server answered without a ") + want + " body");
}

}  // namespace

Status StatusFromError(const v1::Error& error) {
  const int code = static_cast<int>(error.code());
  if (code == 0) return Status::OK();
  if (code < 0 || code > static_cast<int>(Status::Code::kFailedPrecondition)) {
    return Status::Internal("server error with unknown code " + std::to_string(code) + ": " +
                            error.message());
  }
  return Status(static_cast<Status::Code>(code), error.message());
}

class Client::Impl {
 public:
  explicit Impl(ClientOptions options) : options_(options) {}

  Status Connect(const std::string& address) {
    Close();
    std::string host, port;
    if (!SplitAddress(address, &host, &port)) {
      return Status::InvalidArgument("address '" + address + "' is not HOST:PORT");
    }
    const Clock::time_point deadline = Clock::now() + options_.connect_timeout;
    tcp::resolver resolver(ioc_);
    tcp::resolver::results_type endpoints;
    error_code result = asio::error::would_block;
    resolver.async_resolve(host, port, [&](error_code ec, tcp::resolver::results_type found) {
      result = ec;
      endpoints = std::move(found);
    });
    if (!RunUntil(deadline, &result, [&] { resolver.cancel(); })) {
      return Status::IOError("cannot resolve '" + host + "': timed out");
    }
    if (result) return Status::IOError("cannot resolve '" + host + "': " + result.message());

    result = asio::error::would_block;
    asio::async_connect(socket_, endpoints,
                        [&](error_code ec, const tcp::endpoint&) { result = ec; });
    if (!RunUntil(deadline, &result, [&] { CloseSocket(); })) {
      CloseSocket();
      return Status::IOError("cannot connect to " + address + ": timed out after " +
                             std::to_string(options_.connect_timeout.count()) + " ms");
    }
    if (result) {
      CloseSocket();
      return Status::IOError("cannot connect to " + address + ": " + result.message());
    }
    error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    address_ = address;
    return Status::OK();
  }

  void Close() { CloseSocket(); }
  bool connected() const { return socket_.is_open(); }

  Status Call(const v1::Request& request, v1::Response* response) {
    if (!socket_.is_open()) return Status::IOError("not connected");
    const uint64_t id = next_id_++;
    std::string frame(kHeaderBytes, '\0');
    if (!request.AppendToString(&frame)) {
      return Status::InvalidArgument("the request could not be serialized");
    }
    AppendRequestId(id, &frame);
    const size_t payload = frame.size() - kHeaderBytes;
    if (payload > 0xffffffffu) return Status::OutOfRange("request is larger than 4 GiB");
    for (size_t i = 0; i < kHeaderBytes; ++i) {
      frame[i] = static_cast<char>(payload >> (8 * (kHeaderBytes - 1 - i)));
    }

    const bool limited = options_.call_timeout.count() > 0;
    const Clock::time_point deadline =
        limited ? Clock::now() + options_.call_timeout : Clock::time_point::max();
    RECO_RETURN_IF_ERROR(Transfer(deadline, "sending the request", [&](auto handler) {
      asio::async_write(socket_, asio::buffer(frame), handler);
    }));

    std::string body;
    for (;;) {
      std::array<unsigned char, kHeaderBytes> header{};
      RECO_RETURN_IF_ERROR(Transfer(deadline, "reading the response", [&](auto handler) {
        asio::async_read(socket_, asio::buffer(header), handler);
      }));
      const uint32_t size = (uint32_t{header[0]} << 24) | (uint32_t{header[1]} << 16) |
                            (uint32_t{header[2]} << 8) | uint32_t{header[3]};
      if (size > options_.max_response_bytes) {
        CloseSocket();
        return Status::OutOfRange("response frame of " + std::to_string(size) +
                                  " bytes exceeds max_response_bytes " +
                                  std::to_string(options_.max_response_bytes));
      }
      body.resize(size);
      if (size > 0) {
        RECO_RETURN_IF_ERROR(Transfer(deadline, "reading the response", [&](auto handler) {
          asio::async_read(socket_, asio::buffer(&body[0], size), handler);
        }));
      }
      if (!response->ParseFromString(body)) {
        CloseSocket();
        return Status::Corruption("the server sent a response that does not parse");
      }
      // Id 0 answers a frame the server could not read; an older id is a late answer to a
      // call that timed out — skip it.
      if (response->request_id() == id) break;
      if (response->request_id() == 0 && response->has_error()) break;
    }
    return StatusFromError(response->error());
  }

 private:
  // Runs the IO context until `*result` is set or the deadline passes; on timeout calls
  // `cancel` and lets the cancelled handler finish. False on timeout.
  template <typename Cancel>
  bool RunUntil(Clock::time_point deadline, error_code* result, Cancel cancel) {
    ioc_.restart();
    if (deadline == Clock::time_point::max()) {
      ioc_.run();
    } else {
      while (*result == asio::error::would_block && Clock::now() < deadline) {
        ioc_.run_until(deadline);
        if (ioc_.stopped()) break;
      }
    }
    if (*result != asio::error::would_block) return true;
    cancel();
    ioc_.restart();
    ioc_.run();
    return false;
  }

  // Starts one read or write through `start(handler)` and waits for it. Any failure closes
  // the connection: the stream is no longer at a frame boundary.
  template <typename Start>
  Status Transfer(Clock::time_point deadline, const char* what, Start start) {
    error_code result = asio::error::would_block;
    start([&result](error_code ec, size_t) { result = ec; });
    if (!RunUntil(deadline, &result, [this] { CloseSocket(); })) {
      CloseSocket();
      return Status::IOError(std::string(what) + " from " + address_ + ": timed out");
    }
    if (result) {
      CloseSocket();
      if (result == asio::error::eof) {
        return Status::IOError(std::string(what) + ": the server closed the connection");
      }
      return Status::IOError(std::string(what) + ": " + result.message());
    }
    return Status::OK();
  }

  void CloseSocket() {
    error_code ec;
    socket_.close(ec);
  }

  const ClientOptions options_;
  asio::io_context ioc_;
  tcp::socket socket_{ioc_};
  std::string address_;
  uint64_t next_id_ = 1;
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(options)) {}
Client::~Client() = default;

Status Client::Connect(const std::string& address) { return impl_->Connect(address); }
void Client::Close() { impl_->Close(); }
bool Client::connected() const { return impl_->connected(); }
Status Client::Call(const v1::Request& request, v1::Response* response) {
  return impl_->Call(request, response);
}

Status Client::Ping(std::string* server_version) {
  v1::Request req;
  req.mutable_ping();
  v1::Response resp;
  RECO_RETURN_IF_ERROR(Call(req, &resp));
  if (!resp.has_ping()) return WrongBody("ping");
  if (server_version != nullptr) *server_version = resp.ping().server_version();
  return Status::OK();
}

Status Client::CreateCollection(v1::CreateCollectionRequest request) {
  v1::Request req;
  *req.mutable_create_collection() = std::move(request);
  v1::Response resp;
  return Call(req, &resp);
}

Status Client::DropCollection(const std::string& name) {
  v1::Request req;
  req.mutable_drop_collection()->set_name(name);
  v1::Response resp;
  return Call(req, &resp);
}

Status Client::ListCollections(std::vector<v1::CollectionConfig>* collections) {
  v1::Request req;
  req.mutable_list_collections();
  v1::Response resp;
  RECO_RETURN_IF_ERROR(Call(req, &resp));
  if (!resp.has_list_collections()) return WrongBody("list_collections");
  auto* list = resp.mutable_list_collections()->mutable_collections();
  collections->assign(std::make_move_iterator(list->begin()), std::make_move_iterator(list->end()));
  return Status::OK();
}

Status Client::GetCollection(const std::string& name, v1::CollectionConfig* collection) {
  v1::Request req;
  req.mutable_get_collection()->set_name(name);
  v1::Response resp;
  RECO_RETURN_IF_ERROR(Call(req, &resp));
  if (!resp.has_get_collection()) return WrongBody("get_collection");
  *collection = std::move(*resp.mutable_get_collection()->mutable_collection());
  return Status::OK();
}

Status Client::Upsert(v1::UpsertRequest request) {
  v1::Request req;
  *req.mutable_upsert() = std::move(request);
  v1::Response resp;
  return Call(req, &resp);
}

Status Client::Get(const std::string& collection, const std::string& id, bool with_vectors,
                   v1::StoredItem* item) {
  v1::Request req;
  req.mutable_get_item()->set_collection(collection);
  req.mutable_get_item()->set_id(id);
  req.mutable_get_item()->set_with_vectors(with_vectors);
  v1::Response resp;
  RECO_RETURN_IF_ERROR(Call(req, &resp));
  if (!resp.has_get_item()) return WrongBody("get_item");
  *item = std::move(*resp.mutable_get_item()->mutable_item());
  return Status::OK();
}

Status Client::Delete(const std::string& collection, const std::string& id) {
  v1::Request req;
  req.mutable_delete_item()->set_collection(collection);
  req.mutable_delete_item()->set_id(id);
  v1::Response resp;
  return Call(req, &resp);
}

Status Client::Search(v1::SearchRequest request, std::vector<v1::Hit>* hits) {
  v1::Request req;
  *req.mutable_search() = std::move(request);
  v1::Response resp;
  RECO_RETURN_IF_ERROR(Call(req, &resp));
  if (!resp.has_search()) return WrongBody("search");
  auto* found = resp.mutable_search()->mutable_hits();
  hits->assign(std::make_move_iterator(found->begin()), std::make_move_iterator(found->end()));
  return Status::OK();
}

Status Client::Stats(const std::string& collection, v1::StatsResponse* stats) {
  v1::Request req;
  req.mutable_stats()->set_collection(collection);
  v1::Response resp;
  RECO_RETURN_IF_ERROR(Call(req, &resp));
  if (!resp.has_stats()) return WrongBody("stats");
  *stats = std::move(*resp.mutable_stats());
  return Status::OK();
}

Status Client::Backup(const std::string& dir) {
  v1::Request req;
  req.mutable_backup()->set_dir(dir);
  v1::Response resp;
  RECO_RETURN_IF_ERROR(Call(req, &resp));
  if (!resp.has_backup()) return WrongBody("backup");
  return Status::OK();
}

Status Client::Reembed(const std::string& collection, const std::string& space,
                       const std::map<std::string, std::string>& options, bool fit) {
  v1::Request req;
  v1::ReembedRequest* r = req.mutable_reembed();
  r->set_fit(fit);
  r->set_collection(collection);
  r->set_space(space);
  r->mutable_options()->insert(options.begin(), options.end());
  v1::Response resp;
  RECO_RETURN_IF_ERROR(Call(req, &resp));
  if (!resp.has_reembed()) return WrongBody("reembed");
  return Status::OK();
}

Status Client::ListPlugins(v1::ListPluginsResponse* plugins) {
  v1::Request req;
  req.mutable_list_plugins();
  v1::Response resp;
  RECO_RETURN_IF_ERROR(Call(req, &resp));
  if (!resp.has_list_plugins()) return WrongBody("list_plugins");
  *plugins = std::move(*resp.mutable_list_plugins());
  return Status::OK();
}

}  // namespace api
}  // namespace reco
