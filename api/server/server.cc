#include "api/server/server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio.hpp>

#include "api/proto/reco.pb.h"
#include "api/server/frame.h"
#include "api/server/translate.h"

namespace reco {
namespace api {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

// How long a closing connection keeps draining what the peer still sends, so that the last
// response (e.g. "frame too large") reaches it instead of being lost to a TCP reset.
constexpr std::chrono::seconds kLinger{2};
// Pause before accepting again after an accept error (e.g. out of file descriptors).
constexpr std::chrono::milliseconds kAcceptBackoff{50};

class Session;

// What every connection shares: the engine, the limits, the worker pool, the count of
// requests in flight and the list of open connections (for Stop()).
class Shared {
 public:
  Shared(engine::Engine* engine, const ServerOptions& options)
      : engine_(engine), options_(options) {}

  engine::Engine* engine() const { return engine_; }
  const ServerOptions& options() const { return options_; }
  asio::thread_pool& workers() { return *workers_; }
  void set_workers(asio::thread_pool* workers) { workers_ = workers; }

  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  void BeginStopping() { stopping_.store(true, std::memory_order_release); }

  // A request counts as in flight from admission until its response is written (or the
  // connection is gone). False when max_inflight are already in flight.
  bool TryAcquire() {
    uint32_t current = in_flight_.load();
    do {
      if (current >= options_.max_inflight) return false;
    } while (!in_flight_.compare_exchange_weak(current, current + 1));
    return true;
  }
  void Release() {
    if (in_flight_.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> lock(mu_);
      idle_cv_.notify_all();
    }
  }
  // True when nothing is in flight any more, false after `timeout`.
  bool WaitIdle(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return idle_cv_.wait_for(lock, timeout, [this] { return in_flight_.load() == 0; });
  }

  void Register(const std::shared_ptr<Session>& session) {
    std::lock_guard<std::mutex> lock(mu_);
    sessions_[session.get()] = session;
  }
  void Forget(Session* session) {
    std::lock_guard<std::mutex> lock(mu_);
    sessions_.erase(session);
  }
  std::vector<std::shared_ptr<Session>> Sessions() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::shared_ptr<Session>> out;
    for (auto& [ptr, weak] : sessions_) {
      if (auto session = weak.lock()) out.push_back(std::move(session));
    }
    return out;
  }

 private:
  engine::Engine* const engine_;
  const ServerOptions& options_;
  asio::thread_pool* workers_ = nullptr;
  std::atomic<bool> stopping_{false};
  std::atomic<uint32_t> in_flight_{0};
  std::mutex mu_;
  std::condition_variable idle_cv_;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
};

// One connection. Every member is touched only on the connection's strand (the socket's
// executor); workers hand their responses back with asio::post.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Shared* shared)
      : socket_(std::move(socket)),
        executor_(socket_.get_executor()),
        timer_(executor_),
        shared_(shared),
        options_(shared->options()) {}

  void Start() {
    asio::dispatch(executor_, [self = shared_from_this()] { self->Begin(); });
  }
  // Closes the connection now, from any thread.
  void Abort() {
    asio::post(executor_, [self = shared_from_this()] { self->Close(); });
  }

 private:
  struct Outgoing {
    std::string frame;
    bool counted = false;  // holds an in-flight slot until written
  };

  void Begin() {
    error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    last_activity_ = Clock::now();
    ArmTimer();
    ReadHeader();
  }

  // ---- reading ----

  void ReadHeader() {
    if (closed_ || closing_) return;
    if (header_got_ == 0 && write_backlog_ > options_.max_pending_write_bytes) {
      read_paused_ = true;  // the peer is not reading its answers: stop taking requests
      return;
    }
    socket_.async_read_some(
        asio::buffer(header_.data() + header_got_, kFrameHeaderBytes - header_got_),
        [self = shared_from_this()](error_code ec, size_t n) { self->OnHeaderBytes(ec, n); });
  }

  void OnHeaderBytes(error_code ec, size_t n) {
    if (closed_) return;
    if (ec) {
      if (ec == asio::error::eof && header_got_ == 0) {
        peer_done_ = true;  // answer what is in flight, then close
        closing_ = true;
        return MaybeFinish();
      }
      return Close();
    }
    if (header_got_ == 0) {
      frame_started_ = true;
      frame_started_at_ = Clock::now();
      ArmTimer();
    }
    header_got_ += n;
    if (header_got_ < kFrameHeaderBytes) return ReadHeader();
    header_got_ = 0;

    const uint32_t size = DecodeFrameHeader(header_.data());
    if (size > options_.max_frame_bytes) {
      frame_started_ = false;
      closing_ = true;
      Send(ErrorResponse(0, Status::OutOfRange("frame of " + std::to_string(size) +
                                               " bytes exceeds max_frame_bytes " +
                                               std::to_string(options_.max_frame_bytes) +
                                               "; closing the connection")),
           false);
      return;
    }
    body_.resize(size);
    if (size == 0) return OnBody({});
    asio::async_read(socket_, asio::buffer(&body_[0], size),
                     [self = shared_from_this()](error_code ec, size_t) { self->OnBody(ec); });
  }

  void OnBody(error_code ec) {
    if (closed_) return;
    if (ec) return Close();  // includes EOF in the middle of a frame
    frame_started_ = false;
    last_activity_ = Clock::now();
    HandleFrame();
    if (body_.capacity() > (1u << 20)) std::string().swap(body_);  // give big buffers back
    ReadHeader();
  }

  void HandleFrame() {
    v1::Request request;
    if (!request.ParseFromString(body_)) {
      return Send(ErrorResponse(0, Status::InvalidArgument(
                                       "malformed request frame (" + std::to_string(body_.size()) +
                                       " bytes): not a valid reco.api.v1.Request")),
                  false);
    }
    const uint64_t id = request.request_id();
    if (request.body_case() == v1::Request::BODY_NOT_SET) {
      return Send(ErrorResponse(
                      id, Status::InvalidArgument("request " + std::to_string(id) +
                                                  " has no body (no operation, or one this server "
                                                  "does not know)")),
                  false);
    }
    if (shared_->stopping()) {
      return Send(ErrorResponse(id, Status::Unavailable("server is shutting down")), false);
    }
    if (!shared_->TryAcquire()) {
      return Send(
          ErrorResponse(id, Status::Unavailable(
                                "server overloaded: " + std::to_string(options_.max_inflight) +
                                " requests in flight (max_inflight); retry later")),
          false);
    }
    ++answering_;
    asio::post(shared_->workers(), [self = shared_from_this(), request = std::move(request)] {
      v1::Response response = HandleRequest(self->shared_->engine(), request);
      asio::post(self->executor_, [self, response = std::move(response)] {
        --self->answering_;
        self->Send(response, true);
        self->MaybeFinish();
      });
    });
  }

  // ---- writing ----

  void Send(const v1::Response& response, bool counted) {
    if (closed_) {
      if (counted) shared_->Release();
      return;
    }
    Outgoing out;
    out.counted = counted;
    if (!AppendFrame(response, &out.frame)) {
      out.frame.clear();
      AppendFrame(ErrorResponse(response.request_id(),
                                Status::Internal("the response could not be serialized")),
                  &out.frame);
    }
    write_backlog_ += out.frame.size();
    writes_.push_back(std::move(out));
    if (!writing_) WriteNext();
  }

  void WriteNext() {
    writing_ = true;
    asio::async_write(socket_, asio::buffer(writes_.front().frame),
                      [self = shared_from_this()](error_code ec, size_t) { self->OnWrite(ec); });
  }

  void OnWrite(error_code ec) {
    writing_ = false;
    Outgoing done = std::move(writes_.front());
    writes_.pop_front();
    write_backlog_ -= done.frame.size();
    if (done.counted) shared_->Release();
    if (ec || closed_) {
      Close();
      DropWrites();
      return;
    }
    last_activity_ = Clock::now();
    if (!writes_.empty()) WriteNext();
    if (read_paused_ && write_backlog_ <= options_.max_pending_write_bytes) {
      read_paused_ = false;
      ReadHeader();
    }
    MaybeFinish();
  }

  void DropWrites() {
    for (const Outgoing& w : writes_) {
      if (w.counted) shared_->Release();
    }
    writes_.clear();
    write_backlog_ = 0;
  }

  // ---- closing ----

  // Once closing (the peer finished sending, or sent a frame too large) and every answer is
  // written: close.
  void MaybeFinish() {
    if (!closing_ || closed_ || lingering_ || answering_ > 0 || writing_ || !writes_.empty()) {
      return;
    }
    if (peer_done_) return Close();
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    lingering_ = true;
    linger_deadline_ = Clock::now() + kLinger;
    ArmTimer();
    Drain();
  }

  void Drain() {
    socket_.async_read_some(asio::buffer(drain_),
                            [self = shared_from_this()](error_code ec, size_t) {
                              if (self->closed_) return;
                              if (ec) return self->Close();
                              self->Drain();
                            });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    if (!writing_) DropWrites();  // else OnWrite drops them when the aborted write returns
    shared_->Forget(this);
  }

  // ---- the one timer: read_timeout for a started frame, idle_timeout, linger ----

  Clock::time_point Deadline() const {
    if (lingering_) return linger_deadline_;
    const Clock::time_point idle = last_activity_ + options_.idle_timeout;
    if (frame_started_) return std::min(idle, frame_started_at_ + options_.read_timeout);
    return idle;
  }

  void ArmTimer() {
    timer_.expires_at(Deadline());
    timer_.async_wait([self = shared_from_this()](error_code ec) { self->OnTimer(ec); });
  }

  void OnTimer(error_code ec) {
    if (ec == asio::error::operation_aborted || closed_) return;  // re-armed or closed
    const Clock::time_point now = Clock::now();
    if (lingering_) {
      if (now >= linger_deadline_) return Close();
    } else if (frame_started_ && now >= frame_started_at_ + options_.read_timeout) {
      return Close();  // a frame started but did not complete in time
    } else if (now >= last_activity_ + options_.idle_timeout) {
      if (answering_ == 0) return Close();  // idle, or the peer stopped reading
      last_activity_ = now;                 // the engine is still working for this peer
    }
    ArmTimer();
  }

  tcp::socket socket_;
  const tcp::socket::executor_type executor_;  // the connection's strand
  asio::steady_timer timer_;
  Shared* const shared_;
  const ServerOptions& options_;

  std::array<unsigned char, kFrameHeaderBytes> header_{};
  size_t header_got_ = 0;
  std::string body_;
  std::array<char, 4096> drain_{};

  std::deque<Outgoing> writes_;
  size_t write_backlog_ = 0;  // bytes in writes_
  bool writing_ = false;
  uint32_t answering_ = 0;  // this connection's requests on the worker pool

  bool read_paused_ = false;
  bool frame_started_ = false;
  Clock::time_point frame_started_at_;
  Clock::time_point last_activity_;
  bool closing_ = false;    // no more requests; close when answers are written
  bool peer_done_ = false;  // the peer closed its sending side
  bool lingering_ = false;
  Clock::time_point linger_deadline_;
  bool closed_ = false;
};

// Accepts connections, each on a strand of its own.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(asio::io_context& ioc, Shared* shared)
      : ioc_(ioc),
        acceptor_(asio::make_strand(ioc)),
        backoff_(acceptor_.get_executor()),
        shared_(shared) {}

  Status Open(const tcp::endpoint& endpoint) {
    const std::string where =
        endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
    error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Status::IOError("cannot listen on " + where + ": " + ec.message());
    return Status::OK();
  }

  tcp::endpoint local_endpoint() const {
    error_code ec;
    return acceptor_.local_endpoint(ec);
  }

  void Run() {
    asio::dispatch(acceptor_.get_executor(), [self = shared_from_this()] { self->Accept(); });
  }

  void Close() {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
      error_code ec;
      self->acceptor_.close(ec);
      self->backoff_.cancel();
    });
  }

 private:
  void Accept() {
    acceptor_.async_accept(asio::make_strand(ioc_),
                           [self = shared_from_this()](error_code ec, tcp::socket socket) {
                             self->OnAccept(ec, std::move(socket));
                           });
  }

  void OnAccept(error_code ec, tcp::socket socket) {
    if (!acceptor_.is_open() || ec == asio::error::operation_aborted) return;
    if (ec) {
      backoff_.expires_after(kAcceptBackoff);
      backoff_.async_wait([self = shared_from_this()](error_code wait_ec) {
        if (!wait_ec && self->acceptor_.is_open()) self->Accept();
      });
      return;
    }
    if (shared_->stopping()) {
      error_code close_ec;
      socket.close(close_ec);
    } else {
      auto session = std::make_shared<Session>(std::move(socket), shared_);
      shared_->Register(session);
      session->Start();
    }
    Accept();
  }

  asio::io_context& ioc_;
  tcp::acceptor acceptor_;
  asio::steady_timer backoff_;
  Shared* const shared_;
};

}  // namespace

class Server::Impl {
 public:
  Impl(engine::Engine* engine, ServerOptions options)
      : options_(std::move(options)), shared_(engine, options_) {}
  ~Impl() { Stop(); }

  Status Start() {
    std::lock_guard<std::mutex> lock(state_mu_);
    if (started_) return Status::FailedPrecondition("the server was already started");
    if (options_.io_threads == 0) return Status::InvalidArgument("io_threads must be at least 1");
    if (options_.worker_threads == 0) {
      return Status::InvalidArgument("worker_threads must be at least 1");
    }
    tcp::endpoint endpoint;
    RECO_RETURN_IF_ERROR(Resolve(&endpoint));
    listener_ = std::make_shared<Listener>(ioc_, &shared_);
    RECO_RETURN_IF_ERROR(listener_->Open(endpoint));
    const tcp::endpoint bound = listener_->local_endpoint();
    host_ = bound.address().to_string();
    port_ = bound.port();

    workers_.emplace(options_.worker_threads);
    shared_.set_workers(&*workers_);
    work_.emplace(ioc_.get_executor());
    listener_->Run();
    running_io_threads_ = options_.io_threads;
    for (uint32_t i = 0; i < options_.io_threads; ++i) {
      io_threads_.emplace_back([this] {
        ioc_.run();
        std::lock_guard<std::mutex> done_lock(io_mu_);
        --running_io_threads_;
        io_cv_.notify_all();
      });
    }
    started_ = true;
    return Status::OK();
  }

  void Stop() {
    std::lock_guard<std::mutex> lock(state_mu_);
    if (!started_ || stopped_) return;
    stopped_ = true;

    shared_.BeginStopping();  // new requests are answered Unavailable
    listener_->Close();
    if (!shared_.WaitIdle(options_.stop_timeout)) {
      workers_->stop();  // abandon queued requests; join() still waits for running ones
    }
    workers_->join();  // no engine call runs after this

    for (const auto& session : shared_.Sessions()) session->Abort();
    work_.reset();
    // The IO threads return once the closes have run; a stuck handler must not hang Stop().
    std::unique_lock<std::mutex> io_lock(io_mu_);
    if (!io_cv_.wait_for(io_lock, std::chrono::seconds(2),
                         [this] { return running_io_threads_ == 0; })) {
      ioc_.stop();
    }
    io_lock.unlock();
    for (auto& thread : io_threads_) thread.join();
    io_threads_.clear();
  }

  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }

 private:
  // An IP address as is; a host name ("localhost") through the resolver, first answer.
  Status Resolve(tcp::endpoint* endpoint) {
    error_code ec;
    const asio::ip::address address = asio::ip::make_address(options_.listen_address, ec);
    if (!ec) {
      *endpoint = tcp::endpoint(address, options_.port);
      return Status::OK();
    }
    tcp::resolver resolver(ioc_);
    const auto results = resolver.resolve(options_.listen_address, std::to_string(options_.port),
                                          tcp::resolver::passive, ec);
    if (ec || results.empty()) {
      return Status::InvalidArgument("listen address '" + options_.listen_address +
                                     "' is neither an IP address nor a known host name" +
                                     (ec ? ": " + ec.message() : std::string()));
    }
    *endpoint = results.begin()->endpoint();
    return Status::OK();
  }

  const ServerOptions options_;
  Shared shared_;
  std::mutex state_mu_;  // serializes Start() and Stop()
  bool started_ = false;
  bool stopped_ = false;
  std::string host_;
  uint16_t port_ = 0;
  std::mutex io_mu_;
  std::condition_variable io_cv_;
  uint32_t running_io_threads_ = 0;
  std::vector<std::thread> io_threads_;

  // Destroyed in reverse order: the pool and the listener, which hold sockets and timers of
  // ioc_, go before it.
  asio::io_context ioc_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::optional<asio::thread_pool> workers_;
  std::shared_ptr<Listener> listener_;
};

Server::Server(engine::Engine* engine, ServerOptions options)
    : impl_(std::make_unique<Impl>(engine, std::move(options))) {}

Server::~Server() = default;

Status Server::Start() { return impl_->Start(); }
const std::string& Server::host() const { return impl_->host(); }
uint16_t Server::port() const { return impl_->port(); }
void Server::Stop() { impl_->Stop(); }

}  // namespace api
}  // namespace reco
