// Router: a trie of path segments built once, matched without allocating (except
// for the values of path parameters).
#include "net/router.hpp"

#include <array>
#include <map>
#include <mutex>
#include <stdexcept>
#include <type_traits>

#include <spdlog/spdlog.h>

#include "core/log.hpp"
#include "net/detail/parse.hpp"
#include "net/detail/static_files.hpp"

namespace office::net {

namespace {

constexpr std::size_t kMethodSlots = 7;  // kGet..kOptions; kOther never matches a route
constexpr std::size_t kMaxSegments = 32;

struct Route {
  Handler handler;
  RouteOptions options;
  std::vector<std::string> param_names;
  std::string pattern;
  bool is_static = false;
};

struct WsRoute {
  WebSocketFactory factory;
  RouteOptions options;
  std::vector<std::string> param_names;
  std::string pattern;
};

struct Endpoint {
  std::array<std::unique_ptr<Route>, kMethodSlots> by_method;
  std::unique_ptr<WsRoute> websocket;
};

struct Node {
  std::map<std::string, std::unique_ptr<Node>, std::less<>> literals;
  std::unique_ptr<Node> param;
  std::unique_ptr<Endpoint> endpoint;
};

struct Segments {
  std::array<std::string_view, kMaxSegments> views;
  std::size_t count = 0;
};

// Splits "/a/b" into {"a","b"}; "/" has no segments; "/a/" is {"a",""}.
bool split_path(std::string_view path, Segments& out) {
  if (path.empty() || path.front() != '/') return false;
  path.remove_prefix(1);
  if (path.empty()) return true;
  while (true) {
    if (out.count == kMaxSegments) return false;
    auto slash = path.find('/');
    out.views[out.count++] = path.substr(0, slash);
    if (slash == std::string_view::npos) return true;
    path.remove_prefix(slash + 1);
  }
}

bool is_param(std::string_view seg) {
  return seg.size() >= 3 && seg.front() == '{' && seg.back() == '}';
}

std::string allow_header(const Endpoint& e) {
  std::string allow;
  for (std::size_t m = 0; m < kMethodSlots; ++m) {
    bool has = e.by_method[m] != nullptr ||
               (m == static_cast<std::size_t>(Method::kHead) &&
                e.by_method[static_cast<std::size_t>(Method::kGet)]) ||
               (m == static_cast<std::size_t>(Method::kGet) && e.websocket);
    if (!has) continue;
    if (!allow.empty()) allow += ", ";
    allow += method_name(static_cast<Method>(m));
  }
  return allow;
}

// Runs application code: an escaped exception becomes an error line and
// R(Error::internal) (for R = Response: a 500). Nothing is built unless it threw.
template <class R, class F>
R guarded(const char* what, const Request& req, F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    spdlog::error("net: {} for {} {} threw: {}", what, method_name(req.method),
                  log::Escaped{req.path}, log::Escaped{e.what()});
  } catch (...) {
    spdlog::error("net: {} for {} {} threw a non-exception", what, method_name(req.method),
                  log::Escaped{req.path});
  }
  if constexpr (std::is_same_v<R, Response> || std::is_same_v<R, std::optional<Response>>) {
    return Response::error(ErrorCode::kInternal, "internal error");
  } else {
    return R(Error::internal("internal error"));
  }
}

}  // namespace

struct Router::Impl {
  Node root;
  Authenticator authenticator;
  CachedAuthenticator cached_authenticator;
  std::vector<RouteInfo> infos;

  Endpoint& endpoint_for(const std::string& pattern, std::vector<std::string>& names) {
    Segments segs;
    if (!split_path(pattern, segs)) throw std::invalid_argument("bad route pattern: " + pattern);
    Node* node = &root;
    for (std::size_t i = 0; i < segs.count; ++i) {
      std::string_view s = segs.views[i];
      if (is_param(s)) {
        names.emplace_back(s.substr(1, s.size() - 2));
        if (!node->param) node->param = std::make_unique<Node>();
        node = node->param.get();
      } else {
        if (s.find_first_of("{}") != std::string_view::npos)
          throw std::invalid_argument("bad route pattern segment: " + pattern);
        auto it = node->literals.find(s);
        if (it == node->literals.end())
          it = node->literals.emplace(std::string(s), std::make_unique<Node>()).first;
        node = it->second.get();
      }
    }
    if (!node->endpoint) node->endpoint = std::make_unique<Endpoint>();
    return *node->endpoint;
  }

  void add_route(Method method, std::string pattern, Handler handler, RouteOptions options,
                 bool is_static) {
    auto slot = static_cast<std::size_t>(method);
    if (slot >= kMethodSlots) throw std::invalid_argument("unsupported route method");
    auto route = std::make_unique<Route>();
    Endpoint& e = endpoint_for(pattern, route->param_names);
    if (e.by_method[slot])
      throw std::invalid_argument("duplicate route: " + std::string(method_name(method)) + " " +
                                  pattern);
    route->handler = std::move(handler);
    route->options = std::move(options);
    route->pattern = pattern;
    route->is_static = is_static;
    e.by_method[slot] = std::move(route);
    infos.push_back({method, std::move(pattern), false, is_static});
  }

  // Depth-first: literal children before the parameter child, backtracking when a
  // branch does not lead to a route for this method.
  struct Search {
    const Segments& segs;
    Method method;
    bool upgrade;
    std::array<std::string_view, kMaxSegments> values;
    const Endpoint* found = nullptr;
    const Endpoint* path_only = nullptr;  // path matched, method did not
    std::size_t found_params = 0;
  };

  static bool endpoint_serves(const Endpoint& e, Method m, bool upgrade) {
    if (m == Method::kGet && (e.websocket || e.by_method[0])) return true;
    if (m == Method::kHead && e.by_method[0]) return true;
    auto slot = static_cast<std::size_t>(m);
    return slot < kMethodSlots && e.by_method[slot];
  }

  static bool search(const Node& node, std::size_t depth, std::size_t nparams, Search& s) {
    if (depth == s.segs.count) {
      if (!node.endpoint) return false;
      if (endpoint_serves(*node.endpoint, s.method, s.upgrade)) {
        s.found = node.endpoint.get();
        s.found_params = nparams;
        return true;
      }
      if (!s.path_only) s.path_only = node.endpoint.get();
      return false;
    }
    std::string_view seg = s.segs.views[depth];
    if (!node.literals.empty()) {
      auto it = node.literals.find(seg);
      if (it != node.literals.end() && search(*it->second, depth + 1, nparams, s)) return true;
    }
    if (node.param && !seg.empty()) {
      s.values[nparams] = seg;
      if (search(*node.param, depth + 1, nparams + 1, s)) return true;
    }
    return false;
  }
};

Router::Router() : impl_(std::make_unique<Impl>()) {}
Router::~Router() = default;

void Router::add(Method method, std::string pattern, Handler handler, RouteOptions options) {
  impl_->add_route(method, std::move(pattern), std::move(handler), std::move(options), false);
}

void Router::add_websocket(std::string pattern, WebSocketFactory factory, RouteOptions options) {
  auto route = std::make_unique<WsRoute>();
  Endpoint& e = impl_->endpoint_for(pattern, route->param_names);
  if (e.websocket) throw std::invalid_argument("duplicate WebSocket route: " + pattern);
  route->factory = std::move(factory);
  route->options = std::move(options);
  route->pattern = pattern;
  e.websocket = std::move(route);
  impl_->infos.push_back({Method::kGet, std::move(pattern), true, false});
}

void Router::add_static(const EmbeddedFileTable& files,
                        const std::vector<std::pair<std::string, std::string>>& index_aliases) {
  const RouteOptions options{.auth = false, .run_inline = true};
  for (const EmbeddedFile& f : files) {
    if (f.path.empty()) continue;
    impl_->add_route(Method::kGet, std::string(f.path), detail::make_static_handler(f), options,
                     true);
  }
  for (auto& [alias, target] : index_aliases) {
    const EmbeddedFile* file = nullptr;
    for (const EmbeddedFile& f : files)
      if (f.path == target) file = &f;
    if (!file) throw std::invalid_argument("static alias target not embedded: " + target);
    impl_->add_route(Method::kGet, alias, detail::make_static_handler(*file), options, true);
  }
}

void Router::set_authenticator(Authenticator authenticator, CachedAuthenticator cached) {
  impl_->authenticator = std::move(authenticator);
  impl_->cached_authenticator = std::move(cached);
}

std::vector<Router::RouteInfo> Router::routes() const { return impl_->infos; }

Router::Match Router::match(Request& req) const {
  Match m;
  req.path_params.clear();
  // Match on the raw (still encoded) path so that an encoded '/' inside a parameter
  // does not change the route; segments are decoded one by one.
  std::string_view raw = req.target;
  if (raw.empty() || raw.front() != '/') {
    raw = req.path;
  } else {
    raw = raw.substr(0, raw.find('?'));
  }
  Segments segs;
  if (!split_path(raw, segs)) {
    m.error = Response::error(ErrorCode::kNotFound, "no such route");
    return m;
  }
  std::unique_ptr<std::string[]> decoded_storage;  // only for paths with escapes
  for (std::size_t i = 0; i < segs.count; ++i) {
    if (segs.views[i].find('%') == std::string_view::npos) continue;
    if (!decoded_storage) decoded_storage = std::make_unique<std::string[]>(segs.count);
    if (!detail::percent_decode(segs.views[i], decoded_storage[i], false)) {
      m.error = Response::error(ErrorCode::kInvalidArgument, "malformed percent-encoding in path");
      return m;
    }
    segs.views[i] = decoded_storage[i];
  }

  Impl::Search s{segs, req.method, req.websocket_upgrade, {}};
  if (!Impl::search(impl_->root, 0, 0, s)) {
    if (s.path_only) {
      m.error = Response::error(ErrorCode::kMethodNotAllowed, "method not allowed");
      m.error->headers.emplace_back("allow", allow_header(*s.path_only));
    } else {
      m.error = Response::error(ErrorCode::kNotFound, "no such route");
    }
    return m;
  }
  const Endpoint& e = *s.found;
  const std::vector<std::string>* names = nullptr;
  auto slot = static_cast<std::size_t>(req.method);
  const Route* route = slot < kMethodSlots ? e.by_method[slot].get() : nullptr;
  if (req.method == Method::kGet && e.websocket && (req.websocket_upgrade || !route)) {
    if (!req.websocket_upgrade) {
      m.error = Response::error(ErrorCode::kInvalidArgument, "expected a WebSocket upgrade");
      return m;
    }
    m.websocket = &e.websocket->factory;
    m.options = &e.websocket->options;
    names = &e.websocket->param_names;
  } else {
    if (!route && req.method == Method::kHead) route = e.by_method[0].get();
    m.handler = &route->handler;
    m.options = &route->options;
    names = &route->param_names;
  }
  req.path_params.reserve(s.found_params);
  for (std::size_t i = 0; i < s.found_params && i < names->size(); ++i)
    req.path_params.emplace_back((*names)[i], s.values[i]);
  return m;
}

// The blocking authentication: fills req.principal, or the error (401, or 500
// if the authenticator threw).
static Status authenticate_blocking(const Authenticator& authenticator, Request& req,
                                    const RouteOptions& options) {
  if (!options.auth || req.principal) return {};
  if (!authenticator) {
    static std::once_flag warned;
    std::call_once(warned, [] {
      spdlog::warn("net: a route requires auth but no authenticator is set; answering 401");
    });
    return Error::unauthenticated("authentication is not configured");
  }
  auto principal =
      guarded<Result<Principal>>("authenticator", req, [&] { return authenticator(req); });
  if (!principal) return std::move(principal).error();
  req.principal = std::move(principal).value();
  return {};
}

std::optional<Response> Router::authenticate(Request& req, const RouteOptions& options) const {
  if (auto st = authenticate_blocking(impl_->authenticator, req, options); !st)
    return Response::error(st.error());
  return std::nullopt;
}

std::optional<Response> Router::serve_nonblocking(Request& req, const Match& m) const {
  const RouteOptions& options = *m.options;
  if (options.auth && !req.principal) {
    if (!impl_->authenticator)  // 401 without blocking
      return authenticate(req, options);
    if (!impl_->cached_authenticator) return std::nullopt;
    auto cached = guarded<std::optional<Result<Principal>>>(
        "cached authenticator", req, [&] { return impl_->cached_authenticator(req); });
    if (!cached) return std::nullopt;  // unknown here: the executor authenticates
    if (!*cached) return Response::error(cached->error());
    req.principal = std::move(*cached).value();
  }
  if (m.websocket) return std::nullopt;  // factories may block
  if (options.fast_path) {
    auto fast =
        guarded<std::optional<Response>>("fast path", req, [&] { return options.fast_path(req); });
    if (fast) return fast;
  }
  if (options.run_inline) return serve(req, m);
  return std::nullopt;
}

Response Router::serve(Request& req, const Match& m) const {
  if (auto denied = authenticate(req, *m.options)) return std::move(*denied);
  return guarded<Response>("handler", req, [&] { return (*m.handler)(req); });
}

Result<std::unique_ptr<WebSocketHandler>> Router::open_websocket(Request& req,
                                                                 const Match& m) const {
  if (auto st = authenticate_blocking(impl_->authenticator, req, *m.options); !st)
    return std::move(st).error();
  auto handler = guarded<Result<std::unique_ptr<WebSocketHandler>>>(
      "WebSocket factory", req, [&] { return (*m.websocket)(req); });
  if (handler && !handler.value()) return Error::internal("no WebSocket handler");
  return handler;
}

}  // namespace office::net
