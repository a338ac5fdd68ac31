#include <gtest/gtest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include <sys/socket.h>
#include <atomic>

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
  asio::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};
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

}  // namespace
}  // namespace office::net
