#include "net/router.hpp"

#include <gtest/gtest.h>

namespace office::net {
namespace {

Request make(Method m, std::string target, bool upgrade = false) {
  Request r;
  r.method = m;
  r.target = target;
  r.path = target.substr(0, target.find('?'));
  r.websocket_upgrade = upgrade;
  return r;
}

Handler reply(std::string body) {
  return [body](Request&) { return Response::json(200, body); };
}

std::string call(const Router& router, Request& req) {
  auto m = router.match(req);
  if (m.error) return std::to_string(m.error->status);
  if (m.websocket) return "ws";
  return (*m.handler)(req).body;
}

TEST(Router, LiteralBeatsParamAndBacktracks) {
  Router r;
  r.add(Method::kGet, "/a/{x}/d", reply("param-d"));
  r.add(Method::kGet, "/a/b/c", reply("literal"));
  r.add(Method::kGet, "/a/{x}", reply("param"));
  r.add(Method::kGet, "/", reply("root"));
  auto q1 = make(Method::kGet, "/a/b/c");
  EXPECT_EQ(call(r, q1), "literal");
  auto q2 = make(Method::kGet, "/a/b/d");
  EXPECT_EQ(call(r, q2), "param-d");
  EXPECT_EQ(q2.param("x"), "b");
  auto q3 = make(Method::kGet, "/a/zz");
  EXPECT_EQ(call(r, q3), "param");
  auto q4 = make(Method::kGet, "/");
  EXPECT_EQ(call(r, q4), "root");
  auto q5 = make(Method::kGet, "/a/");  // empty segment does not bind a parameter
  EXPECT_EQ(call(r, q5), "404");
}

TEST(Router, ParamsAreDecodedPerSegment) {
  Router r;
  r.add(Method::kGet, "/files/{name}/meta", reply("ok"));
  auto q = make(Method::kGet, "/files/a%2Fb%20c/meta");
  q.path = "/files/a/b c/meta";
  EXPECT_EQ(call(r, q), "ok");
  EXPECT_EQ(q.param("name"), "a/b c");
  EXPECT_EQ(q.param("missing"), "");
}

TEST(Router, NotFoundAndMethodNotAllowed) {
  Router r;
  r.add(Method::kGet, "/x", reply("get"));
  r.add(Method::kPost, "/x", reply("post"));
  auto q1 = make(Method::kGet, "/nope");
  auto m1 = r.match(q1);
  ASSERT_TRUE(m1.error);
  EXPECT_EQ(m1.error->status, 404);
  EXPECT_NE(m1.error->body.find("NOT_FOUND"), std::string::npos);
  auto q2 = make(Method::kDelete, "/x");
  auto m2 = r.match(q2);
  ASSERT_TRUE(m2.error);
  EXPECT_EQ(m2.error->status, 405);
  ASSERT_EQ(m2.error->headers.size(), 1u);
  EXPECT_EQ(m2.error->headers[0].first, "allow");
  EXPECT_EQ(m2.error->headers[0].second, "GET, HEAD, POST");
  auto q3 = make(Method::kOther, "/x");
  EXPECT_EQ(call(r, q3), "405");
  auto q4 = make(Method::kHead, "/x");
  EXPECT_EQ(call(r, q4), "get");
}

TEST(Router, WebSocketRoutes) {
  Router r;
  r.add_websocket("/ws/{doc}", [](Request&) -> Result<std::unique_ptr<WebSocketHandler>> {
    return Error::internal("unused");
  });
  auto up = make(Method::kGet, "/ws/d1", true);
  EXPECT_EQ(call(r, up), "ws");
  EXPECT_EQ(up.param("doc"), "d1");
  auto plain = make(Method::kGet, "/ws/d1");
  EXPECT_EQ(call(r, plain), "400");
  auto post = make(Method::kPost, "/ws/d1");
  EXPECT_EQ(call(r, post), "405");
}

TEST(Router, Authentication) {
  Router r;
  r.add(Method::kGet, "/open", reply("open"), {.auth = false});
  r.add(Method::kGet, "/closed", reply("closed"));
  auto q = make(Method::kGet, "/closed");
  auto m = r.match(q);
  auto no_auth = r.authenticate(q, *m.options);
  ASSERT_TRUE(no_auth);
  EXPECT_EQ(no_auth->status, 401);

  int calls = 0;
  r.set_authenticator([&](const Request& req) -> Result<Principal> {
    ++calls;
    if (req.header("authorization") == "Bearer good") {
      Principal p;
      p.tenant_id = "t";
      p.user_id = "u";
      return p;
    }
    return Error::unauthenticated("bad token");
  });
  auto open = make(Method::kGet, "/open");
  EXPECT_FALSE(r.authenticate(open, *r.match(open).options));
  EXPECT_EQ(calls, 0);
  auto bad = r.authenticate(q, *m.options);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 401);
  EXPECT_NE(bad->body.find("bad token"), std::string::npos);
  q.headers.emplace_back("authorization", "Bearer good");
  EXPECT_FALSE(r.authenticate(q, *m.options));
  ASSERT_TRUE(q.principal);
  EXPECT_EQ(q.caller().user_id, "u");
  EXPECT_EQ(calls, 2);
}

// Part one (I/O thread) and part two (executor) of serving, without a server.
TEST(Router, ServeNonblockingThenServe) {
  Router r;
  int blocking = 0, handled = 0;
  r.add(Method::kGet, "/me",
        [&](Request&) {
          ++handled;
          return Response::json(200, "slow");
        },
        {.fast_path = [](Request& q) -> std::optional<Response> {
          if (q.header("x-hit")) return Response::json(200, "fast");
          return std::nullopt;
        }});
  r.add(Method::kGet, "/inline", [](Request&) { return Response::json(200, "inline"); },
        {.auth = false, .run_inline = true});
  r.add(Method::kGet, "/throws",
        [](Request&) -> Response { throw std::runtime_error("handler bug"); },
        {.auth = false, .fast_path = [](Request&) -> std::optional<Response> {
           throw std::runtime_error("fast path bug");
         }});
  r.set_authenticator(
      [&](const Request&) -> Result<Principal> {
        ++blocking;
        return Principal{};
      },
      [](const Request& q) -> std::optional<Result<Principal>> {
        if (q.header("x-cached")) return Principal{};
        return std::nullopt;
      });

  auto cached_hit = make(Method::kGet, "/me");
  cached_hit.headers = {{"x-cached", "1"}, {"x-hit", "1"}};
  auto m = r.match(cached_hit);
  auto fast = r.serve_nonblocking(cached_hit, m);
  ASSERT_TRUE(fast);
  EXPECT_EQ(fast->body, "fast");
  EXPECT_EQ(blocking, 0);

  auto miss = make(Method::kGet, "/me");
  miss.headers = {{"x-hit", "1"}};
  m = r.match(miss);
  EXPECT_FALSE(r.serve_nonblocking(miss, m));  // unknown on the I/O thread
  EXPECT_FALSE(miss.principal);
  EXPECT_EQ(r.serve(miss, m).body, "slow");
  EXPECT_EQ(blocking, 1);
  EXPECT_EQ(handled, 1);

  auto in = make(Method::kGet, "/inline");
  m = r.match(in);
  auto inl = r.serve_nonblocking(in, m);
  ASSERT_TRUE(inl);
  EXPECT_EQ(inl->body, "inline");

  auto bug = make(Method::kGet, "/throws");
  m = r.match(bug);
  auto fast_bug = r.serve_nonblocking(bug, m);
  ASSERT_TRUE(fast_bug);
  EXPECT_EQ(fast_bug->status, 500);
  EXPECT_EQ(r.serve(bug, m).status, 500);
}

TEST(Router, StaticFilesAndRouteList) {
  static const EmbeddedFile kFiles[] = {
      {"/app/index.html", "<html>", "text/html; charset=utf-8", "\"e1\""},
      {"/app/app.js", "js()", "text/javascript; charset=utf-8", "\"e2\""},
  };
  static const EmbeddedFileTable kTable{kFiles, 2};
  Router r;
  r.add_static(kTable, {{"/app", "/app/index.html"}});
  r.add(Method::kPost, "/api/{id}", reply("x"));
  EXPECT_THROW(r.add(Method::kPost, "/api/{other}", reply("y")), std::invalid_argument);
  EXPECT_THROW(r.add_static(kTable, {{"/nope", "/missing.html"}}), std::invalid_argument);

  auto q = make(Method::kGet, "/app");
  auto m = r.match(q);
  ASSERT_TRUE(m.handler);
  EXPECT_FALSE(m.options->auth);
  auto resp = (*m.handler)(q);
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.static_body, "<html>");
  EXPECT_EQ(resp.content_type, "text/html; charset=utf-8");
  q.headers.emplace_back("if-none-match", "\"e1\"");
  EXPECT_EQ((*m.handler)(q).status, 304);

  auto routes = r.routes();
  ASSERT_GE(routes.size(), 4u);
  EXPECT_EQ(routes[0].pattern, "/app/index.html");
  EXPECT_TRUE(routes[0].is_static);
  bool found_api = false;
  for (auto& info : routes) found_api |= info.pattern == "/api/{id}" && !info.is_static;
  EXPECT_TRUE(found_api);
}

}  // namespace
}  // namespace office::net
