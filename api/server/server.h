// reco::api::Server — the TCP server (ARCHITECTURE.md "API"). Frames are a 4-byte big-endian
// length and a serialized reco.api.v1.Request / Response (api/proto/reco.proto).
//
// IO threads only read, parse and write frames; every engine call runs on a bounded worker
// pool, and its response is posted back to the connection's strand. A connection may have
// several requests in flight; responses carry the request id and may come back out of order.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace reco {
namespace engine {
class Engine;
}  // namespace engine

namespace api {

struct ServerOptions {
  std::string listen_address = "127.0.0.1";  // IPv4 or IPv6 address to bind
  uint16_t port = 0;                         // 0 picks a free port: see Server::port()
  uint32_t io_threads = 1;                   // threads that run sockets, never the engine
  uint32_t worker_threads = 2;               // threads that run engine calls
  uint32_t max_inflight = 256;  // requests being answered, all connections; more -> Unavailable
  uint32_t max_frame_bytes = 64u << 20;  // largest request payload; a larger one closes the conn
  std::chrono::milliseconds read_timeout{30'000};   // a frame that started must arrive within it
  std::chrono::milliseconds idle_timeout{600'000};  // a connection with nothing going on closes
  std::chrono::milliseconds stop_timeout{10'000};   // how long Stop() waits for in-flight work
  size_t max_pending_write_bytes = 64u << 20;       // a connection stops reading above this backlog
};

class Server {
 public:
  // `engine` must outlive the server.
  Server(engine::Engine* engine, ServerOptions options);
  ~Server();  // Stop()s
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts the IO and worker threads. Fails with IOError when the address
  // cannot be bound, InvalidArgument for a bad address or thread count.
  Status Start();

  // The bound address and port, valid after a successful Start().
  const std::string& host() const;
  uint16_t port() const;

  // Graceful stop: stops accepting, answers new requests with Unavailable, waits up to
  // stop_timeout for in-flight requests to finish and their responses to be written, then
  // closes every connection and joins all threads. Idempotent; safe from any thread except
  // the server's own.
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace api
}  // namespace reco
