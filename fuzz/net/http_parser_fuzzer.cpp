// Raw bytes -> the server's HTTP request parser -> router -> a dummy handler.
// Run: build/net-fuzz/fuzz/net/fuzz_http_parser fuzz/net/corpus/http_parser
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "net/detail/parse.hpp"
#include "net/router.hpp"

namespace {

using office::net::Method;
using office::net::Request;
using office::net::Response;
using office::net::Router;

const office::net::EmbeddedFile kFiles[] = {
    {"/static/index.html", "<html></html>", "text/html; charset=utf-8", "\"e1\""},
};

Router& router() {
  static Router* r = [] {
    auto* rt = new Router();
    auto echo = [](Request& req) {
      std::string body(req.param("id"));
      body += req.query_param("q").value_or("");
      body += req.cookie("session").value_or("");
      return Response::json(200, std::move(body));
    };
    rt->add(Method::kGet, "/api/v1/docs/{id}", echo);
    rt->add(Method::kPut, "/api/v1/docs/{id}", echo);
    rt->add(Method::kGet, "/api/v1/docs/{id}/ops/{version}", echo, {.auth = false});
    rt->add(Method::kPost, "/api/v1/docs", echo, {.auth = false});
    rt->add(Method::kGet, "/api/v1/docs/special", echo, {.auth = false});
    rt->add_websocket(
        "/api/v1/sync/{id}",
        [](Request&) -> office::Result<std::unique_ptr<office::net::WebSocketHandler>> {
          return office::Error::unavailable("fuzz");
        });
    rt->add_static(office::net::EmbeddedFileTable{kFiles, 1}, {{"/", "/static/index.html"}});
    rt->set_authenticator([](const Request& req) -> office::Result<office::Principal> {
      if (req.header("authorization")) return office::Principal{};
      return office::Error::unauthenticated("no credentials");
    });
    return rt;
  }();
  return *r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  office::net::detail::ParseLimits limits{.max_body_bytes = 4096, .max_header_bytes = 2048};
  auto parsed = office::net::detail::parse_request(bytes, limits);
  if (!parsed) {
    Response r = Response::error(parsed.error());
    return r.status == 0 ? 1 : 0;
  }
  Request& req = parsed.value();
  Router::Match m = router().match(req);
  if (m.error) return 0;
  if (auto r = router().serve_nonblocking(req, m)) return 0;
  if (m.handler) {
    Response r = router().serve(req, m);
    (void)r;
  } else if (m.websocket) {
    auto h = router().open_websocket(req, m);
    (void)h;
  }
  return 0;
}
