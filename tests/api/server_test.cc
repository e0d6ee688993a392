// api/server + api/client over a real Engine (RocksDB in a temp dir, plugins from the build
// tree) on a real socket. Spaces use plugin "none" (vectors given), so no model is needed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <initializer_list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/client/client.h"
#include "api/server/frame.h"
#include "api/server/server.h"
#include "engine/engine.h"
#include "testutil/temp_dir.h"

namespace reco {
namespace {

namespace v1 = api::v1;

#define ASSERT_OK(expr)                                       \
  do {                                                        \
    const ::reco::Status _st = (expr);                        \
    ASSERT_TRUE(_st.ok()) << #expr << ": " << _st.ToString(); \
  } while (0)

// A plain blocking socket, for what the client never sends: oversized or junk frames, and
// many requests written before any answer is read.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    timeval timeout{10, 0};  // a read that hangs fails the test instead of blocking it
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  }
  ~RawConnection() { close(fd_); }

  bool connected() const { return connected_; }

  bool SendAll(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  bool Send(const v1::Request& request) {
    std::string frame;
    return api::AppendFrame(request, &frame) && SendAll(frame);
  }

  // One response frame; false on EOF, error or a 10 s timeout.
  bool Read(v1::Response* response) {
    std::string header(api::kFrameHeaderBytes, '\0');
    if (!ReadExactly(&header)) return false;
    std::string body(api::DecodeFrameHeader(reinterpret_cast<unsigned char*>(&header[0])), '\0');
    return ReadExactly(&body) && response->ParseFromString(body);
  }

  // True when the server closed the connection (EOF, or a reset) before sending anything more.
  bool ClosedByPeer() {
    char c;
    const ssize_t n = recv(fd_, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

 private:
  bool ReadExactly(std::string* out) {
    size_t got = 0;
    while (got < out->size()) {
      const ssize_t n = recv(fd_, &(*out)[got], out->size() - got, 0);
      if (n <= 0) return false;
      got += static_cast<size_t>(n);
    }
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
};

v1::Item MakeItem(const std::string& id, std::vector<float> vector, const std::string& title = "") {
  v1::Item item;
  item.set_id(id);
  item.set_text("text of " + id);
  if (!title.empty()) (*item.mutable_attributes())["title"].set_string_value(title);
  (*item.mutable_vectors())["v"].mutable_values()->Add(vector.begin(), vector.end());
  return item;
}

void SetValues(v1::FloatVector* vector, std::initializer_list<float> values) {
  vector->mutable_values()->Add(values.begin(), values.end());
}

v1::Request PingRequest(uint64_t id) {
  v1::Request request;
  request.set_request_id(id);
  request.mutable_ping();
  return request;
}

// An upsert of `count` items "<prefix>-<i>": big enough that the engine takes a while.
v1::Request BigUpsert(uint64_t id, const std::string& prefix, int count) {
  v1::Request request;
  request.set_request_id(id);
  request.mutable_upsert()->set_collection("shop");
  for (int i = 0; i < count; ++i) {
    *request.mutable_upsert()->add_items() =
        MakeItem(prefix + "-" + std::to_string(i), {float(i % 7), float(i % 5), 1, float(i)});
  }
  return request;
}

class apiServer : public ::testing::Test {
 protected:
  void SetUp() override {
    engine::EngineOptions options;
    options.data_dir = dir_.Sub("data");
    options.plugin_dir = RECO_PLUGIN_DIR;
    ASSERT_OK(engine::Engine::Open(options, &engine_));
  }

  void TearDown() override {
    client_.reset();
    server_.reset();  // stops it
    engine_.reset();
  }

  void StartServer(api::ServerOptions options = {}) {
    server_ = std::make_unique<api::Server>(engine_.get(), options);
    ASSERT_OK(server_->Start());
    ASSERT_NE(server_->port(), 0);
    client_ = std::make_unique<api::Client>();
    ASSERT_OK(client_->Connect(Address()));
  }

  std::string Address() const { return "127.0.0.1:" + std::to_string(server_->port()); }

  // "shop": one space "v", plugin "none", dim 4, L2 (so the nearest vector wins plainly).
  void CreateShop() {
    v1::CreateCollectionRequest request;
    request.set_name("shop");
    v1::SpaceConfig* space = request.add_spaces();
    space->set_name("v");
    space->set_plugin("none");
    space->set_dim(4);
    space->set_metric("l2");
    space->set_index("Flat");
    ASSERT_OK(client_->CreateCollection(request));
  }

  testing::TempDir dir_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<api::Server> server_;
  std::unique_ptr<api::Client> client_;
};

TEST_F(apiServer, CollectionItemAndSearchRoundTrips) {
  StartServer();
  std::string version;
  ASSERT_OK(client_->Ping(&version));
  CreateShop();

  std::vector<v1::CollectionConfig> collections;
  ASSERT_OK(client_->ListCollections(&collections));
  ASSERT_EQ(collections.size(), 1u);
  EXPECT_EQ(collections[0].name(), "shop");
  v1::CollectionConfig shop;
  ASSERT_OK(client_->GetCollection("shop", &shop));
  ASSERT_EQ(shop.spaces_size(), 1);
  EXPECT_EQ(shop.spaces(0).name(), "v");
  EXPECT_EQ(shop.spaces(0).plugin(), "none");
  EXPECT_EQ(shop.spaces(0).dim(), 4u);
  EXPECT_EQ(shop.spaces(0).metric(), "l2");

  v1::UpsertRequest upsert;
  upsert.set_collection("shop");
  *upsert.add_items() = MakeItem("a", {1, 0, 0, 0}, "Red shoe");
  *upsert.add_items() = MakeItem("b", {0, 1, 0, 0}, "Blue hat");
  *upsert.add_items() = MakeItem("c", {0.9f, 0.1f, 0, 0}, "Pink shoe");
  auto& attributes = *upsert.mutable_items(0)->mutable_attributes();
  attributes["price"].set_number_value(9.5);
  attributes["in_stock"].set_bool_value(true);
  attributes["tags"].mutable_list_value()->add_values("shoes");
  attributes["tags"].mutable_list_value()->add_values("red");
  ASSERT_OK(client_->Upsert(upsert));

  v1::StoredItem a;
  ASSERT_OK(client_->Get("shop", "a", /*with_vectors=*/true, &a));
  EXPECT_EQ(a.item().id(), "a");
  EXPECT_EQ(a.item().text(), "text of a");
  EXPECT_EQ(a.item().attributes().at("title").string_value(), "Red shoe");
  EXPECT_EQ(a.item().attributes().at("price").number_value(), 9.5);
  EXPECT_TRUE(a.item().attributes().at("in_stock").bool_value());
  ASSERT_EQ(a.item().attributes().at("tags").list_value().values_size(), 2);
  EXPECT_EQ(a.item().attributes().at("tags").list_value().values(1), "red");
  EXPECT_GT(a.created_ms(), 0);
  EXPECT_GE(a.updated_ms(), a.created_ms());
  ASSERT_EQ(a.vectors_size(), 1);
  EXPECT_EQ(a.vectors(0).space(), "v");
  EXPECT_EQ(a.vectors(0).provenance().plugin(), "none");
  ASSERT_EQ(a.vectors(0).values_size(), 4);
  EXPECT_EQ(a.vectors(0).values(0), 1.0f);

  v1::StoredItem b;
  ASSERT_OK(client_->Get("shop", "b", /*with_vectors=*/false, &b));
  for (const auto& v : b.vectors()) EXPECT_EQ(v.values_size(), 0);  // provenance only

  v1::SearchRequest search;
  search.set_collection("shop");
  search.set_space("v");
  search.set_k(2);
  SetValues(search.mutable_vector(), {1, 0, 0, 0});
  std::vector<v1::Hit> hits;
  ASSERT_OK(client_->Search(search, &hits));
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].id(), "a");
  EXPECT_EQ(hits[1].id(), "c");
  EXPECT_GE(hits[0].score(), hits[1].score());

  v1::SearchRequest similar;
  similar.set_collection("shop");
  similar.set_item_id("a");
  similar.set_k(5);
  ASSERT_OK(client_->Search(similar, &hits));
  ASSERT_EQ(hits.size(), 2u);  // the item itself is left out
  EXPECT_EQ(hits[0].id(), "c");
  EXPECT_EQ(hits[1].id(), "b");

  v1::StatsResponse stats;
  ASSERT_OK(client_->Stats("shop", &stats));
  EXPECT_EQ(stats.name(), "shop");
  EXPECT_EQ(stats.items(), 3u);
  ASSERT_EQ(stats.spaces_size(), 1);
  EXPECT_EQ(stats.spaces(0).vectors(), 3u);
  EXPECT_EQ(stats.spaces(0).dim(), 4u);
  EXPECT_EQ(stats.spaces(0).plugin(), "none");

  ASSERT_OK(client_->Delete("shop", "b"));
  EXPECT_EQ(client_->Get("shop", "b", false, &b).code(), Status::Code::kNotFound);
  ASSERT_OK(client_->Stats("shop", &stats));
  EXPECT_EQ(stats.items(), 2u);
  EXPECT_EQ(stats.spaces(0).vectors(), 2u);

  v1::ListPluginsResponse plugins;
  ASSERT_OK(client_->ListPlugins(&plugins));

  ASSERT_OK(client_->DropCollection("shop"));
  EXPECT_EQ(client_->GetCollection("shop", &shop).code(), Status::Code::kNotFound);
  ASSERT_OK(client_->ListCollections(&collections));
  EXPECT_TRUE(collections.empty());
}

TEST_F(apiServer, UnknownCollectionIsNotFound) {
  StartServer();
  v1::StoredItem item;
  Status st = client_->Get("nope", "a", false, &item);
  EXPECT_EQ(st.code(), Status::Code::kNotFound) << st.ToString();
  EXPECT_NE(st.message().find("nope"), std::string::npos) << st.message();

  v1::StatsResponse stats;
  EXPECT_EQ(client_->Stats("nope", &stats).code(), Status::Code::kNotFound);
  EXPECT_EQ(client_->DropCollection("nope").code(), Status::Code::kNotFound);
  v1::UpsertRequest upsert;
  upsert.set_collection("nope");
  *upsert.add_items() = MakeItem("a", {1, 0, 0, 0});
  EXPECT_EQ(client_->Upsert(upsert).code(), Status::Code::kNotFound);
  v1::SearchRequest search;
  search.set_collection("nope");
  search.set_k(1);
  search.set_item_id("a");
  std::vector<v1::Hit> hits;
  EXPECT_EQ(client_->Search(search, &hits).code(), Status::Code::kNotFound);
  // The connection is still good after errors.
  EXPECT_TRUE(client_->Ping().ok());
}

TEST_F(apiServer, KOutsideItsLimitIsOutOfRange) {
  StartServer();
  CreateShop();
  const uint32_t max_k = engine_->options().max_k;
  for (uint32_t k : {0u, max_k + 1}) {
    v1::SearchRequest search;
    search.set_collection("shop");
    search.set_k(k);
    SetValues(search.mutable_vector(), {1, 0, 0, 0});
    std::vector<v1::Hit> hits;
    Status st = client_->Search(search, &hits);
    EXPECT_EQ(st.code(), Status::Code::kOutOfRange) << st.ToString();
    EXPECT_NE(st.message().find("k = " + std::to_string(k)), std::string::npos) << st.message();
    EXPECT_NE(st.message().find(std::to_string(max_k)), std::string::npos) << st.message();
  }
}

TEST_F(apiServer, SearchWithoutQueryIsInvalidArgument) {
  StartServer();
  CreateShop();
  v1::SearchRequest search;
  search.set_collection("shop");
  search.set_k(3);
  std::vector<v1::Hit> hits;
  EXPECT_EQ(client_->Search(search, &hits).code(), Status::Code::kInvalidArgument);
}

TEST_F(apiServer, OversizedFrameIsAnsweredAndClosedWhileOthersAreServed) {
  api::ServerOptions options;
  options.max_frame_bytes = 4096;
  StartServer(options);

  RawConnection raw(server_->port());
  ASSERT_TRUE(raw.connected());
  unsigned char header[api::kFrameHeaderBytes];
  api::EncodeFrameHeader(1u << 20, header);  // claims 1 MiB, sends nothing more
  ASSERT_TRUE(raw.SendAll(std::string(reinterpret_cast<char*>(header), sizeof(header))));

  v1::Response response;
  ASSERT_TRUE(raw.Read(&response));
  EXPECT_EQ(response.request_id(), 0u);
  EXPECT_EQ(response.error().code(), v1::OUT_OF_RANGE);
  EXPECT_NE(response.error().message().find("1048576"), std::string::npos)
      << response.error().message();
  EXPECT_NE(response.error().message().find("4096"), std::string::npos)
      << response.error().message();
  EXPECT_TRUE(raw.ClosedByPeer());

  // The server itself is fine: the existing client and a new one are served.
  EXPECT_TRUE(client_->Ping().ok());
  api::Client other;
  ASSERT_OK(other.Connect(Address()));
  EXPECT_TRUE(other.Ping().ok());
}

TEST_F(apiServer, GarbageFrameIsInvalidArgumentAndTheConnectionStaysUsable) {
  StartServer();
  RawConnection raw(server_->port());
  ASSERT_TRUE(raw.connected());
  // A valid length, then bytes that are no protobuf message (an unterminated varint tag).
  const std::string junk(8, '\xff');
  unsigned char header[api::kFrameHeaderBytes];
  api::EncodeFrameHeader(static_cast<uint32_t>(junk.size()), header);
  ASSERT_TRUE(raw.SendAll(std::string(reinterpret_cast<char*>(header), sizeof(header)) + junk));

  v1::Response response;
  ASSERT_TRUE(raw.Read(&response));
  EXPECT_EQ(response.request_id(), 0u);
  EXPECT_EQ(response.error().code(), v1::INVALID_ARGUMENT);
  EXPECT_NE(response.error().message().find("malformed request frame"), std::string::npos)
      << response.error().message();

  // Same connection, a good request.
  ASSERT_TRUE(raw.Send(PingRequest(7)));
  ASSERT_TRUE(raw.Read(&response));
  EXPECT_EQ(response.request_id(), 7u);
  EXPECT_EQ(response.error().code(), v1::OK) << response.error().message();
  EXPECT_TRUE(response.has_ping());
  EXPECT_TRUE(client_->Ping().ok());
}

TEST_F(apiServer, AFrameThatStopsHalfwayIsClosedAfterTheReadTimeout) {
  api::ServerOptions options;
  options.read_timeout = std::chrono::milliseconds(200);
  StartServer(options);
  RawConnection raw(server_->port());
  ASSERT_TRUE(raw.connected());
  ASSERT_TRUE(raw.SendAll(std::string("\0\0", 2)));  // half a header, then nothing
  EXPECT_TRUE(raw.ClosedByPeer());                   // within the 10 s receive timeout
  EXPECT_TRUE(client_->Ping().ok());
}

TEST_F(apiServer, AnIdleConnectionIsClosedAfterTheIdleTimeout) {
  api::ServerOptions options;
  options.idle_timeout = std::chrono::milliseconds(200);
  StartServer(options);
  RawConnection raw(server_->port());
  ASSERT_TRUE(raw.connected());
  ASSERT_TRUE(raw.Send(PingRequest(1)));
  v1::Response response;
  ASSERT_TRUE(raw.Read(&response));
  EXPECT_TRUE(raw.ClosedByPeer());
}

TEST_F(apiServer, RequestWithoutBodyIsInvalidArgument) {
  StartServer();
  RawConnection raw(server_->port());
  ASSERT_TRUE(raw.connected());
  v1::Request empty;
  empty.set_request_id(42);
  ASSERT_TRUE(raw.Send(empty));
  v1::Response response;
  ASSERT_TRUE(raw.Read(&response));
  EXPECT_EQ(response.request_id(), 42u);
  EXPECT_EQ(response.error().code(), v1::INVALID_ARGUMENT);
  EXPECT_EQ(response.body_case(), v1::Response::BODY_NOT_SET);

  ASSERT_TRUE(raw.Send(PingRequest(43)));
  ASSERT_TRUE(raw.Read(&response));
  EXPECT_EQ(response.request_id(), 43u);
  EXPECT_TRUE(response.has_ping());
}

TEST_F(apiServer, PipelinedRequestsAreAllAnsweredWithTheirIds) {
  StartServer();
  CreateShop();
  v1::UpsertRequest seed;
  seed.set_collection("shop");
  for (int i = 0; i < 10; ++i) {
    *seed.add_items() = MakeItem("s" + std::to_string(i), {float(i), 1, 0, 0});
  }
  ASSERT_OK(client_->Upsert(seed));

  RawConnection raw(server_->port());
  ASSERT_TRUE(raw.connected());
  std::string frames;
  std::map<uint64_t, v1::Request::BodyCase> sent;
  for (uint64_t id = 100; id < 130; ++id) {
    v1::Request request;
    request.set_request_id(id);
    switch (id % 3) {
      case 0:
        request.mutable_ping();
        break;
      case 1:
        request.mutable_get_item()->set_collection("shop");
        request.mutable_get_item()->set_id("s" + std::to_string(id % 10));
        break;
      default:
        request.mutable_search()->set_collection("shop");
        request.mutable_search()->set_k(3);
        request.mutable_search()->set_item_id("s" + std::to_string(id % 10));
        break;
    }
    sent[id] = request.body_case();
    ASSERT_TRUE(api::AppendFrame(request, &frames));
  }
  ASSERT_TRUE(raw.SendAll(frames));  // every request written before any answer is read

  std::set<uint64_t> answered;
  for (size_t i = 0; i < sent.size(); ++i) {
    v1::Response response;
    ASSERT_TRUE(raw.Read(&response)) << "answer " << i;
    ASSERT_TRUE(sent.count(response.request_id())) << response.request_id();
    EXPECT_TRUE(answered.insert(response.request_id()).second) << "answered twice";
    EXPECT_EQ(response.error().code(), v1::OK) << response.error().message();
    // Request and Response use the same field numbers for each operation.
    EXPECT_EQ(static_cast<int>(response.body_case()),
              static_cast<int>(sent[response.request_id()]));
  }
  EXPECT_EQ(answered.size(), sent.size());
}

TEST_F(apiServer, OverloadIsAnsweredUnavailableNotQueued) {
  api::ServerOptions options;
  options.worker_threads = 1;
  options.max_inflight = 1;
  StartServer(options);
  CreateShop();

  // One slow request takes the only slot; the pings behind it arrive while it runs.
  RawConnection raw(server_->port());
  ASSERT_TRUE(raw.connected());
  std::string frames;
  ASSERT_TRUE(api::AppendFrame(BigUpsert(1, "big", 5000), &frames));
  for (uint64_t id = 2; id <= 31; ++id) ASSERT_TRUE(api::AppendFrame(PingRequest(id), &frames));
  ASSERT_TRUE(raw.SendAll(frames));

  int overloaded = 0;
  std::set<uint64_t> answered;
  for (int i = 0; i < 31; ++i) {
    v1::Response response;
    ASSERT_TRUE(raw.Read(&response)) << "answer " << i;
    answered.insert(response.request_id());
    if (response.request_id() == 1) {
      EXPECT_EQ(response.error().code(), v1::OK) << response.error().message();
    } else if (response.error().code() == v1::UNAVAILABLE) {
      EXPECT_NE(response.error().message().find("overloaded"), std::string::npos);
      ++overloaded;
    } else {
      EXPECT_EQ(response.error().code(), v1::OK) << response.error().message();
    }
  }
  EXPECT_EQ(answered.size(), 31u);
  EXPECT_GT(overloaded, 0);
  EXPECT_TRUE(client_->Ping().ok());  // the slot is free again
}

TEST_F(apiServer, StopFinishesInFlightRequestsAndWritesTheirAnswers) {
  api::ServerOptions options;
  options.worker_threads = 1;  // the upserts run one after another: some wait in flight
  StartServer(options);
  CreateShop();

  RawConnection raw(server_->port());
  ASSERT_TRUE(raw.connected());
  constexpr int kBatches = 4;
  std::string frames;
  for (int b = 1; b <= kBatches; ++b) {
    ASSERT_TRUE(api::AppendFrame(BigUpsert(b, "b" + std::to_string(b), 5000), &frames));
  }
  ASSERT_TRUE(raw.SendAll(frames));

  std::vector<v1::Response> responses(1);
  ASSERT_TRUE(raw.Read(&responses[0]));  // the first is done; the others are in flight
  server_->Stop();                       // returns after their answers were written

  for (int i = 1; i < kBatches; ++i) {
    v1::Response response;
    ASSERT_TRUE(raw.Read(&response)) << "answer " << i << " was lost in the stop";
    responses.push_back(response);
  }
  EXPECT_TRUE(raw.ClosedByPeer());

  std::set<uint64_t> ids;
  for (const auto& response : responses) {
    ids.insert(response.request_id());
    const bool ok = response.error().code() == v1::OK;
    EXPECT_TRUE(ok || response.error().code() == v1::UNAVAILABLE) << response.error().message();
    if (ok) {  // acknowledged means stored
      engine::ItemView view;
      const std::string prefix = "b" + std::to_string(response.request_id());
      EXPECT_TRUE(engine_->Get("shop", prefix + "-4999", false, &view).ok()) << prefix;
    }
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kBatches));

  api::Client late;
  EXPECT_EQ(late.Connect(Address()).code(), Status::Code::kIOError);
}

TEST_F(apiServer, ManyClientsOnSeveralIoThreads) {
  api::ServerOptions options;
  options.io_threads = 2;
  options.worker_threads = 2;
  StartServer(options);
  CreateShop();
  constexpr int kClients = 4;
  constexpr int kRounds = 40;
  std::vector<std::string> failures(kClients);
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      api::Client client;  // one client per thread
      Status st = client.Connect(Address());
      for (int r = 0; st.ok() && r < kRounds; ++r) {
        const std::string id = "c" + std::to_string(c) + "-" + std::to_string(r);
        v1::UpsertRequest upsert;
        upsert.set_collection("shop");
        *upsert.add_items() = MakeItem(id, {float(c), float(r), 1, 0});
        st = client.Upsert(upsert);
        v1::StoredItem item;
        if (st.ok()) st = client.Get("shop", id, false, &item);
        if (st.ok() && item.item().id() != id) st = Status::Internal("got " + item.item().id());
        v1::SearchRequest search;
        search.set_collection("shop");
        search.set_item_id(id);
        search.set_k(3);
        std::vector<v1::Hit> hits;
        if (st.ok()) st = client.Search(search, &hits);
      }
      if (!st.ok()) failures[c] = st.ToString();
    });
  }
  for (auto& thread : threads) thread.join();
  for (int c = 0; c < kClients; ++c) EXPECT_EQ(failures[c], "") << "client " << c;
  v1::StatsResponse stats;
  ASSERT_OK(client_->Stats("shop", &stats));
  EXPECT_EQ(stats.items(), static_cast<uint64_t>(kClients * kRounds));
}

TEST_F(apiServer, ClientReportsConnectionFailuresAsIOError) {
  StartServer();
  const std::string address = Address();
  server_.reset();
  api::Client client;
  EXPECT_EQ(client.Connect(address).code(), Status::Code::kIOError);
  EXPECT_EQ(client.Ping().code(), Status::Code::kIOError);  // not connected
  EXPECT_EQ(client.Connect("no-port").code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace reco
