#include "net/server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <sstream>
#include <thread>
#include <vector>

#include <spdlog/sinks/ostream_sink.h>
#include <nlohmann/json.hpp>

#include "core/log.hpp"
#include "core/scheduler.hpp"
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

// What the routes of test_router() observe; owned by the fixture.
struct Observed {
  testing::Gate gate;             // /gate blocks its worker until opened
  testing::Counter gate_entered;  // /gate handlers that started
  testing::Counter counted_runs;  // /count handlers that ran
  std::mutex mu;
  std::vector<std::string> threads;  // thread names recorded by /where/*
  void record_thread() {
    std::lock_guard lock(mu);
    threads.push_back(testing::thread_name());
  }
  std::string last_thread() {
    std::lock_guard lock(mu);
    return threads.empty() ? std::string() : threads.back();
  }
};

std::unique_ptr<Router> test_router(Observed& obs) {
  auto r = std::make_unique<Router>();
  RouteOptions pool{.auth = false};  // the default: the server's worker pool
  r->add(
      Method::kGet, "/gate",
      [&obs](Request&) {
        obs.gate_entered.add();
        obs.gate.wait();  // blocks its worker until the test opens the gate
        return Response::json(200, "gate");
      },
      pool);
  r->add(
      Method::kGet, "/count",
      [&obs](Request&) {
        obs.counted_runs.add();
        return Response::json(200, "counted");
      },
      pool);
  r->add(
      Method::kGet, "/where/pool",
      [&obs](Request& q) {
        obs.record_thread();
        return Response::json(200, std::to_string(q.deadline.remaining().count()));
      },
      pool);
  RouteOptions open{.auth = false, .run_inline = true};
  r->add(
      Method::kGet, "/where/inline",
      [&obs](Request&) {
        obs.record_thread();
        return Response::json(200, "inline");
      },
      open);
  r->add(
      Method::kGet, "/hello", [](Request&) { return Response::json(200, R"({"hello":1})"); }, open);
  r->add(
      Method::kGet, "/items/{id}",
      [](Request& q) { return Response::json(200, std::string(q.param("id"))); }, open);
  r->add(
      Method::kPost, "/echo", [](Request& q) { return Response::json(200, q.body); }, open);
  r->add(Method::kGet, "/private",
         [](Request& q) { return Response::json(200, q.caller().user_id); });
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
  void start(ServerOptions o = test_options(), std::unique_ptr<Router> r = nullptr) {
    if (!r) r = test_router(obs);
    server = std::make_unique<TestServer>(o, std::move(r));
    ASSERT_NE(server->port(), 0);
    server->start();
  }
  void TearDown() override {
    obs.gate.open();  // no worker stays blocked if a test failed early
    server.reset();
  }
  Observed obs;
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

// Sends GET target until the status is `want` (the server publishes a probe's
// result right after the probe returns; there is no event to wait for).
bool eventually_status(std::uint16_t port, const std::string& target, int want) {
  Client c(port);
  return testing::eventually([&] {
    auto r = c.request(get(target));
    return r && r->status == want;
  });
}

// The readiness check runs SQL in the app: it must run on the worker pool, on
// the scheduler's beat, and /readyz must answer from the last result.
TEST_F(ServerFixture, ReadinessIsProbedOnTheWorkerPoolAndServedFromTheLastResult) {
  ManualScheduler scheduler;
  auto o = test_options();
  o.scheduler = &scheduler;
  o.readiness_period = 1s;
  std::atomic<bool> ready{true};
  testing::Counter probes;
  std::mutex mu;
  std::string probe_thread;
  server = std::make_unique<TestServer>(o, test_router(obs));
  server->server().set_readiness_check([&] {
    {
      std::lock_guard lock(mu);
      probe_thread = testing::thread_name();
    }
    bool answer = ready.load();
    probes.add();
    return answer;
  });
  server->start();
  ASSERT_TRUE(probes.wait_at_least(1));  // one probe as soon as the server runs
  ASSERT_TRUE(eventually_status(server->port(), "/readyz", 200));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(probe_thread.rfind("worker", 0), 0u) << probe_thread;  // not an I/O thread
  }
  Client c(server->port());
  for (int i = 0; i < 20; ++i) {
    auto r = c.request(get("/readyz"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(probes.value(), 1);  // requests read the cached result; they run nothing

  ready = false;
  scheduler.advance(1s);
  ASSERT_TRUE(probes.wait_at_least(2));
  ASSERT_TRUE(eventually_status(server->port(), "/readyz", 503));
  auto r = c.request(get("/readyz"));
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("UNAVAILABLE"), std::string::npos);
  auto h = c.request(get("/healthz"));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  ready = true;
  scheduler.advance(1s);
  ASSERT_TRUE(eventually_status(server->port(), "/readyz", 200));
  server->stop_and_join();  // the scheduler must outlive the server
}

TEST_F(ServerFixture, ReadyWithoutACheckAndNotBeforeTheFirstProbe) {
  start();
  Client c(server->port());
  auto r = c.request(get("/readyz"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  ManualScheduler scheduler;
  auto o = test_options();
  o.scheduler = &scheduler;
  testing::Gate held;
  auto held_server = std::make_unique<TestServer>(o, test_router(obs));
  held_server->server().set_readiness_check([&] {
    held.wait();
    return true;
  });
  held_server->start();
  Client d(held_server->port());
  auto before = d.request(get("/readyz"));  // the first probe has not finished
  ASSERT_TRUE(before);
  EXPECT_EQ(before->status, 503);
  held.open();
  EXPECT_TRUE(eventually_status(held_server->port(), "/readyz", 200));
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

TEST_F(ServerFixture, HandlersRunOnTheWorkerPoolUnlessInline) {
  start();
  Client c(server->port());
  ASSERT_TRUE(c.request(get("/where/pool")));
  EXPECT_EQ(obs.last_thread().rfind("worker", 0), 0u) << obs.last_thread();
  ASSERT_TRUE(c.request(get("/where/inline")));
  EXPECT_NE(obs.last_thread().rfind("worker", 0), 0u) << obs.last_thread();
}

TEST_F(ServerFixture, BlockedWorkersDoNotBlockTheIoThread) {
  auto o = test_options();
  o.io_threads = 1;
  o.worker_threads = 1;
  start(o);
  Client blocked(server->port());
  ASSERT_TRUE(blocked.send(get("/gate")));
  ASSERT_TRUE(obs.gate_entered.wait_at_least(1));  // the only worker is stuck
  // The only I/O thread still serves other connections.
  Client fast(server->port());
  auto r = fast.request(get("/hello"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  obs.gate.open();
  auto g = blocked.read_response();
  ASSERT_TRUE(g);
  EXPECT_EQ(g->body, "gate");
}

// The worker queue is bounded: overflow is 503 with Retry-After and the JSON
// error body, the handler does not run, and the connection stays usable.
TEST_F(ServerFixture, FullWorkerQueueIs503WithRetryAfter) {
  auto o = test_options();
  o.worker_threads = 1;
  o.worker_queue = 1;
  start(o);
  Client running(server->port());
  ASSERT_TRUE(running.send(get("/gate")));
  ASSERT_TRUE(obs.gate_entered.wait_at_least(1));
  Client queued(server->port());
  ASSERT_TRUE(queued.send(get("/count")));
  ASSERT_TRUE(testing::eventually([&] { return server->server().stats().worker_queued == 1; }));

  Client refused(server->port());
  auto r = refused.request(get("/count"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->header("retry-after"), "1");
  EXPECT_NE(r->body.find(R"("code":"UNAVAILABLE")"), std::string::npos) << r->body;
  EXPECT_EQ(server->server().stats().worker_rejected, 1u);

  obs.gate.open();
  auto q = queued.read_response();
  ASSERT_TRUE(q);
  EXPECT_EQ(q->status, 200);
  EXPECT_EQ(obs.counted_runs.value(), 1);  // the refused request never ran
  auto again = refused.request(get("/count"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
}

// A request still queued when its deadline passes is answered 503 without
// running the handler. The deadline's clock is a fake one: no waiting on time.
TEST_F(ServerFixture, RequestQueuedPastItsDeadlineIs503AndNotRun) {
  testing::FakeSteadyClock clock;
  auto o = test_options();
  o.worker_threads = 1;
  o.handler_timeout = 1000ms;
  o.now = clock.fn();
  start(o);
  Client running(server->port());
  ASSERT_TRUE(running.send(get("/gate")));
  ASSERT_TRUE(obs.gate_entered.wait_at_least(1));
  Client late(server->port());
  ASSERT_TRUE(late.send(get("/count")));
  ASSERT_TRUE(testing::eventually([&] { return server->server().stats().worker_queued == 1; }));
  clock.advance(1001ms);
  obs.gate.open();

  auto r = late.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->header("retry-after"), "1");
  EXPECT_NE(r->body.find("UNAVAILABLE"), std::string::npos);
  auto g = running.read_response();  // it had started: it finishes normally
  ASSERT_TRUE(g);
  EXPECT_EQ(g->status, 200);
  EXPECT_EQ(obs.counted_runs.value(), 0);
}

TEST_F(ServerFixture, HandlersSeeTheirDeadline) {
  auto o = test_options();
  o.handler_timeout = 60s;
  start(o);
  Client c(server->port());
  auto d = c.request(get("/where/pool"));  // answers req.deadline.remaining() in ms
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, 200);
  long left = std::stol(d->body);
  EXPECT_GT(left, 0);
  EXPECT_LE(left, 60'000);
}

// The identity module's shape: a cached authenticator and a fast path on the
// I/O thread; a cache miss moves authentication and handler to the pool.
TEST_F(ServerFixture, CachedAuthenticationAndFastPathStayOnTheIoThread) {
  struct Seen {
    std::mutex mu;
    std::vector<std::string> blocking_auth;  // threads the blocking authenticator ran on
    std::vector<std::string> handler;        // threads the full handler ran on
    std::vector<std::string> fast;           // threads a fast-path hit ran on
    void add(std::vector<std::string>& v) {
      std::lock_guard lock(mu);
      v.push_back(testing::thread_name());
    }
  };
  auto seen = std::make_shared<Seen>();
  auto r = std::make_unique<Router>();
  r->add(Method::kGet, "/me",
         [seen](Request& q) {
           seen->add(seen->handler);
           return Response::json(200, "slow " + q.caller().user_id);
         },
         {.fast_path = [seen](Request& q) -> std::optional<Response> {
           if (q.header("x-cached") != "yes") return std::nullopt;  // not handled
           seen->add(seen->fast);
           return Response::json(200, "fast " + q.caller().user_id);
         }});
  r->set_authenticator(
      [seen](const Request& q) -> Result<Principal> {
        seen->add(seen->blocking_auth);
        if (q.header("authorization") != "Bearer good" &&
            q.header("authorization") != "Bearer cold")
          return Error::unauthenticated("bad token");
        Principal p;
        p.user_id = "u1";
        return p;
      },
      [](const Request& q) -> std::optional<Result<Principal>> {
        auto auth = q.header("authorization");
        if (!auth) return Error::unauthenticated("missing token");  // decided here
        if (auth != "Bearer good") return std::nullopt;             // ask the pool
        Principal p;
        p.user_id = "u1";
        return p;
      });
  start(test_options(), std::move(r));
  Client c(server->port());

  auto hit = c.request(get("/me", "Authorization: Bearer good\r\nX-Cached: yes\r\n"));
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->body, "fast u1");
  auto fall_through = c.request(get("/me", "Authorization: Bearer good\r\n"));
  ASSERT_TRUE(fall_through);
  EXPECT_EQ(fall_through->body, "slow u1");
  auto cold = c.request(get("/me", "Authorization: Bearer cold\r\nX-Cached: yes\r\n"));
  ASSERT_TRUE(cold);
  EXPECT_EQ(cold->body, "slow u1");  // a cache miss skips the fast path
  auto missing = c.request(get("/me"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401);
  auto bad = c.request(get("/me", "Authorization: Bearer bad\r\n"));
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 401);

  std::lock_guard lock(seen->mu);
  ASSERT_EQ(seen->fast.size(), 1u);
  EXPECT_NE(seen->fast[0].rfind("worker", 0), 0u) << seen->fast[0];
  ASSERT_EQ(seen->blocking_auth.size(), 2u);  // "cold" and "bad" only
  for (auto& t : seen->blocking_auth) EXPECT_EQ(t.rfind("worker", 0), 0u) << t;
  ASSERT_EQ(seen->handler.size(), 2u);
  for (auto& t : seen->handler) EXPECT_EQ(t.rfind("worker", 0), 0u) << t;
}

// A route may name its own executor (the identity module gives password
// hashing a small pool); its overflow is 503 too.
TEST_F(ServerFixture, RoutesCanNameTheirOwnExecutor) {
  ThreadPool hashing({.name = "hashing", .threads = 1, .max_queue = 1});
  testing::Gate gate;
  testing::Counter entered;
  auto r = std::make_unique<Router>();
  r->add(Method::kPost, "/login",
         [&](Request&) {
           entered.add();
           gate.wait();
           return Response::json(200, testing::thread_name());
         },
         {.auth = false, .executor = &hashing});
  start(test_options(), std::move(r));
  Client a(server->port()), b(server->port()), c(server->port());
  ASSERT_TRUE(a.send("POST /login HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"));
  ASSERT_TRUE(entered.wait_at_least(1));
  ASSERT_TRUE(b.send("POST /login HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"));
  ASSERT_TRUE(testing::eventually([&] { return hashing.stats().queued == 1; }));
  auto refused = c.request("POST /login HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->header("retry-after"), "1");
  gate.open();
  auto ra = a.read_response();
  ASSERT_TRUE(ra);
  EXPECT_EQ(ra->body.rfind("hashing", 0), 0u) << ra->body;
  ASSERT_TRUE(b.read_response());
  server->stop_and_join();  // before the pool goes
}

TEST_F(ServerFixture, GracefulStop) {
  auto o = test_options();
  o.request_timeout = 5s;  // the half-sent request below must outlive the blocked one
  o.idle_timeout = 5s;
  start(o);
  Client inflight(server->port());
  ASSERT_TRUE(inflight.send(get("/gate")));
  ASSERT_TRUE(obs.gate_entered.wait_at_least(1));  // being handled
  Client idle(server->port());
  ASSERT_TRUE(idle.request(get("/hello")));  // served: now idle
  Client half(server->port());
  ASSERT_TRUE(half.request(get("/hello")));  // accepted (a backlogged one would be reset)
  ASSERT_TRUE(half.send("GET /readyz HTTP/1.1\r\nHost: t\r\n"));  // not finished yet
  // Loopback: once send() returned, the bytes are in the server's socket buffer,
  // so the drain sees a request arriving and lets it finish.

  server->server().stop();
  EXPECT_TRUE(idle.wait_closed(3s));
  obs.gate.open();
  auto r = inflight.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "gate");
  EXPECT_EQ(r->header("connection"), "close");

  ASSERT_TRUE(half.send("\r\n"));
  auto ready = half.read_response();
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);

  EXPECT_TRUE(server->join_for(5s));
  Client late(server->port());
  EXPECT_FALSE(late.connected());
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
  server = std::make_unique<TestServer>(test_options(), test_router(obs));
  server->server().stop();
  server->start();
  EXPECT_TRUE(server->join_for(5s));
}

}  // namespace
}  // namespace office::net
