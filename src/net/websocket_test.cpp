#include <gtest/gtest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include <sys/resource.h>
#include <sys/socket.h>
#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "net/server.hpp"
#include "net/test_support.hpp"

namespace office::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

struct Observed {
  testing::Counter opened;
  testing::Counter closed;
  std::atomic<int> close_code{0};
  std::atomic<int> send_failures{0};
  std::atomic<bool> saw_upgrade_flag{false};
  std::mutex mu;
  std::string factory_thread;  // where the last WebSocket factory ran
};

class EchoHandler final : public WebSocketHandler {
 public:
  explicit EchoHandler(std::shared_ptr<Observed> obs) : obs_(std::move(obs)) {}
  void on_open(std::shared_ptr<WebSocketSession> s) override {
    session_ = std::move(s);
    obs_->opened.add();
  }
  void on_message(std::string_view text) override {
    if (text == "flood") {
      for (int i = 0; i < 200; ++i)
        if (!session_->send_text(std::string(1024, 'f'))) ++obs_->send_failures;
      return;
    }
    session_->send_text(std::string(text));
  }
  void on_close(std::uint16_t code) override {
    obs_->close_code = code;
    obs_->closed.add();
  }

 private:
  std::shared_ptr<Observed> obs_;
  std::shared_ptr<WebSocketSession> session_;
};

std::unique_ptr<Router> ws_router(std::shared_ptr<Observed> obs) {
  auto r = std::make_unique<Router>();
  auto factory = [obs](Request& req) -> Result<std::unique_ptr<WebSocketHandler>> {
    {
      std::lock_guard lock(obs->mu);
      obs->factory_thread = testing::thread_name();
    }
    return std::unique_ptr<WebSocketHandler>(std::make_unique<EchoHandler>(obs));
  };
  r->add_websocket("/ws/echo", factory, {.auth = false});
  r->add_websocket("/ws/private", factory);
  r->set_authenticator([obs](const Request& q) -> Result<Principal> {
    if (q.websocket_upgrade) obs->saw_upgrade_flag = true;
    if (q.query_param("access_token") != "good") return Error::unauthenticated("no token");
    return Principal{};
  });
  return r;
}

ServerOptions ws_options() {
  ServerOptions o;
  o.io_threads = 2;
  o.ws_max_message_bytes = 4096;
  o.ws_max_queued_bytes = 16 * 1024;
  o.request_timeout = 2s;
  o.idle_timeout = 5s;
  o.shutdown_grace = 3s;
  return o;
}

struct WsClient {
  WsClient() : ws(own_ioc) {}
  explicit WsClient(asio::io_context& shared) : ws(shared) {}  // many clients, one context
  asio::io_context own_ioc;
  websocket::stream<tcp::socket> ws;
  websocket::response_type handshake_response;

  beast::error_code connect(std::uint16_t port, const std::string& target) {
    beast::error_code ec;
    ws.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    if (ec) return ec;
    timeval tv{5, 0};  // no test hangs forever on a read
    ::setsockopt(ws.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ws.handshake(handshake_response, "127.0.0.1", target, ec);
    return ec;
  }
  // Reads until an error; returns the close code seen (0 if none) and counts messages.
  int read_until_closed(int* messages = nullptr) {
    beast::flat_buffer buf;
    while (true) {
      beast::error_code ec;
      ws.read(buf, ec);
      if (ec) return ec == websocket::error::closed ? ws.reason().code : 0;
      if (messages) ++*messages;
      buf.consume(buf.size());
    }
  }
  // Reads one text message (empty on error).
  std::string read_text() {
    beast::flat_buffer buf;
    beast::error_code ec;
    ws.read(buf, ec);
    return ec ? std::string() : beast::buffers_to_string(buf.data());
  }
  void write_text(const std::string& text) {
    ws.text(true);
    ws.write(asio::buffer(text));
  }
};

struct WebSocketFixture : ::testing::Test {
  void SetUp() override {
    obs = std::make_shared<Observed>();
    server = std::make_unique<testing::TestServer>(ws_options(), ws_router(obs));
    ASSERT_NE(server->port(), 0);
    server->start();
  }
  std::shared_ptr<Observed> obs;
  std::unique_ptr<testing::TestServer> server;
};

TEST_F(WebSocketFixture, Echo) {
  WsClient c;
  ASSERT_FALSE(c.connect(server->port(), "/ws/echo"));
  EXPECT_FALSE(c.handshake_response["traceparent"].empty());
  c.ws.text(true);
  c.ws.write(asio::buffer(std::string("hello")));
  beast::flat_buffer buf;
  c.ws.read(buf);
  EXPECT_EQ(beast::buffers_to_string(buf.data()), "hello");
  EXPECT_TRUE(c.ws.got_text());
  c.ws.close(websocket::close_code::normal);
  beast::error_code ec;
  while (!ec) c.ws.read(buf, ec);
  ASSERT_TRUE(obs->closed.wait_at_least(1));
  EXPECT_EQ(obs->opened.value(), 1);
  EXPECT_EQ(obs->close_code, 1000);
}

// The factory may hit the database: it runs on the worker pool.
TEST_F(WebSocketFixture, FactoryRunsOnTheWorkerPool) {
  WsClient c;
  ASSERT_FALSE(c.connect(server->port(), "/ws/echo"));
  std::lock_guard lock(obs->mu);
  EXPECT_EQ(obs->factory_thread.rfind("worker", 0), 0u) << obs->factory_thread;
}

TEST_F(WebSocketFixture, OversizeMessageCloses1009) {
  WsClient c;
  ASSERT_FALSE(c.connect(server->port(), "/ws/echo"));
  c.ws.write(asio::buffer(std::string(5000, 'x')));
  EXPECT_EQ(c.read_until_closed(), 1009);
}

TEST_F(WebSocketFixture, BinaryMessageCloses1003) {
  WsClient c;
  ASSERT_FALSE(c.connect(server->port(), "/ws/echo"));
  c.ws.binary(true);
  c.ws.write(asio::buffer(std::string("\x01\x02")));
  EXPECT_EQ(c.read_until_closed(), 1003);
}

TEST_F(WebSocketFixture, SlowReaderOverflowCloses1013) {
  WsClient c;
  ASSERT_FALSE(c.connect(server->port(), "/ws/echo"));
  // The handler queues 200 KiB in one go on the connection's I/O thread, so
  // nothing is written meanwhile: the 16 KiB queue overflows whatever we read.
  c.ws.write(asio::buffer(std::string("flood")));
  int messages = 0;
  EXPECT_EQ(c.read_until_closed(&messages), 1013);
  EXPECT_LT(messages, 200);
  EXPECT_GE(obs->send_failures, 1);
}

TEST_F(WebSocketFixture, AuthenticatedUpgrade) {
  WsClient denied;
  auto ec = denied.connect(server->port(), "/ws/private");
  EXPECT_EQ(ec, websocket::error::upgrade_declined);
  EXPECT_EQ(denied.handshake_response.result_int(), 401);
  EXPECT_TRUE(obs->saw_upgrade_flag);

  WsClient ok;
  ASSERT_FALSE(ok.connect(server->port(), "/ws/private?access_token=good"));
  ok.ws.write(asio::buffer(std::string("x")));
  beast::flat_buffer buf;
  ok.ws.read(buf);
  EXPECT_EQ(beast::buffers_to_string(buf.data()), "x");
}

TEST_F(WebSocketFixture, ServerStopClosesWith1001) {
  WsClient a, b;
  ASSERT_FALSE(a.connect(server->port(), "/ws/echo"));
  ASSERT_FALSE(b.connect(server->port(), "/ws/echo"));
  ASSERT_TRUE(obs->opened.wait_at_least(2));
  server->server().stop();
  EXPECT_EQ(a.read_until_closed(), 1001);
  EXPECT_EQ(b.read_until_closed(), 1001);
  EXPECT_TRUE(server->join_for(5s));
  EXPECT_EQ(obs->close_code, 1001);
}

// --- our framing after the handshake -------------------------------------------

// Raw bytes on the socket under the Beast client (frames Beast would not send).
void write_raw(WsClient& c, const std::string& bytes) {
  asio::write(c.ws.next_layer(), asio::buffer(bytes));
}

TEST_F(WebSocketFixture, PingIsAnsweredWithItsPayload) {
  WsClient c;
  ASSERT_FALSE(c.connect(server->port(), "/ws/echo"));
  std::string pong;
  c.ws.control_callback([&](websocket::frame_type kind, beast::string_view payload) {
    if (kind == websocket::frame_type::pong) pong = std::string(payload);
  });
  c.ws.ping("are you there");
  c.write_text("after the ping");
  EXPECT_EQ(c.read_text(), "after the ping");  // the pong came before it
  EXPECT_EQ(pong, "are you there");
}

TEST_F(WebSocketFixture, UnmaskedClientFrameCloses1002) {
  WsClient c;
  ASSERT_FALSE(c.connect(server->port(), "/ws/echo"));
  write_raw(c, std::string("\x81\x02hi", 4));  // a client frame must be masked
  EXPECT_EQ(c.read_until_closed(), 1002);
  ASSERT_TRUE(obs->closed.wait_at_least(1));
  EXPECT_EQ(obs->close_code, 1002);
}

TEST_F(WebSocketFixture, InvalidUtf8Closes1007) {
  WsClient c;
  ASSERT_FALSE(c.connect(server->port(), "/ws/echo"));
  c.write_text("ok");
  EXPECT_EQ(c.read_text(), "ok");
  c.write_text(std::string("\xed\xa0\x80", 3));  // a lone surrogate
  EXPECT_EQ(c.read_until_closed(), 1007);
}

TEST_F(WebSocketFixture, FragmentedMessageIsReassembled) {
  WsClient c;
  ASSERT_FALSE(c.connect(server->port(), "/ws/echo"));
  c.ws.text(true);
  c.ws.write_some(false, asio::buffer(std::string("frag")));
  c.ws.ping("between");  // a control frame between fragments is allowed
  c.ws.write_some(true, asio::buffer(std::string("mented 😀")));
  EXPECT_EQ(c.read_text(), "fragmented 😀");
}

// A client that stops answering (not even pings) is dropped after the idle
// timeout; one that only answers pings stays.
struct WebSocketIdle : ::testing::Test {
  void start(std::chrono::milliseconds idle_timeout) {
    auto o = ws_options();
    o.idle_timeout = idle_timeout;
    server = std::make_unique<testing::TestServer>(o, ws_router(obs));
    ASSERT_NE(server->port(), 0);
    server->start();
  }
  std::shared_ptr<Observed> obs = std::make_shared<Observed>();
  std::unique_ptr<testing::TestServer> server;
};

TEST_F(WebSocketIdle, SilentPeerIsDroppedAfterTheIdleTimeout) {
  start(600ms);
  WsClient silent;  // never reads: Beast answers pings only inside a read
  ASSERT_FALSE(silent.connect(server->port(), "/ws/echo"));
  ASSERT_TRUE(obs->opened.wait_at_least(1));
  EXPECT_TRUE(obs->closed.wait_at_least(1, 5s));
  EXPECT_EQ(obs->close_code, 1006);
}

TEST_F(WebSocketIdle, PeerThatAnswersPingsStays) {
  start(400ms);
  WsClient c;
  ASSERT_FALSE(c.connect(server->port(), "/ws/echo"));
  std::atomic<int> pings{0};
  c.ws.control_callback([&](websocket::frame_type kind, beast::string_view) {
    if (kind == websocket::frame_type::ping) ++pings;
  });
  // Reads (and so answers pings) for three idle timeouts without sending data.
  std::thread reader([&] {
    beast::flat_buffer buf;
    beast::error_code ec;
    while (!ec) c.ws.read(buf, ec);
  });
  std::this_thread::sleep_for(1200ms);
  const int closed_meanwhile = obs->closed.value();
  boost::system::error_code ignored;
  c.ws.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
  reader.join();
  EXPECT_EQ(closed_meanwhile, 0);
  EXPECT_GE(pings.load(), 1);
}

// --- fan-out ------------------------------------------------------------------

// Message i of a "batch" command: 0, 125, 126, 65535 and 65536 bytes are
// among the lengths (the edges of the three frame header sizes).
std::string batch_text(std::size_t i) {
  static constexpr std::size_t kLengths[] = {0, 1, 125, 126, 127, 65535, 65536, 70000, 3};
  std::string digits = std::to_string(i);
  std::string out;
  const std::size_t len = kLengths[i % std::size(kLengths)];
  while (out.size() < len) out += digits;
  out.resize(len);
  return out;
}

// Every session of /ws/hub, and commands to send to them from the I/O thread of
// the connection that asked (so nothing is written while a command runs: the
// queues are exactly what the command put there).
struct Hub {
  std::mutex mu;
  std::vector<std::shared_ptr<WebSocketSession>> sessions;  // guarded by mu, in order of opening
  HttpServer* server = nullptr;
  std::vector<bool> results;     // guarded by mu: of the last command, per send
  std::size_t queued_after = 0;  // guarded by mu: ws_queued_bytes right after it
  testing::Counter opened, commands, closed;
  std::mutex codes_mu;
  std::vector<int> close_codes;
};

class HubHandler final : public WebSocketHandler {
 public:
  explicit HubHandler(std::shared_ptr<Hub> hub) : hub_(std::move(hub)) {}
  void on_open(std::shared_ptr<WebSocketSession> s) override {
    self_ = s;
    {
      std::lock_guard lock(hub_->mu);
      hub_->sessions.push_back(std::move(s));
    }
    hub_->opened.add();
  }
  void on_message(std::string_view text) override {
    std::string cmd(text.substr(0, text.find(':')));
    std::size_t n = text.find(':') == std::string_view::npos
                        ? 0
                        : std::stoul(std::string(text.substr(text.find(':') + 1)));
    std::vector<bool> results;
    if (cmd == "shared") {  // one message of n bytes to every session
      SharedMessage msg(std::string(n, 's'));
      for (auto& s : snapshot()) results.push_back(s->send_shared(msg));
    } else if (cmd == "batch") {  // "before", a batch of n framed messages, "after"; to every
                                  // session. Message i is i's digits repeated to a length
                                  // that walks through the three header sizes.
      std::vector<std::string> texts;
      for (std::size_t i = 0; i < n; ++i) texts.push_back(batch_text(i));
      std::vector<std::string_view> views(texts.begin(), texts.end());
      SharedMessage msg = SharedMessage::frames(views);
      for (auto& s : snapshot()) {
        results.push_back(s->send_text("before"));
        results.push_back(s->send_shared(msg));
        results.push_back(s->send_text("after"));
      }
    } else if (cmd == "private") {  // n bytes to every session, a copy each
      for (auto& s : snapshot()) results.push_back(s->send_text(std::string(n, 'p')));
    } else if (cmd == "count") {  // n one-byte messages to this session
      for (std::size_t i = 0; i < n; ++i) results.push_back(self_->send_text("c"));
    } else if (cmd == "kib") {  // n 1 KiB messages to this session
      for (std::size_t i = 0; i < n; ++i)
        results.push_back(self_->send_text(std::string(1024, 'k')));
    } else if (cmd == "close-after") {  // n numbered messages, then close(1000)
      for (std::size_t i = 0; i < n; ++i) results.push_back(self_->send_text(std::to_string(i)));
      self_->close(CloseCode::kNormal, "bye");
      results.push_back(self_->send_text("after close"));  // refused
    } else {
      self_->send_text("ok " + std::to_string(text.size()));
    }
    {
      std::lock_guard lock(hub_->mu);
      hub_->results = std::move(results);
      hub_->queued_after = hub_->server->stats().ws_queued_bytes;
    }
    hub_->commands.add();
  }
  void on_close(std::uint16_t code) override {
    {
      std::lock_guard lock(hub_->codes_mu);
      hub_->close_codes.push_back(code);
    }
    self_.reset();
    hub_->closed.add();
  }

 private:
  std::vector<std::shared_ptr<WebSocketSession>> snapshot() {
    std::lock_guard lock(hub_->mu);
    return hub_->sessions;
  }
  std::shared_ptr<Hub> hub_;
  std::shared_ptr<WebSocketSession> self_;
};

struct FanOutFixture : ::testing::Test {
  void start(ServerOptions o) {
    hub = std::make_shared<Hub>();
    auto r = std::make_unique<Router>();
    r->add_websocket("/ws/hub",
                     [hub = hub](Request&) -> Result<std::unique_ptr<WebSocketHandler>> {
                       return std::unique_ptr<WebSocketHandler>(std::make_unique<HubHandler>(hub));
                     },
                     {.auth = false});
    r->add_websocket("/ws/refuse",
                     [](Request&) -> Result<std::unique_ptr<WebSocketHandler>> {
                       return Error::denied("not for you");
                     },
                     {.auth = false});
    r->add(Method::kGet, "/hello", [](Request&) { return Response::json(200, "{}"); },
           {.auth = false, .run_inline = true});
    server = std::make_unique<testing::TestServer>(o, std::move(r));
    ASSERT_NE(server->port(), 0);
    hub->server = &server->server();
    server->start();
  }
  static ServerOptions options() {
    auto o = ws_options();
    o.io_threads =
        1;  // every session on one thread: a command's sends happen with no write between
    return o;
  }
  std::vector<bool> results() {
    std::lock_guard lock(hub->mu);
    return hub->results;
  }
  std::size_t queued_after() {
    std::lock_guard lock(hub->mu);
    return hub->queued_after;
  }
  // Sends a command and waits until the server has run it.
  void command(WsClient& c, const std::string& cmd) {
    int before = hub->commands.value();
    c.write_text(cmd);
    ASSERT_TRUE(hub->commands.wait_at_least(before + 1));
  }
  std::shared_ptr<Hub> hub;
  std::unique_ptr<testing::TestServer> server;
};

// One broadcast to 1,000 sockets: every one gets it, and the server-wide queue
// holds its bytes once (shared), not a thousand times.
TEST_F(FanOutFixture, BroadcastToAThousandSocketsSharesOneBuffer) {
  constexpr int kSockets = 1000;
  constexpr std::size_t kSize = 64 * 1024;
  // Both ends live in this process: two descriptors per socket, and some to spare.
  rlimit rl{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  const rlim_t need = 2 * kSockets + 256;
  if (rl.rlim_cur < need) {
    if (rl.rlim_max < need) GTEST_SKIP() << "needs ulimit -n >= " << need;
    rl.rlim_cur = need;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &rl), 0);
  }
  auto o = options();
  o.ws_max_queued_bytes = 128 * 1024;
  o.ws_max_total_queued_bytes = 1 << 20;  // far below 1,000 copies (64 MiB)
  start(o);
  asio::io_context ioc;
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < kSockets; ++i) {
    clients.push_back(std::make_unique<WsClient>(ioc));
    ASSERT_FALSE(clients.back()->connect(server->port(), "/ws/hub")) << i;
  }
  // A thousand handshakes under the sanitizers on a shared machine: the
  // bounds here only catch a hang, so they are wide.
  ASSERT_TRUE(hub->opened.wait_at_least(kSockets, std::chrono::seconds(90)));
  command(*clients[0], "shared:" + std::to_string(kSize));
  auto sent = results();
  ASSERT_EQ(sent.size(), static_cast<std::size_t>(kSockets));
  EXPECT_EQ(std::count(sent.begin(), sent.end(), true), kSockets);
  EXPECT_EQ(queued_after(), kSize);  // counted once

  const std::string want(kSize, 's');
  for (int i = 0; i < kSockets; ++i) ASSERT_EQ(clients[i]->read_text(), want) << i;
  EXPECT_TRUE(testing::eventually([&] { return server->server().stats().ws_queued_bytes == 0; },
                                  std::chrono::seconds(90)));
  EXPECT_EQ(server->server().stats().websockets, static_cast<std::size_t>(kSockets));
}

TEST_F(FanOutFixture, PerSocketQueueIsBoundedInMessages) {
  auto o = options();
  o.ws_max_queued_messages = 10;
  start(o);
  WsClient c;
  ASSERT_FALSE(c.connect(server->port(), "/ws/hub"));
  command(c, "count:11");
  auto sent = results();
  ASSERT_EQ(sent.size(), 11u);
  EXPECT_EQ(std::count(sent.begin(), sent.begin() + 10, true), 10);
  EXPECT_FALSE(sent[10]);  // the 11th would pass the bound: refused, and the socket closed
  EXPECT_EQ(c.read_until_closed(), 1013);
  EXPECT_TRUE(testing::eventually([&] { return server->server().stats().ws_queued_bytes == 0; }));
}

// A batch framed once reaches every session as its messages, in order, between
// what was sent before and after it; the shared bytes count once.
TEST_F(FanOutFixture, FramedBatchArrivesAsItsMessagesInOrder) {
  auto o = options();
  o.ws_max_queued_bytes = 1 << 20;  // the batch is about 400 KB
  start(o);
  WsClient a, b;
  for (auto* cl : {&a, &b}) ASSERT_FALSE(cl->connect(server->port(), "/ws/hub"));
  ASSERT_TRUE(hub->opened.wait_at_least(2));
  constexpr std::size_t kMessages = 20;
  command(a, "batch:" + std::to_string(kMessages));
  EXPECT_EQ(results(), std::vector<bool>(6, true));
  std::size_t batch_bytes = 0;
  for (std::size_t i = 0; i < kMessages; ++i) {
    const std::size_t n = batch_text(i).size();
    batch_bytes += n + (n < 126 ? 2 : n < 65536 ? 4 : 10);
  }
  // Queued right after the command (nothing written yet: one I/O thread):
  // the batch once, and 2 x ("before" + "after").
  EXPECT_EQ(queued_after(), batch_bytes + 2 * (6 + 5));
  for (auto* cl : {&a, &b}) {
    EXPECT_EQ(cl->read_text(), "before");
    for (std::size_t i = 0; i < kMessages; ++i) ASSERT_EQ(cl->read_text(), batch_text(i)) << i;
    EXPECT_EQ(cl->read_text(), "after");
  }
  EXPECT_TRUE(testing::eventually([&] { return server->server().stats().ws_queued_bytes == 0; }));
}

// The queue's message bound counts a batch's messages, not one entry.
TEST_F(FanOutFixture, FramedBatchCountsItsMessagesAgainstTheBound) {
  auto o = options();
  o.ws_max_queued_messages = 10;
  o.ws_max_queued_bytes = 1 << 20;
  start(o);
  WsClient c;
  ASSERT_FALSE(c.connect(server->port(), "/ws/hub"));
  command(c, "batch:9");  // "before" and 9 fit; "after" would be the 11th
  EXPECT_EQ(results(), (std::vector<bool>{true, true, false}));
  EXPECT_EQ(c.read_until_closed(), 1013);
}

TEST(SharedMessage, FramesOfNothingIsNoMessage) {
  EXPECT_EQ(SharedMessage::frames({}).message_count(), 0u);
  std::string_view two[] = {"a", "bc"};
  auto m = SharedMessage::frames(two);
  EXPECT_EQ(m.message_count(), 2u);
  EXPECT_EQ(m.text(), std::string_view("\x81\x01"
                                       "a\x81\x02"
                                       "bc",
                                       7));
  EXPECT_EQ(SharedMessage("x").message_count(), 1u);
}

TEST_F(FanOutFixture, PerSocketQueueIsBoundedInBytes) {
  auto o = options();
  o.ws_max_queued_bytes = 16 * 1024;
  start(o);
  WsClient c;
  ASSERT_FALSE(c.connect(server->port(), "/ws/hub"));
  command(c, "kib:17");
  auto sent = results();
  ASSERT_EQ(sent.size(), 17u);
  EXPECT_EQ(std::count(sent.begin(), sent.begin() + 16, true), 16);  // exactly 16 KiB fit
  EXPECT_FALSE(sent[16]);
  EXPECT_EQ(c.read_until_closed(), 1013);
}

// All queues together are bounded; a shared message counts once towards it.
TEST_F(FanOutFixture, ServerWideBudgetBoundsAllQueues) {
  auto o = options();
  o.ws_max_total_queued_bytes = 8 * 1024;
  start(o);
  WsClient a, b, c;
  for (auto* cl : {&a, &b, &c}) ASSERT_FALSE(cl->connect(server->port(), "/ws/hub"));
  ASSERT_TRUE(hub->opened.wait_at_least(3));

  command(a, "shared:6000");  // 3 x 6000 queued, counted as 6000
  EXPECT_EQ(results(), (std::vector<bool>{true, true, true}));
  EXPECT_EQ(queued_after(), 6000u);
  for (auto* cl : {&a, &b, &c}) EXPECT_EQ(cl->read_text().size(), 6000u);
  ASSERT_TRUE(testing::eventually([&] { return server->server().stats().ws_queued_bytes == 0; }));

  command(a, "private:3000");  // 3000, 6000, then 9000 would pass 8 KiB
  EXPECT_EQ(results(), (std::vector<bool>{true, true, false}));
  EXPECT_EQ(queued_after(), 6000u);
  EXPECT_EQ(a.read_text().size(), 3000u);
  EXPECT_EQ(b.read_text().size(), 3000u);
  EXPECT_EQ(c.read_until_closed(), 1013);  // the one whose send did not fit
  EXPECT_TRUE(testing::eventually([&] { return server->server().stats().ws_queued_bytes == 0; }));
}

// close() sends what was queued before it, then the close frame.
TEST_F(FanOutFixture, CloseSendsWhatWasQueuedFirst) {
  start(options());
  WsClient c;
  ASSERT_FALSE(c.connect(server->port(), "/ws/hub"));
  command(c, "close-after:100");
  auto sent = results();
  ASSERT_EQ(sent.size(), 101u);
  EXPECT_EQ(std::count(sent.begin(), sent.begin() + 100, true), 100);
  EXPECT_FALSE(sent[100]);  // a send after close() is refused
  for (int i = 0; i < 100; ++i) ASSERT_EQ(c.read_text(), std::to_string(i));
  EXPECT_EQ(c.read_until_closed(), 1000);
  EXPECT_EQ(c.ws.reason().reason, "bye");
}

// A 1 MiB message must not leave 1 MiB of read buffer behind on an idle socket.
TEST_F(FanOutFixture, ReadBufferShrinksAfterALargeMessage) {
  auto o = options();
  o.ws_max_message_bytes = 2 << 20;
  start(o);
  WsClient c;
  ASSERT_FALSE(c.connect(server->port(), "/ws/hub"));
  c.write_text(std::string(1 << 20, 'x'));
  EXPECT_EQ(c.read_text(), "ok 1048576");  // the server answers after the buffer shrank
  EXPECT_LE(server->server().stats().ws_read_buffer_bytes, 4096u);
}

// --- caps -------------------------------------------------------------------------

TEST_F(FanOutFixture, ConnectionCapAnswers503AndCloses) {
  auto o = options();
  o.max_connections = 3;
  start(o);
  std::vector<std::unique_ptr<testing::Client>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<testing::Client>(server->port()));
    auto r = held.back()->request(testing::get("/hello"));  // accepted and counted
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(server->server().stats().connections, 3u);
  testing::Client over(server->port());
  auto r = over.read_response();  // answered before it sends anything
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->header("retry-after"), "1");
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_NE(r->body.find(R"("code":"UNAVAILABLE")"), std::string::npos);
  EXPECT_TRUE(over.wait_closed(3s));
  EXPECT_EQ(server->server().stats().connections_refused, 1u);

  held.pop_back();  // one leaves: a new one gets in
  EXPECT_TRUE(testing::eventually([&] { return server->server().stats().connections == 2; }));
  testing::Client next(server->port());
  auto ok = next.request(testing::get("/hello"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(FanOutFixture, WebSocketCapAnswersTheUpgrade503) {
  auto o = options();
  o.ws_max_connections = 1;
  start(o);
  for (int i = 0; i < 3; ++i) {  // a refused upgrade gives its place back
    WsClient refused;
    EXPECT_EQ(refused.connect(server->port(), "/ws/refuse"), websocket::error::upgrade_declined);
    EXPECT_EQ(refused.handshake_response.result_int(), 403);
  }
  auto first = std::make_unique<WsClient>();
  ASSERT_FALSE(first->connect(server->port(), "/ws/hub"));
  WsClient second;
  EXPECT_EQ(second.connect(server->port(), "/ws/hub"), websocket::error::upgrade_declined);
  EXPECT_EQ(second.handshake_response.result_int(), 503);
  EXPECT_EQ(second.handshake_response["retry-after"], "1");
  // Plain HTTP still gets through.
  testing::Client http(server->port());
  auto r = http.request(testing::get("/hello"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  first->ws.close(websocket::close_code::normal);
  first.reset();
  ASSERT_TRUE(hub->closed.wait_at_least(1));
  EXPECT_TRUE(testing::eventually([&] { return server->server().stats().websockets == 0; }));
  WsClient third;
  EXPECT_FALSE(third.connect(server->port(), "/ws/hub"));
}

TEST(SharedMessage, OneBufferForEveryCopy) {
  SharedMessage a(std::string(100, 'a'));
  SharedMessage b = a;
  EXPECT_EQ(a.text().data(), b.text().data());
  EXPECT_EQ(b.size(), 100u);
  EXPECT_EQ(SharedMessage().size(), 0u);
  EXPECT_EQ(SharedMessage().text(), "");
}

}  // namespace
}  // namespace office::net

namespace office::net {
namespace {

// With a write window, messages queued right after a write wait for the
// window and then arrive whole and in order; close() does not wait for the
// window but sends them first, then its close frame.
TEST_F(FanOutFixture, CoalescedWritesArriveInOrderAndCloseFlushesThem) {
  auto o = options();
  o.ws_write_coalesce = 300ms;
  start(o);
  WsClient c;
  ASSERT_FALSE(c.connect(server->port(), "/ws/hub"));
  command(c, "count:1");
  EXPECT_EQ(c.read_text(), "c");
  command(c, "close-after:100");  // within the window of the write of "c"
  for (int i = 0; i < 100; ++i) ASSERT_EQ(c.read_text(), std::to_string(i));
  EXPECT_EQ(c.read_until_closed(), 1000);
}

}  // namespace
}  // namespace office::net
