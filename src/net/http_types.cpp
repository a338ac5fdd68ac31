// Request/Response helpers and the Beast-free parts of request preparation.
#include <algorithm>
#include <array>

#include "core/log.hpp"
#include "net/detail/parse.hpp"
#include "net/http.hpp"

namespace office::net {

namespace {

constexpr std::array<std::string_view, 8> kMethodNames = {"GET",   "HEAD",   "POST",    "PUT",
                                                          "PATCH", "DELETE", "OPTIONS", "OTHER"};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

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
  std::string_view q = query;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    auto eq = pair.find('=');
    std::string key;
    if (!detail::percent_decode(pair.substr(0, eq), key, true) || key != name) continue;
    std::string value;
    if (eq != std::string_view::npos && !detail::percent_decode(pair.substr(eq + 1), value, true))
      continue;
    return value;
  }
  return std::nullopt;
}

std::optional<std::string> Request::cookie(std::string_view name) const {
  for (const auto& [hname, hvalue] : headers) {
    if (hname != "cookie") continue;
    std::string_view rest = hvalue;
    while (!rest.empty()) {
      auto semi = rest.find(';');
      std::string_view pair = trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      auto eq = pair.find('=');
      if (eq == std::string_view::npos || trim(pair.substr(0, eq)) != name) continue;
      std::string_view value = trim(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
        value = value.substr(1, value.size() - 2);
      return std::string(value);
    }
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
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return true;
}

bool header_has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    auto comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

Status prepare_request(Request& req) {
  std::string_view target = req.target;
  // Absolute-form ("http://host/path?q") is allowed by RFC 9112 for requests to proxies;
  // servers must accept it. Keep only the path and query.
  if (!target.empty() && target.front() != '/') {
    auto scheme = target.find("://");
    if (target == "*" || scheme == std::string_view::npos)
      return Error::invalid("unsupported request target");
    auto slash = target.find('/', scheme + 3);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  auto qmark = target.find('?');
  std::string_view raw_path = target.substr(0, qmark);
  if (qmark != std::string_view::npos) {
    req.query.assign(target.substr(qmark + 1));
  } else {
    req.query.clear();
  }
  if (raw_path.find('%') == std::string_view::npos) {
    req.path.assign(raw_path);
  } else if (!percent_decode(raw_path, req.path, false)) {
    return Error::invalid("malformed percent-encoding in path");
  }
  if (req.path.empty())
    req.path.assign(1, '/');  // not = "/": GCC 12 -Wrestrict false positive (PR 105329)
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
