#include "cmd/officectl/session.hpp"

#include <chrono>

#include "cmd/officectl/output.hpp"
#include "core/json_body.hpp"

namespace office::ctl {

using nlohmann::json;

namespace {

// An access token this close to its expiry is refreshed before it is used.
constexpr std::int64_t kRefreshMarginS = 30;

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ErrorCode code_of_status(int status) {
  switch (status) {
    case 400:
      return ErrorCode::kInvalidArgument;
    case 401:
      return ErrorCode::kUnauthenticated;
    case 403:
      return ErrorCode::kPermissionDenied;
    case 404:
      return ErrorCode::kNotFound;
    case 405:
      return ErrorCode::kMethodNotAllowed;
    case 409:
      return ErrorCode::kConflict;
    case 412:
      return ErrorCode::kFailedPrecondition;
    case 413:
      return ErrorCode::kPayloadTooLarge;
    case 429:
      return ErrorCode::kResourceExhausted;
    case 503:
      return ErrorCode::kUnavailable;
    case 504:
      return ErrorCode::kDeadlineExceeded;
    default:
      return ErrorCode::kInternal;
  }
}

// An error answer: the API's {"error":{"code","message"}} keeps its message
// and code name; anything else (a proxy's page, another server) says so.
Error error_of(const ServerUrl& server, const HttpResponse& r) {
  auto j = parse_json(r.body);
  if (j && j->is_object()) {
    auto e = j->find("error");
    if (e != j->end() && e->is_object()) {
      std::string message = json_string(*e, "message");
      std::string code = json_string(*e, "code");
      if (!message.empty()) {
        return Error{code_of_status(r.status), message + " (" + (code.empty() ? "HTTP" : code) +
                                                   " " + std::to_string(r.status) + ")"};
      }
    }
  }
  return Error::unavailable("HTTP " + std::to_string(r.status) + " from " + server.to_string() +
                            " is not an office-suite API answer: is the server URL right?");
}

}  // namespace

HttpOptions Session::http_options() const {
  HttpOptions o;
  o.insecure = options_.insecure;
  o.ca_file = options_.ca_file;
  o.timeout = std::chrono::seconds(options_.timeout_s);
  return o;
}

Result<std::string> Session::login_path() { return login_file_path(); }

Result<ServerUrl> Session::server() {
  if (!options_.server.empty()) return ServerUrl::parse(options_.server);
  auto path = login_path();
  if (!path) return path.error();
  auto stored = load_login(*path);
  if (!stored) return stored.error();
  if (!*stored) {
    return Error::invalid(
        "no server: give --server URL (or set OFFICE_SERVER), or run officectl login first");
  }
  return ServerUrl::parse((*stored)->server);
}

Result<Session::Credentials*> Session::credentials() {
  if (credentials_) return &*credentials_;
  if (!options_.token.empty()) {
    auto s = server();
    if (!s) return s.error();
    credentials_ = Credentials{*s, options_.token, std::nullopt};
    return &*credentials_;
  }
  auto path = login_path();
  if (!path) return path.error();
  auto stored = load_login(*path);
  if (!stored) return stored.error();
  if (!*stored) {
    return Error::unauthenticated(
        "not logged in: run officectl login --server URL --email EMAIL (or give --token)");
  }
  auto stored_server = ServerUrl::parse((*stored)->server);
  if (!stored_server) {
    return Error{ErrorCode::kFailedPrecondition,
                 *path + " names no valid server: run officectl login again"};
  }
  if (!options_.server.empty()) {
    auto asked = ServerUrl::parse(options_.server);
    if (!asked) return asked.error();
    if (asked->to_string() != stored_server->to_string()) {
      return Error::unauthenticated("not logged in to " + asked->to_string() +
                                    " (the stored login is for " + stored_server->to_string() +
                                    "): run officectl login --server " + asked->to_string() +
                                    " --email EMAIL, or give --token");
    }
  }
  std::string token = (*stored)->access_token;
  credentials_ = Credentials{*stored_server, std::move(token), std::move(**stored)};
  return &*credentials_;
}

Status Session::refresh(Credentials& c) {
  auto path = login_path();
  if (!path) return path.error();
  auto lock = LoginLock::acquire(*path);
  if (!lock) return lock.error();
  const std::string server = c.server.to_string();
  auto expired = [&] {
    return Error::unauthenticated("the login to " + server +
                                  " has expired or was ended: run officectl login again");
  };
  // Another officectl may have refreshed (or logged out) since we read it.
  auto latest = load_login(*path);
  if (!latest) return latest.error();
  if (!*latest || (*latest)->server != c.stored->server) return expired();
  if ((*latest)->refresh_token != c.stored->refresh_token &&
      (*latest)->access_expires_at > now_s() + kRefreshMarginS) {
    c.stored = **latest;
    c.token = c.stored->access_token;
    return {};
  }
  if ((*latest)->refresh_token.empty()) return expired();
  int status = 0;
  auto r = send(c.server, "POST", "/api/v1/auth/refresh",
                json{{"refreshToken", (*latest)->refresh_token}}.dump(), {}, &status);
  if (!r) {
    if (status == 400 || status == 401) return expired();
    return std::move(r).error();
  }
  StoredLogin next = **latest;
  next.access_token = json_string(*r, "accessToken");
  next.refresh_token = json_string(*r, "refreshToken");
  next.access_expires_at = now_s() + static_cast<std::int64_t>(json_u64(*r, "expiresIn"));
  if (next.access_token.empty() || next.refresh_token.empty()) {
    return Error::unavailable("the refresh answer of " + server + " has no tokens");
  }
  if (auto st = save_login(*path, next); !st) return st;
  c.stored = std::move(next);
  c.token = c.stored->access_token;
  return {};
}

Result<json> Session::call(std::string_view method, const std::string& target,
                           const std::string& body) {
  auto c = credentials();
  if (!c) return c.error();
  Credentials& cred = **c;
  bool refreshed = false;
  if (cred.stored && now_s() >= cred.stored->access_expires_at - kRefreshMarginS) {
    if (auto st = refresh(cred); !st) return st.error();
    refreshed = true;
  }
  int status = 0;
  auto r = send(cred.server, method, target, body, cred.token, &status);
  // Refused although it looked valid (clock skew, a restarted server with new
  // keys): one refresh, then once more. A 401 comes before the handler ran,
  // so repeating the request is safe.
  if (!r && status == 401 && cred.stored && !refreshed) {
    if (auto st = refresh(cred); !st) return st.error();
    r = send(cred.server, method, target, body, cred.token, &status);
  }
  if (!r && status == 401 && !cred.stored) {
    return Error::unauthenticated("the token was refused by " + cred.server.to_string() + ": " +
                                  r.error().message);
  }
  return r;
}

Result<json> Session::call_public(const ServerUrl& server, std::string_view method,
                                  const std::string& target, const std::string& body) {
  int status = 0;
  return send(server, method, target, body, {}, &status);
}

Result<json> Session::send(const ServerUrl& server, std::string_view method,
                           const std::string& target, const std::string& body,
                           const std::string& token, int* status) {
  auto r = http_request(http_options(), server, method, target, body, token);
  if (!r) return r.error();
  *status = r->status;
  if (r->status < 200 || r->status >= 300) return error_of(server, *r);
  if (r->body.empty()) return json();
  auto j = parse_json(r->body);
  if (!j) {
    return Error::unavailable("the answer of " + server.to_string() +
                              " is not JSON: is the server URL right?");
  }
  return std::move(*j);
}

}  // namespace office::ctl
