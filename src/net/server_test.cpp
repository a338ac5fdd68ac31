#include "net/server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <sstream>
#include <thread>

#include <spdlog/sinks/ostream_sink.h>
#include <nlohmann/json.hpp>

#include "core/log.hpp"
#include "net/test_support.hpp"

namespace office::net {
namespace {

using namespace std::chrono_literals;
using testing::Client;
using testing::get;
using testing::TestServer;

ServerOptions test_options() {
  ServerOptions o;
  o.io_threads = 2;
  o.worker_threads = 2;
  o.max_body_bytes = 1024;
  o.max_header_bytes = 1024;
  o.request_timeout = 400ms;
  o.idle_timeout = 600ms;
  o.shutdown_grace = 3s;
  o.access_log = true;
  return o;
}

const EmbeddedFile kFiles[] = {
    {"/app/index.html", "<h1>hi</h1>", "text/html; charset=utf-8", "\"abc123\""},
};
const EmbeddedFileTable kTable{kFiles, 1};

std::atomic<bool> g_gate_open{false};

std::unique_ptr<Router> test_router(std::chrono::milliseconds slow = 300ms) {
  auto r = std::make_unique<Router>();
  r->add(Method::kGet, "/gate",
         [](Request&) {
           // Blocks its worker until the test opens the gate (or 10 s pass).
           for (int i = 0; i < 2000 && !g_gate_open; ++i) std::this_thread::sleep_for(5ms);
           return Response::json(200, "gate");
         },
         {.auth = false, .offload = true});
  RouteOptions open{.auth = false, .offload = false};
  r->add(
      Method::kGet, "/hello", [](Request&) { return Response::json(200, R"({"hello":1})"); }, open);
  r->add(
      Method::kGet, "/items/{id}",
      [](Request& q) { return Response::json(200, std::string(q.param("id"))); }, open);
  r->add(
      Method::kPost, "/echo", [](Request& q) { return Response::json(200, q.body); }, open);
  r->add(Method::kGet, "/private",
         [](Request& q) { return Response::json(200, q.caller().user_id); });
  r->add(Method::kGet, "/slow",
         [slow](Request&) {
           std::this_thread::sleep_for(slow);
           return Response::json(200, "slow");
         },
         {.auth = false, .offload = true});
  r->add(
      Method::kGet, "/throw", [](Request&) -> Response { throw std::runtime_error("boom"); }, open);
  r->add(
      Method::kGet, "/trace",
      [](Request& q) {
        return Response::json(200, q.trace.trace_id_hex() + " " + log::current_trace_id());
      },
      open);
  r->add_static(kTable);
  r->set_authenticator([](const Request& q) -> Result<Principal> {
    if (q.header("authorization") != "Bearer good") return Error::unauthenticated("no token");
    Principal p;
    p.user_id = "u1";
    return p;
  });
  return r;
}

struct ServerFixture : ::testing::Test {
  void start(ServerOptions o = test_options(), std::unique_ptr<Router> r = test_router()) {
    server = std::make_unique<TestServer>(o, std::move(r));
    ASSERT_NE(server->port(), 0);
    server->start();
  }
  std::unique_ptr<TestServer> server;
};

TEST_F(ServerFixture, RoutingParamsAndErrors) {
  start();
  Client c(server->port());
  ASSERT_TRUE(c.connected());
  auto r1 = c.request(get("/hello"));
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->status, 200);
  EXPECT_EQ(r1->body, R"({"hello":1})");
  EXPECT_EQ(r1->header("content-type"), "application/json");

  auto r2 = c.request(get("/items/a%20b"));
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->body, "a b");

  Client bad(server->port());
  auto bad_query = bad.request(get("/hello?q=%zz"));  // was ignored, and 200
  ASSERT_TRUE(bad_query);
  EXPECT_EQ(bad_query->status, 400);
  EXPECT_NE(bad_query->body.find("INVALID_ARGUMENT"), std::string::npos);

  auto r3 = c.request(get("/nope"));
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->status, 404);
  EXPECT_NE(r3->body.find(R"("code":"NOT_FOUND")"), std::string::npos);

  auto r4 = c.request("DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(r4);
  EXPECT_EQ(r4->status, 405);
  EXPECT_EQ(r4->header("allow"), "GET, HEAD");
  EXPECT_NE(r4->body.find("METHOD_NOT_ALLOWED"), std::string::npos);

  auto r5 = c.request("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n\r\n{\"a\":1}");
  ASSERT_TRUE(r5);
  EXPECT_EQ(r5->body, "{\"a\":1}");

  auto r6 = c.request("HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n", true);
  ASSERT_TRUE(r6);
  EXPECT_EQ(r6->status, 200);
  EXPECT_EQ(r6->header("content-length"), "11");
  EXPECT_EQ(r6->body, "");

  auto r7 = c.request(get("/throw"));
  ASSERT_TRUE(r7);
  EXPECT_EQ(r7->status, 500);
  EXPECT_NE(r7->body.find("INTERNAL"), std::string::npos);

  // Still the same connection: keep-alive held through errors.
  auto r8 = c.request(get("/hello"));
  ASSERT_TRUE(r8);
  EXPECT_EQ(r8->status, 200);
}

TEST_F(ServerFixture, PipelinedRequests) {
  start();
  Client c(server->port());
  ASSERT_TRUE(c.send(get("/items/1") + get("/items/2") + get("/items/3")));
  for (const char* want : {"1", "2", "3"}) {
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, want);
  }
}

TEST_F(ServerFixture, ConnectionCloseAndHttp10) {
  start();
  Client c(server->port());
  auto r = c.request(get("/hello", "Connection: close\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(c.wait_closed(3s));

  Client d(server->port());
  auto r10 = d.request("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_TRUE(r10);
  EXPECT_EQ(r10->header("connection"), "keep-alive");
  auto again = d.request("GET /hello HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  EXPECT_TRUE(d.wait_closed(3s));
}

TEST_F(ServerFixture, BodyTooLarge413) {
  start();
  Client c(server->port());
  auto r = c.request("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n" +
                     std::string(2000, 'x'));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find("PAYLOAD_TOO_LARGE"), std::string::npos);
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(c.wait_closed(3s));

  Client chunked(server->port());
  std::string req = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) req += "200\r\n" + std::string(0x200, 'y') + "\r\n";
  auto rc = chunked.request(req);
  ASSERT_TRUE(rc);
  EXPECT_EQ(rc->status, 413);
}

TEST_F(ServerFixture, HeaderTooLarge431) {
  start();
  Client c(server->port());
  auto r = c.request(get("/hello", "X-Big: " + std::string(3000, 'h') + "\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_TRUE(c.wait_closed(3s));
}

TEST_F(ServerFixture, MalformedRequest400) {
  start();
  Client c(server->port());
  auto r = c.request("THIS IS NOT HTTP\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("INVALID_ARGUMENT"), std::string::npos);
  EXPECT_FALSE(r->header("traceparent").empty());
  EXPECT_TRUE(c.wait_closed(3s));
}

// RFC 9112 section 6.3: a Transfer-Encoding whose final coding is not chunked leaves
// the body length undeterminable; treating the request as bodiless would run the
// body as the next request (request smuggling). Exactly one 400, then the
// connection is closed.
TEST_F(ServerFixture, TransferEncodingNotEndingInChunkedIs400AndClose) {
  start();
  const std::string smuggled = get("/hello");
  for (std::string te :
       {"xchunked", "chunked, identity", "gzip", "identity", "chunked, chunked", "gzip, chunked"}) {
    Client c(server->port());
    ASSERT_TRUE(c.connected());
    std::string req =
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: " + te + "\r\n\r\n" + smuggled;
    auto r = c.request(req);
    ASSERT_TRUE(r) << te;
    EXPECT_EQ(r->status, 400) << te;
    EXPECT_EQ(r->header("connection"), "close") << te;
    EXPECT_FALSE(c.read_response(false, 300ms)) << te << ": the body ran as a second request";
    EXPECT_TRUE(c.wait_closed(3s)) << te;
  }
}

TEST_F(ServerFixture, TransferEncodingWithContentLengthOrOnHttp10Is400AndClose) {
  start();
  const std::string smuggled = get("/hello");
  for (const std::string& head : std::vector<std::string>{
           // TE first, then CL (Beast refuses CL then TE, and chunked with CL, itself)
           "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\nContent-Length: " +
               std::to_string(smuggled.size()) + "\r\n\r\n",
           "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: "
           "chunked\r\n\r\n",
           "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: "
           "3\r\n\r\n",
           "POST /echo HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\nTransfer-Encoding: "
           "chunked\r\n\r\n",
       }) {
    Client c(server->port());
    ASSERT_TRUE(c.connected());
    std::string body = head.find("chunked") != std::string::npos ? "0\r\n\r\n" : std::string();
    auto r = c.request(head + (body.empty() ? smuggled : body + smuggled));
    ASSERT_TRUE(r) << head;
    EXPECT_EQ(r->status, 400) << head;
    EXPECT_FALSE(c.read_response(false, 300ms)) << head << ": a second response";
    EXPECT_TRUE(c.wait_closed(3s)) << head;
  }
  // Plain chunked on HTTP/1.1 still works, and keeps the connection.
  Client ok(server->port());
  auto r = ok.request(
      "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\nok\r\n0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok");
  auto again = ok.request(get("/hello"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
}

TEST_F(ServerFixture, SlowlorisIsCutOffByRequestTimeout) {
  start();
  Client c(server->port());
  ASSERT_TRUE(c.send("GET /hello HTTP/1.1\r\n"));
  // Keep dribbling header lines: each one arrives well within the idle timeout,
  // but the whole request never completes, so request_timeout (400 ms) closes it.
  bool closed = false;
  auto until = std::chrono::steady_clock::now() + 5s;
  while (!closed && std::chrono::steady_clock::now() < until) {
    if (!c.send("X-Slow: 1\r\n")) {
      closed = true;
      break;
    }
    closed = c.wait_closed(100ms);
  }
  EXPECT_TRUE(closed);
}

TEST_F(ServerFixture, IdleKeepAliveIsClosed) {
  start();
  Client c(server->port());
  ASSERT_TRUE(c.request(get("/hello")));
  EXPECT_TRUE(c.wait_closed(5s));
}

TEST_F(ServerFixture, StaticFilesWithEtag) {
  start();
  Client c(server->port());
  auto r = c.request(get("/app/index.html"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "<h1>hi</h1>");
  EXPECT_EQ(r->header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(r->header("etag"), "\"abc123\"");
  auto r2 = c.request(get("/app/index.html", "If-None-Match: \"abc123\"\r\n"));
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 304);
  EXPECT_EQ(r2->body, "");
  EXPECT_EQ(r2->header("content-length"), "");
  auto r3 = c.request(get("/hello"));  // the 304 left the connection in sync
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->status, 200);
}

TEST_F(ServerFixture, HealthAndReadiness) {
  std::atomic<bool> ready{true};
  server = std::make_unique<TestServer>(test_options(), test_router());
  server->server().set_readiness_check([&] { return ready.load(); });
  server->start();
  Client c(server->port());
  auto h = c.request(get("/healthz"));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  auto r1 = c.request(get("/readyz"));
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->status, 200);
  ready = false;
  auto r2 = c.request(get("/readyz"));
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 503);
  EXPECT_NE(r2->body.find("UNAVAILABLE"), std::string::npos);
}

TEST_F(ServerFixture, TraceparentPropagation) {
  start();
  Client c(server->port());
  const std::string parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto r = c.request(get("/trace", "traceparent: " + parent + "\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "4bf92f3577b34da6a3ce929d0e0e4736 4bf92f3577b34da6a3ce929d0e0e4736");
  auto tp = TraceContext::parse(r->header("traceparent"));
  ASSERT_TRUE(tp);
  EXPECT_EQ(tp->trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_NE(tp->span_id_hex(), "00f067aa0ba902b7");

  auto fresh = c.request(get("/nope"));
  ASSERT_TRUE(fresh);
  auto tp2 = TraceContext::parse(fresh->header("traceparent"));
  ASSERT_TRUE(tp2);
  EXPECT_NE(tp2->trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST_F(ServerFixture, Authentication) {
  start();
  Client c(server->port());
  auto denied = c.request(get("/private"));
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  EXPECT_NE(denied->body.find("UNAUTHENTICATED"), std::string::npos);
  auto ok = c.request(get("/private", "Authorization: Bearer good\r\n"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, "u1");
}

TEST_F(ServerFixture, OffloadDoesNotBlockIoThread) {
  auto o = test_options();
  o.io_threads = 1;
  start(o);
  g_gate_open = false;
  Client blocked(server->port());
  ASSERT_TRUE(blocked.send(get("/gate")));
  // The only I/O thread still serves other connections while the worker is blocked.
  Client fast(server->port());
  auto r = fast.request(get("/hello"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(blocked.read_response(false, 20ms));
  g_gate_open = true;
  auto g = blocked.read_response();
  ASSERT_TRUE(g);
  EXPECT_EQ(g->body, "gate");
}

TEST_F(ServerFixture, GracefulStop) {
  auto o = test_options();
  o.request_timeout = 5s;  // the half-sent request below must outlive the slow one
  o.idle_timeout = 5s;
  start(o, test_router(500ms));
  Client inflight(server->port());
  ASSERT_TRUE(inflight.send(get("/slow")));
  Client half(server->port());
  ASSERT_TRUE(half.send("GET /readyz HTTP/1.1\r\nHost: t\r\n"));  // not finished yet
  Client idle(server->port());
  ASSERT_TRUE(idle.request(get("/hello")));
  std::this_thread::sleep_for(100ms);

  server->server().stop();
  auto r = inflight.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "slow");
  EXPECT_EQ(r->header("connection"), "close");

  ASSERT_TRUE(half.send("\r\n"));
  auto ready = half.read_response();
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  EXPECT_TRUE(idle.wait_closed(3s));

  Client late(server->port());
  EXPECT_FALSE(late.connected());
  EXPECT_TRUE(server->join_for(5s));
}

// Captures what the server logs, in one format, for the life of the object.
class CapturedLog {
 public:
  explicit CapturedLog(bool json) : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(os_);
    sink->set_formatter(json ? log::make_json_formatter() : log::make_text_formatter());
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("captured", sink));
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  std::string text() {
    spdlog::default_logger()->flush();
    return os_.str();
  }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream os_;
};

// "%0A" in a path decodes to a newline: the access log and the "handler threw"
// line must not let it start a forged line, in the text format or the JSON one.
TEST_F(ServerFixture, RequestDataCannotForgeLogLines) {
  for (bool json : {false, true}) {
    CapturedLog captured(json);
    start();
    Client c(server->port());
    const std::string forged = "%0A2026-01-01T00:00:00.000%20info%20GET%20%2Fadmin%20200%201us%0D";
    auto r = c.request(get("/items/x" + forged));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    auto t = c.request(get("/throw?" + forged));
    ASSERT_TRUE(t);
    server->stop_and_join();
    const std::string out = captured.text();
    std::istringstream lines(out);
    int access_lines = 0;
    for (std::string line; std::getline(lines, line);) {
      EXPECT_EQ(line.find('\r'), std::string::npos) << line;
      EXPECT_NE(line.rfind("2026-01-01T00:00:00.000", 0), 0u) << "forged line: " << line;
      if (json) EXPECT_TRUE(nlohmann::json::accept(line)) << line;
      if (line.find("GET /items/x") != std::string::npos) {
        ++access_lines;
        EXPECT_NE(line.find(json ? "/items/x\\\\x0a2026" : "/items/x\\x0a2026"), std::string::npos)
            << line;
      }
    }
    EXPECT_EQ(access_lines, 1) << out;
    server.reset();
  }
}

TEST_F(ServerFixture, StopBeforeRunReturnsPromptly) {
  server = std::make_unique<TestServer>(test_options(), test_router());
  server->server().stop();
  server->start();
  EXPECT_TRUE(server->join_for(5s));
}

}  // namespace
}  // namespace office::net
