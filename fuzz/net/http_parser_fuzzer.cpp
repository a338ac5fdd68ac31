// Raw bytes -> the server's HTTP request parser -> router -> a dummy handler,
// checking invariants on the way; a violation traps (libFuzzer reports a crash).
// Run: build/fuzz/fuzz/net/fuzz_http_parser fuzz/net/corpus/http_parser
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <fmt/format.h>

#include "core/log.hpp"
#include "net/detail/parse.hpp"
#include "net/router.hpp"

namespace {

using office::net::Method;
using office::net::Request;
using office::net::Response;
using office::net::Router;

// Not assert(): it must hold in release builds too.
#define FUZZ_CHECK(cond) \
  do {                   \
    if (!(cond)) {       \
      __builtin_trap();  \
    }                    \
  } while (0)

constexpr std::size_t kMaxBody = 4096;

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
    rt->add(Method::kGet, "/api/v1/docs/{id}", echo,
            {.fast_path = [](Request& req) -> std::optional<Response> {
              if (req.param("id") == "cached") return Response::json(200, "fast");
              return std::nullopt;
            }});
    rt->add(Method::kPut, "/api/v1/docs/{id}", echo);
    rt->add(Method::kGet, "/api/v1/docs/{id}/ops/{version}", echo, {.auth = false});
    rt->add(Method::kPost, "/api/v1/docs", echo, {.auth = false, .run_inline = true});
    rt->add(Method::kGet, "/api/v1/docs/special", echo, {.auth = false});
    rt->add_websocket(
        "/api/v1/sync/{id}",
        [](Request&) -> office::Result<std::unique_ptr<office::net::WebSocketHandler>> {
          return office::Error::unavailable("fuzz");
        });
    rt->add_static(office::net::EmbeddedFileTable{kFiles, 1}, {{"/", "/static/index.html"}});
    rt->set_authenticator(
        [](const Request& req) -> office::Result<office::Principal> {
          if (req.header("authorization")) return office::Principal{};
          return office::Error::unauthenticated("no credentials");
        },
        [](const Request& req) -> std::optional<office::Result<office::Principal>> {
          auto auth = req.header("authorization");
          if (!auth) return office::Error::unauthenticated("no credentials");
          if (*auth == "Bearer cached") return office::Principal{};
          return std::nullopt;
        });
    return rt;
  }();
  return *r;
}

bool is_json_error(const Response& r) {
  return std::string_view(r.body).substr(0, 18) == R"({"error":{"code":")";
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if ((a[i] | 0x20) != (b[i] | 0x20)) return false;
  return true;
}

// Errors are always Response::error's JSON.
void check_response(const Response& r) {
  FUZZ_CHECK(r.status >= 100 && r.status <= 599);
  FUZZ_CHECK(r.status < 400 || is_json_error(r));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  office::net::detail::ParseLimits limits{.max_body_bytes = kMaxBody, .max_header_bytes = 2048};
  auto parsed = office::net::detail::parse_request(bytes, limits);
  if (!parsed) {
    Response r = Response::error(parsed.error());
    FUZZ_CHECK(r.status == 400 || r.status == 413);  // 431 is the server's; parse_request says 413
    FUZZ_CHECK(is_json_error(r));
    return 0;
  }
  Request& req = parsed.value();

  // What the parser hands on is well-formed.
  FUZZ_CHECK(!req.target.empty());
  FUZZ_CHECK(!req.path.empty() && req.path.front() == '/');
  FUZZ_CHECK(req.path.find('\0') == std::string::npos);
  FUZZ_CHECK(req.body.size() <= kMaxBody);
  bool has_length = false;
  int transfer_encodings = 0;
  for (const auto& [name, value] : req.headers) {
    FUZZ_CHECK(!name.empty());
    for (char c : name) FUZZ_CHECK(!(c >= 'A' && c <= 'Z') && c != ':' && c != '\r' && c != '\n');
    FUZZ_CHECK(value.find_first_of("\r\n") == std::string::npos);
    if (name == "content-length") has_length = true;
    if (name == "transfer-encoding") {
      ++transfer_encodings;
      // RFC 9112 section 6.3: only a lone "chunked" (empty list items aside)
      // frames a request we accept.
      std::string coding;
      for (char c : value)
        if (c != ' ' && c != '\t' && c != ',') coding += c;
      FUZZ_CHECK(iequals(coding, "chunked"));
    }
  }
  FUZZ_CHECK(transfer_encodings <= 1);
  FUZZ_CHECK(!(transfer_encodings == 1 && has_length));

  // Request data in a log line never carries a control character (no forged lines).
  std::string logged = fmt::format("{}", office::log::Escaped{req.path});
  for (char c : logged) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
  (void)req.query_param("q");
  (void)req.cookie("session");

  Router::Match m = router().match(req);
  if (m.error) {
    FUZZ_CHECK(m.error->status == 400 || m.error->status == 404 || m.error->status == 405);
    FUZZ_CHECK(is_json_error(*m.error));
    if (m.error->status == 405) FUZZ_CHECK(!m.error->headers.empty());
    return 0;
  }
  FUZZ_CHECK(m.options != nullptr);
  FUZZ_CHECK((m.handler != nullptr) != (m.websocket != nullptr));
  const bool credentials = req.header("authorization").has_value();
  if (auto r = router().serve_nonblocking(req, m)) {
    check_response(*r);
    if (m.options->auth && !credentials) FUZZ_CHECK(r->status == 401);
    return 0;
  }
  FUZZ_CHECK(!(m.options->auth && !credentials));  // decided on the I/O thread
  if (m.handler) {
    Response r = router().serve(req, m);
    check_response(r);
  } else {
    auto h = router().open_websocket(req, m);
    FUZZ_CHECK(!h.ok());  // this factory always refuses
  }
  return 0;
}
