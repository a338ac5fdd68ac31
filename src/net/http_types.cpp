// Request/Response helpers and the Beast-free parts of request preparation.
// Targets, percent-escapes, query strings and cookies are parsed with Boost.URL.
#include <boost/url/decode_view.hpp>
#include <boost/url/grammar/delim_rule.hpp>
#include <boost/url/grammar/parse.hpp>
#include <boost/url/grammar/range_rule.hpp>
#include <boost/url/grammar/tuple_rule.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/parse_query.hpp>
#include <boost/url/pct_string_view.hpp>

#include <algorithm>
#include <array>

#include "core/log.hpp"
#include "net/detail/parse.hpp"
#include "net/http.hpp"

namespace office::net {

namespace urls = boost::urls;
namespace grammar = boost::urls::grammar;

namespace {

constexpr std::array<std::string_view, 8> kMethodNames = {"GET",   "HEAD",   "POST",    "PUT",
                                                          "PATCH", "DELETE", "OPTIONS", "OTHER"};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// One cookie-pair of a Cookie header (RFC 6265 section 4.2.1), read leniently
// as browsers send them: whitespace around it, a value up to the next ';'
// (surrounding quotes removed), and a pair without '=' as a nameless cookie.
struct CookiePairRule {
  using value_type = std::pair<std::string_view, std::string_view>;
  urls::result<value_type> parse(const char*& it, const char* end) const noexcept {
    const char* start = it;
    while (it != end && *it != ';') ++it;
    std::string_view pair = trim(std::string_view(start, static_cast<std::size_t>(it - start)));
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) return value_type{{}, pair};
    std::string_view value = trim(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    return value_type{trim(pair.substr(0, eq)), value};
  }
};

// cookie-string = cookie-pair *( ";" SP cookie-pair )
constexpr auto kCookieString = grammar::range_rule(
    CookiePairRule{},
    grammar::tuple_rule(grammar::squelch(grammar::delim_rule(';')), CookiePairRule{}));

}  // namespace

std::string_view method_name(Method m) {
  auto i = static_cast<std::size_t>(m);
  return i < kMethodNames.size() ? kMethodNames[i] : "OTHER";
}

Method parse_method(std::string_view name) {
  switch (name.size()) {
    case 3:
      if (name == "GET") return Method::kGet;
      if (name == "PUT") return Method::kPut;
      break;
    case 4:
      if (name == "HEAD") return Method::kHead;
      if (name == "POST") return Method::kPost;
      break;
    case 5:
      if (name == "PATCH") return Method::kPatch;
      break;
    case 6:
      if (name == "DELETE") return Method::kDelete;
      break;
    case 7:
      if (name == "OPTIONS") return Method::kOptions;
      break;
    default:
      break;
  }
  return Method::kOther;
}

std::optional<std::string_view> Request::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers)
    if (name == lower_name) return std::string_view(value);
  return std::nullopt;
}

std::string_view Request::param(std::string_view name) const {
  for (const auto& [key, value] : path_params)
    if (key == name) return value;
  return {};
}

std::optional<std::string> Request::query_param(std::string_view name) const {
  // prepare_request has checked the query (RFC 3986, valid escapes).
  auto params = urls::parse_query(query);
  if (!params) return std::nullopt;
  urls::encoding_opts form;  // application/x-www-form-urlencoded: '+' is a space
  form.space_as_plus = true;
  for (auto param : *params) {
    if (param.key.decoded_size() != name.size() || (*param.key) != name) continue;
    std::string value;
    if (param.has_value) param.value.decode(form, urls::string_token::assign_to(value));
    return value;
  }
  return std::nullopt;
}

std::optional<std::string> Request::cookie(std::string_view name) const {
  for (const auto& [hname, hvalue] : headers) {
    if (hname != "cookie") continue;
    auto pairs = grammar::parse(hvalue, kCookieString);
    if (!pairs) continue;
    for (auto [key, value] : *pairs)
      if (key == name) return std::string(value);
  }
  return std::nullopt;
}

Response Response::json(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response Response::error(const Error& e) {
  Response r;
  r.status = http_status(e.code);
  r.body.reserve(40 + e.message.size());
  r.body += R"({"error":{"code":")";
  r.body += error_code_name(e.code);
  r.body += R"(","message":")";
  log::append_json_escaped(r.body, e.message);
  r.body += "\"}}";
  // Every "retry later" says when: the error's own hint (a login limit), else
  // one second for an unavailable server or database.
  if (e.retry_after_s > 0) {
    r.headers.emplace_back("Retry-After", std::to_string(e.retry_after_s));
  } else if (e.code == ErrorCode::kUnavailable) {
    r.headers.emplace_back("Retry-After", "1");
  }
  return r;
}

Response Response::no_content() {
  Response r;
  r.status = 204;
  r.content_type = {};
  return r;
}

namespace detail {

bool percent_decode(std::string_view in, std::string& out, bool plus_is_space) {
  auto pct = urls::make_pct_string_view(in);
  if (!pct) return false;
  urls::encoding_opts opts;
  opts.space_as_plus = plus_is_space;
  pct->decode(opts, urls::string_token::assign_to(out));
  return true;
}

Status prepare_request(Request& req) {
  // origin-form ("/p?q") or, as RFC 9112 asks servers to accept, absolute-form
  // ("http://host/p?q"); anything that is not RFC 3986 (a bad percent-escape
  // anywhere, raw spaces or braces) is refused rather than guessed at.
  const bool origin_form = !req.target.empty() && req.target.front() == '/';
  auto url =
      origin_form ? urls::parse_origin_form(req.target) : urls::parse_absolute_uri(req.target);
  if (!url) return Error::invalid("malformed request target");
  urls::pct_string_view raw_path = url->encoded_path();
  if (url->has_query()) {
    urls::pct_string_view q = url->encoded_query();
    req.query.assign(q.data(), q.size());
  } else {
    req.query.clear();
  }
  if (raw_path.decoded_size() == raw_path.size()) {  // no escapes: the common case
    req.path.assign(raw_path.data(), raw_path.size());
  } else {
    raw_path.decode({}, urls::string_token::assign_to(req.path));
  }
  if (req.path.empty() || req.path.front() != '/') {
    if (!req.path.empty()) return Error::invalid("malformed request target");
    req.path.assign(1, '/');  // not = "/": GCC 12 -Wrestrict false positive (PR 105329)
  }
  if (req.path.find('\0') != std::string::npos) return Error::invalid("NUL in path");

  std::optional<TraceContext> incoming;
  bool upgrade_conn = false, upgrade_ws = false, has_key = false, version13 = false;
  for (const auto& [name, value] : req.headers) {
    switch (name.size()) {
      case 7:
        if (name == "upgrade") upgrade_ws = header_has_token(value, "websocket");
        break;
      case 10:
        if (name == "connection") upgrade_conn = upgrade_conn || header_has_token(value, "upgrade");
        break;
      case 11:
        if (name == "traceparent" && !incoming) incoming = TraceContext::parse(trim(value));
        break;
      case 17:
        if (name == "sec-websocket-key") has_key = !trim(value).empty();
        break;
      case 21:
        if (name == "sec-websocket-version") version13 = trim(value) == "13";
        break;
      default:
        break;
    }
  }
  req.websocket_upgrade =
      req.method == Method::kGet && upgrade_conn && upgrade_ws && has_key && version13;
  req.trace = incoming ? incoming->child() : TraceContext::generate();
  return {};
}

}  // namespace detail
}  // namespace office::net
