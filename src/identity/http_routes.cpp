#include "identity/http_routes.hpp"

#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/config.hpp"
#include "core/json_body.hpp"
#include "core/log.hpp"

namespace office::identity {

using net::Method;
using net::Request;
using net::Response;
using nlohmann::json;

namespace {

json to_json(const User& u) {
  return {{"id", u.id},
          {"tenantId", u.tenant_id},
          {"email", u.email},
          {"displayName", u.display_name},
          {"role", u.role},
          {"plan", u.plan},
          {"disabled", u.disabled},
          {"platformAdmin", u.platform_admin},
          {"groupIds", u.group_ids},
          {"createTime", rfc3339_ms(u.create_ms)},
          {"updateTime", rfc3339_ms(u.update_ms)}};
}

// The hot path (GET /users/me and friends): the same JSON as to_json(User),
// written straight into one string; nlohmann's DOM was a tenth of the CPU.
std::string user_json(const User& u) {
  std::string out;
  out.reserve(320 + 40 * u.group_ids.size());
  auto field = [&out](const char* name, std::string_view value) {
    out += '"';
    out += name;
    out += "\":\"";
    log::append_json_escaped(out, value);
    out += "\",";
  };
  out += '{';
  field("id", u.id);
  field("tenantId", u.tenant_id);
  field("email", u.email);
  field("displayName", u.display_name);
  field("role", u.role);
  field("plan", u.plan);
  out += u.disabled ? "\"disabled\":true," : "\"disabled\":false,";
  out += u.platform_admin ? "\"platformAdmin\":true," : "\"platformAdmin\":false,";
  out += "\"groupIds\":[";
  for (std::size_t i = 0; i < u.group_ids.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    log::append_json_escaped(out, u.group_ids[i]);
    out += '"';
  }
  out += "],\"createTime\":\"";
  append_rfc3339_ms(out, u.create_ms);
  out += "\",\"updateTime\":\"";
  append_rfc3339_ms(out, u.update_ms);
  out += "\"}";
  return out;
}

json to_json(const Group& g) {
  return {{"id", g.id},
          {"tenantId", g.tenant_id},
          {"name", g.name},
          {"description", g.description},
          {"memberIds", g.member_ids},
          {"createTime", rfc3339_ms(g.create_ms)}};
}

json to_json(const Tenant& t) {
  return {{"id", t.id},
          {"slug", t.slug},
          {"displayName", t.display_name},
          {"createTime", rfc3339_ms(t.create_ms)}};
}

json to_json(const Tokens& t) {
  return {{"accessToken", t.access_token},
          {"refreshToken", t.refresh_token},
          {"expiresIn", t.expires_in},
          {"tokenType", "Bearer"},
          {"user", to_json(t.user)}};
}

Response ok(int status, const json& body) { return Response::json(status, body.dump()); }

Response error_reply(const Error& e) { return Response::error(e); }

template <class T>
Response reply(const Result<T>& r, int status = 200) {
  if (!r) return error_reply(r.error());
  return ok(status, to_json(*r));
}

// Unwraps a Result inside a handler: returns the error response from the handler.
// NOLINTBEGIN(bugprone-macro-parentheses): `var` names a declaration.
#define OFFICE_TRY_ASSIGN(var, expr)                           \
  auto var##_result = (expr);                                  \
  if (!var##_result) return error_reply(var##_result.error()); \
  auto var = std::move(*var##_result)
// NOLINTEND(bugprone-macro-parentheses)

Result<PageRequest> page_of(const Request& req) {
  PageRequest page;
  if (auto size = req.query_param("pageSize")) {
    char* end = nullptr;
    long n = std::strtol(size->c_str(), &end, 10);
    if (size->empty() || *end != '\0' || n < 1 || n > 500)
      return Error::invalid("pageSize must be between 1 and 500");
    page.page_size = static_cast<int>(n);
  }
  if (auto token = req.query_param("pageToken")) page.page_token = *token;
  return page;
}

Response reply(const Result<User>& r, int status = 200) {
  if (!r) return error_reply(r.error());
  return Response::json(status, user_json(*r));
}

template <class T>
Response page_reply(const Result<Page<T>>& r, const char* key) {
  if (!r) return error_reply(r.error());
  json items = json::array();
  for (const auto& i : r->items) items.push_back(to_json(i));
  return ok(200, {{key, items}, {"nextPageToken", r->next_page_token}});
}

// The per-connection handler of /api/v1/ws: greets with the caller's
// profile, answers pings, rejects anything else with an error frame. Nothing
// the client sent is echoed back except a ping's `id`, and only when it is a
// short string or an integer (never a structure: see issue 7).
// The per-connection handler of /api/v1/ws: greets with the caller's
// profile, answers pings, renews its credentials on {"type":"auth","token"},
// and is closed with 4401 when its session ends or its token expires.
class SessionSocket final : public net::WebSocketHandler {
 public:
  static constexpr std::size_t kMaxIdBytes = 128;

  // What the session watch's `end` reaches: the socket once it is open, or a
  // note to close it as soon as it opens (the session may end in between).
  struct Link {
    std::mutex mu;
    std::shared_ptr<net::WebSocketSession> session;  // guarded by mu
    std::optional<SessionEnd> ended;                 // guarded by mu
  };

  static void end(const std::shared_ptr<Link>& link, SessionEnd why) {
    std::shared_ptr<net::WebSocketSession> s;
    {
      std::lock_guard lock(link->mu);
      link->ended = why;
      s = link->session;
    }
    if (s) close_for(*s, why);
  }

  SessionSocket(IdentityService& service, User user, std::shared_ptr<Link> link,
                std::unique_ptr<SessionWatch::Lease> lease)
      : service_(service),
        user_(std::move(user)),
        link_(std::move(link)),
        lease_(std::move(lease)) {}

  void on_open(std::shared_ptr<net::WebSocketSession> s) override {
    session_ = s;
    std::optional<SessionEnd> ended;
    {
      std::lock_guard lock(link_->mu);
      link_->session = s;
      ended = link_->ended;
    }
    if (ended) {
      close_for(*session_, *ended);
      return;
    }
    session_->send_text(json{{"type", "hello"}, {"user", to_json(user_)}}.dump());
  }
  void on_message(std::string_view text) override {
    auto msg = parse_json(text);
    if (!msg) {
      error("INVALID_ARGUMENT", "message: " + msg.error().message);
      return;
    }
    auto type = msg->find("type");
    if (!msg->is_object() || type == msg->end() || !type->is_string()) {
      error("INVALID_ARGUMENT", "messages must be JSON objects with a string \"type\"");
      return;
    }
    if (*type == "ping") {
      json pong = {{"type", "pong"}};
      if (auto id = msg->find("id"); id != msg->end()) {
        bool short_string =
            id->is_string() && id->get_ref<const std::string&>().size() <= kMaxIdBytes;
        if (!short_string && !id->is_number_integer()) {
          error("INVALID_ARGUMENT", "ping \"id\" must be an integer or a string of at most " +
                                        std::to_string(kMaxIdBytes) + " bytes");
          return;
        }
        pong["id"] = *id;  // a scalar: no recursion
      }
      session_->send_text(pong.dump());
      return;
    }
    if (*type == "auth") {
      // A newer access token of the same session keeps the connection open
      // past the old one's expiry (a signature check: fine on the I/O thread).
      auto token = msg->find("token");
      if (token == msg->end() || !token->is_string() ||
          token->get_ref<const std::string&>().size() > 8192) {
        error("INVALID_ARGUMENT", "auth needs a \"token\" string");
        return;
      }
      auto renewed = service_.renew(*lease_, token->get_ref<const std::string&>());
      if (!renewed) {
        error(std::string(error_code_name(renewed.error().code)), renewed.error().message);
        return;
      }
      session_->send_text(
          json{{"type", "auth"}, {"expiresAt", rfc3339_ms(renewed->expires_at_s * 1000)}}.dump());
      return;
    }
    error("INVALID_ARGUMENT", "unknown message type");
  }
  void on_close(std::uint16_t) override {
    {
      std::lock_guard lock(link_->mu);
      link_->session.reset();
    }
    lease_.reset();  // no longer watched
    session_.reset();
  }

 private:
  static void close_for(net::WebSocketSession& s, SessionEnd why) {
    s.close(net::CloseCode::kUnauthorized,
            why == SessionEnd::kExpired ? "access token expired" : "session ended");
  }
  void error(const std::string& code, const std::string& message) {
    session_->send_text(
        json{{"type", "error"}, {"error", {{"code", code}, {"message", message}}}}.dump());
  }
  IdentityService& service_;
  User user_;
  std::shared_ptr<Link> link_;
  std::unique_ptr<SessionWatch::Lease> lease_;
  std::shared_ptr<net::WebSocketSession> session_;
};

// Set-Cookie for the access token (browsers use it for the WebSocket, which
// cannot carry an Authorization header); an empty token with max_age 0 clears it.
std::string access_cookie(const WebOptions& web, std::string_view token, std::int64_t max_age_s) {
  std::string c = "access_token=";
  c.append(token);
  c += "; Max-Age=" + std::to_string(max_age_s) + "; Path=/; HttpOnly; SameSite=Strict";
  for (const auto& o : web.public_origins)
    if (o.rfind("https://", 0) == 0) {
      c += "; Secure";
      break;
    }
  return c;
}

Response tokens_reply(const WebOptions& web, const Result<Tokens>& t) {
  if (!t) return error_reply(t.error());
  Response r = ok(200, to_json(*t));
  r.headers.emplace_back("Set-Cookie", access_cookie(web, t->access_token, t->expires_in));
  return r;
}

void auth_routes(net::Router& r, IdentityService& s, const std::shared_ptr<const WebOptions>& web) {
  net::RouteOptions pub{.auth = false};
  // Public keys for services that verify access tokens themselves. Cached
  // briefly: after a rotation, verifiers refetch on an unknown kid anyway.
  r.add(
      Method::kGet, "/.well-known/jwks.json",
      [&s](Request&) {
        Response resp = Response::json(200, s.jwks());
        resp.headers.emplace_back("Cache-Control", "public, max-age=300");
        return resp;
      },
      net::RouteOptions{.auth = false});
  r.add(Method::kPost, "/api/v1/auth/login",
        [&s, web](Request& req) {
          OFFICE_TRY_ASSIGN(body, JsonBody::parse(req.body, {"email", "password", "tenant"}));
          OFFICE_TRY_ASSIGN(email, body.string("email"));
          OFFICE_TRY_ASSIGN(password, body.string("password"));
          OFFICE_TRY_ASSIGN(tenant, body.opt_string("tenant"));
          return tokens_reply(*web,
                              s.login(email, password, tenant.value_or(""), req.remote_address));
        },
        {.auth = false,
         .executor = web->password_hashing,
         // On the I/O thread: a malformed body or a throttled attempt is answered
         // at once and never waits in the hashing queue.
         .fast_path = [&s](Request& req) -> std::optional<Response> {
           auto body = JsonBody::parse(req.body, {"email", "password", "tenant"});
           if (!body) return error_reply(body.error());
           auto email = body->string("email");
           auto password = body->string("password");
           auto tenant = body->opt_string("tenant");
           if (!email) return error_reply(email.error());
           if (!password) return error_reply(password.error());
           if (!tenant) return error_reply(tenant.error());
           if (auto refused = s.login_refused_now(*email, tenant->value_or(""), req.remote_address))
             return error_reply(*refused);
           return std::nullopt;
         }});
  r.add(
      Method::kPost, "/api/v1/auth/refresh",
      [&s, web](Request& req) {
        OFFICE_TRY_ASSIGN(body, JsonBody::parse(req.body, {"refreshToken"}));
        OFFICE_TRY_ASSIGN(token, body.string("refreshToken"));
        return tokens_reply(*web, s.refresh(token));
      },
      pub);
  r.add(
      Method::kPost, "/api/v1/auth/logout",
      [&s, web](Request& req) {
        OFFICE_TRY_ASSIGN(body, JsonBody::parse(req.body, {"refreshToken"}));
        OFFICE_TRY_ASSIGN(token, body.string("refreshToken"));
        // The cookie goes whatever the outcome: the caller wants to be out.
        Response resp = Response::no_content();
        if (auto st = s.logout(token); !st) resp = error_reply(st.error());
        resp.headers.emplace_back("Set-Cookie", access_cookie(*web, "", 0));
        return resp;
      },
      pub);
}

void user_routes(net::Router& r, IdentityService& s, Executor* hashing) {
  net::RouteOptions writes{.auth = true};
  // The hot path: a cached profile is answered on the I/O thread.
  r.add(Method::kGet, "/api/v1/users/me",
        [&s](Request& req) { return reply(s.get_profile(req.caller())); },
        {.fast_path = [&s](Request& req) -> std::optional<Response> {
          if (auto me = s.cached_profile(req.caller())) return Response::json(200, user_json(*me));
          return std::nullopt;
        }});
  r.add(Method::kGet, "/api/v1/users", [&s](Request& req) {
    OFFICE_TRY_ASSIGN(page, page_of(req));
    return page_reply(s.list_users(req.caller(), page), "users");
  });
  r.add(Method::kPost, "/api/v1/users",
        [&s](Request& req) {
          OFFICE_TRY_ASSIGN(body, JsonBody::parse(req.body, {"email", "password", "displayName",
                                                             "role", "plan"}));
          NewUser u;
          OFFICE_TRY_ASSIGN(email, body.string("email"));
          OFFICE_TRY_ASSIGN(password, body.string("password"));
          OFFICE_TRY_ASSIGN(name, body.opt_string("displayName"));
          OFFICE_TRY_ASSIGN(role, body.opt_string("role"));
          OFFICE_TRY_ASSIGN(plan, body.opt_string("plan"));
          u.email = email;
          u.password = password;
          u.display_name = name.value_or("");
          u.role = role.value_or("member");
          u.plan = plan.value_or("free_tier");
          return reply(s.create_user(req.caller(), u), 201);
        },
        {.auth = true, .executor = hashing});
  r.add(Method::kGet, "/api/v1/users/{id}",
        [&s](Request& req) { return reply(s.get_user(req.caller(), req.param("id"))); });
  r.add(
      Method::kPatch, "/api/v1/users/{id}",
      [&s](Request& req) {
        OFFICE_TRY_ASSIGN(
            body, JsonBody::parse(req.body, {"displayName", "role", "plan", "disabled", "password",
                                             "platformAdmin"}));
        UserPatch p;
        OFFICE_TRY_ASSIGN(name, body.opt_string("displayName"));
        OFFICE_TRY_ASSIGN(role, body.opt_string("role"));
        OFFICE_TRY_ASSIGN(plan, body.opt_string("plan"));
        OFFICE_TRY_ASSIGN(disabled, body.opt_bool("disabled"));
        OFFICE_TRY_ASSIGN(password, body.opt_string("password"));
        OFFICE_TRY_ASSIGN(platform_admin, body.opt_bool("platformAdmin"));
        p.display_name = name;
        p.role = role;
        p.plan = plan;
        p.disabled = disabled;
        p.password = password;
        p.platform_admin = platform_admin;
        return reply(s.update_user(req.caller(), req.param("id"), p));
      },
      writes);
  r.add(
      Method::kPost, "/api/v1/users/{id}/disable",
      [&s](Request& req) { return reply(s.disable_user(req.caller(), req.param("id"))); }, writes);
}

void group_routes(net::Router& r, IdentityService& s) {
  net::RouteOptions writes{.auth = true};
  r.add(Method::kGet, "/api/v1/groups", [&s](Request& req) {
    OFFICE_TRY_ASSIGN(page, page_of(req));
    return page_reply(s.list_groups(req.caller(), page), "groups");
  });
  r.add(
      Method::kPost, "/api/v1/groups",
      [&s](Request& req) {
        OFFICE_TRY_ASSIGN(body, JsonBody::parse(req.body, {"name", "description", "memberIds"}));
        OFFICE_TRY_ASSIGN(name, body.string("name"));
        OFFICE_TRY_ASSIGN(description, body.opt_string("description"));
        OFFICE_TRY_ASSIGN(members, body.string_list("memberIds"));
        return reply(
            s.create_group(req.caller(), NewGroup{name, description.value_or(""), members}), 201);
      },
      writes);
  r.add(Method::kGet, "/api/v1/groups/{id}",
        [&s](Request& req) { return reply(s.get_group(req.caller(), req.param("id"))); });
  r.add(
      Method::kPatch, "/api/v1/groups/{id}",
      [&s](Request& req) {
        OFFICE_TRY_ASSIGN(body, JsonBody::parse(req.body, {"name", "description"}));
        OFFICE_TRY_ASSIGN(name, body.opt_string("name"));
        OFFICE_TRY_ASSIGN(description, body.opt_string("description"));
        return reply(s.update_group(req.caller(), req.param("id"), GroupPatch{name, description}));
      },
      writes);
  r.add(
      Method::kDelete, "/api/v1/groups/{id}",
      [&s](Request& req) {
        if (auto st = s.delete_group(req.caller(), req.param("id")); !st)
          return error_reply(st.error());
        return Response::no_content();
      },
      writes);
  r.add(
      Method::kPut, "/api/v1/groups/{id}/members/{userId}",
      [&s](Request& req) {
        return reply(s.add_member(req.caller(), req.param("id"), req.param("userId")));
      },
      writes);
  r.add(
      Method::kDelete, "/api/v1/groups/{id}/members/{userId}",
      [&s](Request& req) {
        return reply(s.remove_member(req.caller(), req.param("id"), req.param("userId")));
      },
      writes);
}

void tenant_routes(net::Router& r, IdentityService& s, Executor* hashing) {
  r.add(Method::kGet, "/api/v1/tenants", [&s](Request& req) {
    auto list = s.list_tenants(req.caller());
    if (!list) return error_reply(list.error());
    json items = json::array();
    for (const auto& t : *list) items.push_back(to_json(t));
    return ok(200, {{"tenants", items}});
  });
  r.add(
      Method::kPost, "/api/v1/tenants",
      [&s](Request& req) {
        OFFICE_TRY_ASSIGN(body, JsonBody::parse(req.body, {"slug", "displayName", "adminEmail",
                                                           "adminPassword"}));
        NewTenant t;
        OFFICE_TRY_ASSIGN(slug, body.string("slug"));
        OFFICE_TRY_ASSIGN(name, body.opt_string("displayName"));
        OFFICE_TRY_ASSIGN(email, body.string("adminEmail"));
        OFFICE_TRY_ASSIGN(password, body.string("adminPassword"));
        t.slug = slug;
        t.display_name = name.value_or("");
        t.admin_email = email;
        t.admin_password = password;
        auto made = s.create_tenant(req.caller(), t);
        if (!made) return error_reply(made.error());
        return ok(201, {{"tenant", to_json(made->first)}, {"admin", to_json(made->second)}});
      },
      net::RouteOptions{.auth = true, .executor = hashing});
}

#undef OFFICE_TRY_ASSIGN

}  // namespace

namespace {
// The token of "Authorization: Bearer <token>", viewing the header; empty if
// there is no such header or it is not a bearer token.
std::string_view bearer_token(const Request& req) {
  if (auto h = req.header("authorization")) {
    std::string_view v = *h;
    if (v.size() > 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer "))
      return v.substr(7);
  }
  return {};
}
}  // namespace

// A cookie rides along on every request to our host, including a WebSocket
// opened by another site's page; only an Origin we serve the app from may use it.
Status check_cookie_origin(const Request& req, const WebOptions& web) {
  auto origin = req.header("origin");
  if (!origin) return Error::denied("a WebSocket authenticated by cookie needs an Origin header");
  auto normalized = normalize_origin(*origin);
  if (normalized && std::find(web.public_origins.begin(), web.public_origins.end(), *normalized) !=
                        web.public_origins.end())
    return {};
  return Error::denied("origin " + std::string(origin->substr(0, 200)) +
                       " may not use the access_token cookie (server.public_origins)");
}

// The caller's access token: the Authorization header (every REST call; a
// view into the request), or for a WebSocket upgrade the access_token query
// parameter or cookie (copied into `copy`; the cookie only from a public
// origin). Used by both authenticators, so the I/O thread's cached path
// applies exactly the same rules.
Result<std::string_view> token_of(const Request& req, const WebOptions& web, std::string& copy) {
  if (req.header("authorization")) {
    if (std::string_view bearer = bearer_token(req); !bearer.empty()) return bearer;
  } else if (req.websocket_upgrade) {
    if (auto q = req.query_param("access_token")) {
      copy = std::move(*q);
      return std::string_view(copy);
    }
    if (auto c = req.cookie("access_token")) {
      if (auto st = check_cookie_origin(req, web); !st) return st.error();
      copy = std::move(*c);
      return std::string_view(copy);
    }
  }
  return Error::unauthenticated("missing access token (Authorization: Bearer)");
}

void register_routes(net::Router& router, IdentityService& service, WebOptions web_in) {
  auto web = std::make_shared<const WebOptions>(std::move(web_in));
  router.set_authenticator(
      [&service, web](const Request& req) -> Result<Principal> {
        std::string copy;
        auto token = token_of(req, *web, copy);
        if (!token) return token.error();
        return service.authenticate(*token);
      },
      // On the I/O thread: a cached token, or a request that cannot succeed,
      // is answered there; anything else is verified on the worker pool.
      [&service, web](const Request& req) -> std::optional<Result<Principal>> {
        std::string copy;
        auto token = token_of(req, *web, copy);
        if (!token) return Result<Principal>(token.error());
        std::optional<Principal> hit = service.cached_principal(*token);
        if (!hit) return std::nullopt;
        return Result<Principal>(std::move(*hit));
      });
  auth_routes(router, service, web);
  user_routes(router, service, web->password_hashing);
  group_routes(router, service);
  tenant_routes(router, service, web->password_hashing);
  router.add_websocket(
      "/api/v1/ws", [&service](Request& req) -> Result<std::unique_ptr<net::WebSocketHandler>> {
        auto me = service.get_profile(req.caller());
        if (!me) return me.error();
        auto link = std::make_shared<SessionSocket::Link>();
        auto lease =
            service.watch(req.caller(), [link](SessionEnd why) { SessionSocket::end(link, why); });
        return std::unique_ptr<net::WebSocketHandler>(std::make_unique<SessionSocket>(
            service, std::move(*me), std::move(link), std::move(lease)));
      });
}

}  // namespace office::identity
