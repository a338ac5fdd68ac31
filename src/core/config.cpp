#include "core/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

namespace office {

namespace {

using Setter = std::function<Status(Config&, std::string_view)>;
using Getter = std::function<std::string(const Config&)>;

struct KeyDef {
  const char* key;
  const char* type;
  const char* help;
  Setter set;
  Getter get;
};

Error bad_value(std::string_view key, std::string_view type, std::string_view value) {
  return Error::invalid("configuration key '" + std::string(key) + "' expects " +
                        std::string(type) + ", got '" + std::string(value) + "'");
}

template <class Getter_>
KeyDef make_string(const char* key, const char* help, Getter_ field) {
  return {key, "string", help,
          [field](Config& c, std::string_view v) -> Status {
            field(c) = std::string(v);
            return {};
          },
          [field](const Config& c) { return field(const_cast<Config&>(c)); }};
}

template <class Getter_>
KeyDef make_uint(const char* key, const char* help, Getter_ field) {
  return {key, "uint", help,
          [field, key](Config& c, std::string_view v) -> Status {
            std::uint64_t n = 0;
            auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
            if (v.empty() || ec != std::errc() || p != v.data() + v.size())
              return bad_value(key, "an unsigned integer", v);
            using T = std::remove_reference_t<decltype(field(c))>;
            if (n > std::numeric_limits<T>::max()) return bad_value(key, "a smaller integer", v);
            field(c) = static_cast<T>(n);
            return {};
          },
          [field](const Config& c) { return std::to_string(field(const_cast<Config&>(c))); }};
}

template <class Getter_>
KeyDef make_bool(const char* key, const char* help, Getter_ field) {
  return {key, "bool", help,
          [field, key](Config& c, std::string_view v) -> Status {
            std::string s(v);
            std::transform(s.begin(), s.end(), s.begin(), ::tolower);
            if (s == "true" || s == "1" || s == "yes" || s == "on")
              field(c) = true;
            else if (s == "false" || s == "0" || s == "no" || s == "off")
              field(c) = false;
            else
              return bad_value(key, "true or false", v);
            return {};
          },
          [field](const Config& c) {
            return std::string(field(const_cast<Config&>(c)) ? "true" : "false");
          }};
}

#define OFFICE_FIELD(expr) \
  [](Config & c) -> auto& { return (c.expr); }  // NOLINT(bugprone-macro-parentheses)

const std::vector<KeyDef>& key_defs() {
  static const std::vector<KeyDef> defs = {
      make_string("server.listen", "address to listen on, host:port (port 0: any free port)",
                  OFFICE_FIELD(server.listen)),
      make_string("server.port_file", "write the bound port to this file once listening",
                  OFFICE_FIELD(server.port_file)),
      make_string("server.grpc_listen",
                  "address of the gRPC server (UserService, DocSync), host:port (port 0: any "
                  "free port); empty: no gRPC server",
                  OFFICE_FIELD(server.grpc_listen)),
      make_string("server.grpc_port_file", "write the bound gRPC port to this file once listening",
                  OFFICE_FIELD(server.grpc_port_file)),
      make_uint("server.io_threads", "I/O threads (0: one per core)",
                OFFICE_FIELD(server.io_threads)),
      make_uint("server.worker_threads",
                "worker pool threads: handlers that may block (database), cache misses",
                OFFICE_FIELD(server.worker_threads)),
      make_uint("server.worker_queue",
                "requests waiting for a worker; beyond, 503 with Retry-After",
                OFFICE_FIELD(server.worker_queue)),
      make_uint("server.handler_timeout_ms",
                "a request's deadline after it was read; still queued then: 503 (0: none)",
                OFFICE_FIELD(server.handler_timeout_ms)),
      make_uint("server.readiness_period_ms",
                "how often the readiness check (SQL) runs on the worker pool for /readyz",
                OFFICE_FIELD(server.readiness_period_ms)),
      make_uint("server.max_body_bytes", "largest request body; larger gets 413",
                OFFICE_FIELD(server.max_body_bytes)),
      make_uint("server.max_header_bytes", "largest request header block; larger gets 431",
                OFFICE_FIELD(server.max_header_bytes)),
      make_uint("server.ws_max_message_bytes", "largest WebSocket message; larger closes with 1009",
                OFFICE_FIELD(server.ws_max_message_bytes)),
      make_uint("server.ws_max_queued_messages",
                "outbound messages queued per WebSocket before a slow reader is closed (1013)",
                OFFICE_FIELD(server.ws_max_queued_messages)),
      make_uint("server.ws_max_queued_bytes",
                "outbound bytes queued per WebSocket before a slow reader is closed (1013)",
                OFFICE_FIELD(server.ws_max_queued_bytes)),
      make_uint("server.ws_max_total_queued_bytes",
                "outbound bytes queued on all WebSockets together (a broadcast counts once); "
                "a send beyond closes that WebSocket (1013)",
                OFFICE_FIELD(server.ws_max_total_queued_bytes)),
      make_uint("server.ws_write_coalesce_ms",
                "a WebSocket that wrote less than this long ago waits for the rest of the "
                "window and sends everything queued meanwhile in one write (0: no wait)",
                OFFICE_FIELD(server.ws_write_coalesce_ms)),
      make_uint("server.max_connections",
                "open TCP connections, HTTP and WebSocket (at most the fd limit less 64); "
                "beyond, 503 with Retry-After and close",
                OFFICE_FIELD(server.max_connections)),
      make_uint("server.ws_max_connections",
                "open WebSockets; an upgrade beyond is answered 503 with Retry-After",
                OFFICE_FIELD(server.ws_max_connections)),
      make_uint("server.request_timeout_ms", "a whole request must arrive within this time",
                OFFICE_FIELD(server.request_timeout_ms)),
      make_uint("server.idle_timeout_ms", "idle keep-alive connections are closed after this",
                OFFICE_FIELD(server.idle_timeout_ms)),
      make_uint("server.shutdown_grace_ms", "in-flight requests get this long on SIGTERM",
                OFFICE_FIELD(server.shutdown_grace_ms)),
      make_bool("server.access_log", "log one line per request", OFFICE_FIELD(server.access_log)),
      make_string("server.public_origins",
                  "comma-separated origins the web app is served from (scheme://host[:port]); "
                  "empty: http://127.0.0.1:PORT and http://localhost:PORT",
                  OFFICE_FIELD(server.public_origins)),
      make_string("data_dir", "directory for the SQLite database and generated keys",
                  OFFICE_FIELD(data_dir)),
      make_string("database.url",
                  "empty: SQLite in <data_dir>/office.db; postgresql://user@host:port/db: "
                  "PostgreSQL",
                  OFFICE_FIELD(database.url)),
      make_uint("database.max_batch",
                "most writes sharing one transaction and fsync (group commit; 1: off)",
                OFFICE_FIELD(database.max_batch)),
      make_bool("database.rehearse_writes",
                "run every write callback twice to catch callbacks that are not safe to retry "
                "(for tests; doubles the cost of writes)",
                OFFICE_FIELD(database.rehearse_writes)),
      make_uint("database.pg_write_connections",
                "PostgreSQL connections that write, each with its own group commit",
                OFFICE_FIELD(database.pg_write_connections)),
      make_uint("database.pg_read_connections", "most PostgreSQL connections for reads",
                OFFICE_FIELD(database.pg_read_connections)),
      make_string("log.level", "trace, debug, info, warn, error or off", OFFICE_FIELD(log.level)),
      make_string("log.format", "json (one object per line) or text", OFFICE_FIELD(log.format)),
      make_string("auth.issuer", "JWT iss claim issued and required", OFFICE_FIELD(auth.issuer)),
      make_string("auth.audience", "JWT aud claim issued and required",
                  OFFICE_FIELD(auth.audience)),
      make_uint("auth.access_ttl_s", "access token lifetime in seconds",
                OFFICE_FIELD(auth.access_ttl_s)),
      make_uint("auth.refresh_ttl_s", "refresh token lifetime in seconds",
                OFFICE_FIELD(auth.refresh_ttl_s)),
      make_string("auth.jwt_algorithm",
                  "access token signatures: EdDSA (Ed25519 keys in <data_dir>/jwt_keys/) or HS256",
                  OFFICE_FIELD(auth.jwt_algorithm)),
      make_uint("auth.jwt_key_rotate_s",
                "EdDSA: a signing key older than this is replaced by a new one (0: only by "
                "`office-suite keys rotate`)",
                OFFICE_FIELD(auth.jwt_key_rotate_s)),
      make_string("auth.jwt_secret",
                  "HS256 signing key (at least 32 bytes); empty: generated into "
                  "<data_dir>/jwt.key. With EdDSA it only verifies tokens issued before the "
                  "upgrade",
                  OFFICE_FIELD(auth.jwt_secret)),
      make_uint("auth.login_pair_max_failures",
                "failed logins of one account from one address before back-off (0: off)",
                OFFICE_FIELD(auth.login_pair_max_failures)),
      make_uint("auth.login_pair_max_backoff_s",
                "longest back-off of one account from one address, seconds",
                OFFICE_FIELD(auth.login_pair_max_backoff_s)),
      make_uint("auth.login_account_max_failures",
                "failed logins of one account from any address before back-off (0: off)",
                OFFICE_FIELD(auth.login_account_max_failures)),
      make_uint("auth.login_account_max_backoff_s",
                "longest back-off of one account from any address, seconds (keep short)",
                OFFICE_FIELD(auth.login_account_max_backoff_s)),
      make_uint("auth.login_address_max_failures",
                "failed logins from one address to any account before back-off (0: off)",
                OFFICE_FIELD(auth.login_address_max_failures)),
      make_uint("auth.login_address_max_backoff_s", "longest back-off of one address, seconds",
                OFFICE_FIELD(auth.login_address_max_backoff_s)),
      make_uint("auth.login_failure_window_s",
                "a failed-login counter is forgotten this long after its last failure",
                OFFICE_FIELD(auth.login_failure_window_s)),
      make_uint("auth.login_limit_max_entries",
                "failed-login counters kept in memory (least recently used dropped)",
                OFFICE_FIELD(auth.login_limit_max_entries)),
      make_uint("auth.hash_threads",
                "threads that hash passwords (login, new users), apart from the worker pool; "
                "0: half the cores, at least one",
                OFFICE_FIELD(auth.hash_threads)),
      make_uint("auth.hash_queue",
                "password-hashing requests waiting for a thread; beyond: 503 + Retry-After",
                OFFICE_FIELD(auth.hash_queue)),
      make_uint("auth.purge_interval_s",
                "how often expired sessions and refresh tokens are deleted; 0: never",
                OFFICE_FIELD(auth.purge_interval_s)),
      make_string("bus.url", "empty: the in-process bus; nats://host:port: NATS JetStream",
                  OFFICE_FIELD(bus.url)),
      make_uint("bus.inproc_max_events",
                "events the in-process bus holds (published, not yet handled by every "
                "consumer); beyond, the outbox relay waits",
                OFFICE_FIELD(bus.inproc_max_events)),
      make_uint("bus.max_in_flight", "per consumer: deliveries held and not yet acknowledged",
                OFFICE_FIELD(bus.max_in_flight)),
      make_uint("bus.pause_at_percent",
                "per consumer: above this share of max_in_flight it stops pulling, until half of "
                "that share is free (1..100)",
                OFFICE_FIELD(bus.pause_at_percent)),
      make_uint("bus.nak_delay_ms", "per consumer: redelivery delay after a nak",
                OFFICE_FIELD(bus.nak_delay_ms)),
      make_uint("bus.max_deliver",
                "per consumer: failed handler calls before an event becomes a dead letter",
                OFFICE_FIELD(bus.max_deliver)),
      make_uint("bus.drop_after_ms",
                "per consumer: an event not handled this long after its first delivery becomes "
                "a dead letter",
                OFFICE_FIELD(bus.drop_after_ms)),
      make_uint("bus.lanes", "per consumer: handler threads (a subject always uses the same one)",
                OFFICE_FIELD(bus.lanes)),
      make_string("bus.consumer_limits",
                  "per-consumer overrides of the bus.* limits, e.g. "
                  "\"mail:max_in_flight=20,drop_after_ms=60000;chat:lanes=8\"",
                  OFFICE_FIELD(bus.consumer_limits)),
      make_uint("docs.threads", "threads of the docs pool that runs open documents; 0: the cores",
                OFFICE_FIELD(docs.threads)),
      make_uint("docs.milestone_every",
                "ops between milestones (the whole text): loading replays at most this many",
                OFFICE_FIELD(docs.milestone_every)),
      make_uint("docs.max_text_bytes", "largest document text, in UTF-8 bytes",
                OFFICE_FIELD(docs.max_text_bytes)),
      make_uint("docs.max_op_bytes", "most text one op may insert, in UTF-8 bytes",
                OFFICE_FIELD(docs.max_op_bytes)),
      make_uint("docs.idle_evict_s",
                "an open document without subscribers leaves memory after this many seconds",
                OFFICE_FIELD(docs.idle_evict_s)),
      make_uint("docs.max_queue",
                "requests waiting per open document; beyond: a ShareDB error, retry later",
                OFFICE_FIELD(docs.max_queue)),
      make_string("admin.email", "e-mail of the first admin, created on an empty database",
                  OFFICE_FIELD(admin.email)),
      make_string("admin.password",
                  "password of the first admin; empty: generated and printed once",
                  OFFICE_FIELD(admin.password)),
  };
  return defs;
}

#undef OFFICE_FIELD

std::string env_name(std::string_view key) {
  std::string e = "OFFICE_";
  for (char c : key) e += c == '.' ? '_' : static_cast<char>(std::toupper(c));
  return e;
}

// True when some key starts with "prefix." (so a map may be nested there).
bool is_key_prefix(std::string_view prefix) {
  for (const auto& d : key_defs()) {
    std::string_view k = d.key;
    if (k.size() > prefix.size() && k.substr(0, prefix.size()) == prefix && k[prefix.size()] == '.')
      return true;
  }
  return false;
}

Status apply_yaml_node(Config& config, const YAML::Node& node, const std::string& prefix,
                       std::string_view origin) {
  if (node.IsMap()) {
    // Only maps that lead to real keys are entered: an unknown section is an
    // error at once, and a self-referential alias (a: &x {b: *x}) cannot
    // recurse forever.
    if (!prefix.empty() && !is_key_prefix(prefix))
      return Error::invalid(std::string(origin) + ": unknown configuration key '" + prefix + "'");
    for (const auto& kv : node) {
      std::string name = kv.first.as<std::string>();
      std::string key = prefix.empty() ? name : prefix + "." + name;
      if (auto st = apply_yaml_node(config, kv.second, key, origin); !st) return st;
    }
    return {};
  }
  if (prefix.empty()) {
    if (node.IsNull()) return {};  // empty file
    return Error::invalid(std::string(origin) + ": the configuration must be a mapping of keys");
  }
  if (!node.IsScalar())
    return Error::invalid(std::string(origin) + ": configuration key '" + prefix +
                          "' must be a single value");
  if (auto st = set_config_value(config, prefix, node.Scalar()); !st)
    return Error::invalid(std::string(origin) + ": " + st.error().message);
  return {};
}

}  // namespace

std::vector<ConfigKey> config_keys() {
  Config defaults;
  std::vector<ConfigKey> out;
  for (const auto& d : key_defs())
    out.push_back({d.key, env_name(d.key), d.type, d.help, d.get(defaults)});
  return out;
}

Status set_config_value(Config& config, std::string_view key, std::string_view value) {
  for (const auto& d : key_defs())
    if (key == d.key) return d.set(config, value);
  return Error::invalid("unknown configuration key '" + std::string(key) + "'");
}

Status apply_config_yaml(Config& config, std::string_view yaml_text, std::string_view origin) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return Error::invalid(std::string(origin) + ": invalid YAML: " + e.what());
  }
  try {
    return apply_yaml_node(config, root, "", origin);
  } catch (const YAML::Exception& e) {
    return Error::invalid(std::string(origin) + ": " + e.what());
  }
}

Status apply_config_env(Config& config, const std::vector<std::string>& environment) {
  for (const auto& entry : environment) {
    if (entry.rfind("OFFICE_", 0) != 0) continue;
    auto eq = entry.find('=');
    std::string name = entry.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : entry.substr(eq + 1);
    const KeyDef* def = nullptr;
    for (const auto& d : key_defs())
      if (env_name(d.key) == name) def = &d;
    if (def == nullptr)
      return Error::invalid("unknown configuration variable '" + name + "' in the environment");
    if (auto st = def->set(config, value); !st)
      return Error::invalid("environment " + name + ": " + st.error().message);
  }
  return {};
}

Result<std::pair<std::string, std::uint16_t>> parse_listen_address(std::string_view listen) {
  auto colon = listen.rfind(':');
  auto bad = [&] {
    return Error::invalid("server.listen must be host:port, got '" + std::string(listen) + "'");
  };
  if (colon == std::string_view::npos || colon == 0) return bad();
  std::string host(listen.substr(0, colon));
  if (host.front() == '[') {
    if (host.back() != ']') return bad();
    host = host.substr(1, host.size() - 2);
  }
  auto port_s = listen.substr(colon + 1);
  unsigned port = 0;
  auto [p, ec] = std::from_chars(port_s.data(), port_s.data() + port_s.size(), port);
  if (port_s.empty() || ec != std::errc() || p != port_s.data() + port_s.size() || port > 65535)
    return bad();
  return std::pair{host, static_cast<std::uint16_t>(port)};
}

Result<std::string> normalize_origin(std::string_view origin) {
  auto bad = [&] {
    return Error::invalid("an origin is http(s)://host[:port] without a path, got '" +
                          std::string(origin) + "'");
  };
  std::string o(origin);
  while (!o.empty() && (o.back() == '/' || o.back() == ' ')) o.pop_back();
  while (!o.empty() && o.front() == ' ') o.erase(0, 1);
  auto sep = o.find("://");
  if (sep == std::string::npos) return bad();
  std::string scheme = o.substr(0, sep);
  std::string rest = o.substr(sep + 3);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), ::tolower);
  if (scheme != "http" && scheme != "https") return bad();
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string::npos) return bad();
  std::string host = rest, port;
  auto colon = rest.rfind(':');
  if (colon != std::string::npos && rest.find(']', colon) == std::string::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    unsigned n = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    if (port.empty() || ec != std::errc() || p != port.data() + port.size() || n == 0 || n > 65535)
      return bad();
    port = std::to_string(n);
  }
  if (host.empty()) return bad();
  std::transform(host.begin(), host.end(), host.begin(), ::tolower);
  if ((scheme == "http" && port == "80") || (scheme == "https" && port == "443")) port.clear();
  return scheme + "://" + host + (port.empty() ? "" : ":" + port);
}

Result<std::vector<std::string>> public_origins(const Config& c, std::uint16_t bound_port) {
  std::vector<std::string> out;
  std::string_view list = c.server.public_origins;
  while (!list.empty()) {
    auto comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (item.find_first_not_of(' ') == std::string_view::npos) continue;
    auto o = normalize_origin(item);
    if (!o) return Error::invalid("server.public_origins: " + o.error().message);
    out.push_back(std::move(*o));
  }
  if (!out.empty()) return out;
  const std::string port = std::to_string(bound_port);
  out = {"http://127.0.0.1:" + port, "http://localhost:" + port};
  auto listen = parse_listen_address(c.server.listen);
  if (listen) {
    const std::string& host = listen->first;
    if (!host.empty() && host != "0.0.0.0" && host != "::" && host != "127.0.0.1" &&
        host != "localhost") {
      auto o = normalize_origin(
          "http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port);
      if (o && std::find(out.begin(), out.end(), *o) == out.end()) out.push_back(*o);
    }
  }
  return out;
}

Status validate_config(const Config& c) {
  if (auto r = parse_listen_address(c.server.listen); !r) return r.error();
  if (!c.server.grpc_listen.empty())
    if (auto r = parse_listen_address(c.server.grpc_listen); !r)
      return Error::invalid("server.grpc_listen must be host:port, got '" + c.server.grpc_listen +
                            "'");
  if (auto o = public_origins(c, 1); !o) return o.error();
  static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
  if (std::none_of(std::begin(kLevels), std::end(kLevels),
                   [&](const char* l) { return c.log.level == l; }))
    return Error::invalid("log.level must be one of trace, debug, info, warn, error, off; got '" +
                          c.log.level + "'");
  if (c.log.format != "json" && c.log.format != "text")
    return Error::invalid("log.format must be json or text; got '" + c.log.format + "'");
  if (c.data_dir.empty()) return Error::invalid("data_dir must not be empty");
  if (!c.database.url.empty() && !c.database.url.starts_with("postgresql://") &&
      !c.database.url.starts_with("postgres://"))
    return Error::invalid(
        "database.url must be empty (SQLite) or a postgresql:// URL; got another scheme");
  if (c.database.max_batch == 0 || c.database.pg_write_connections == 0 ||
      c.database.pg_read_connections == 0)
    return Error::invalid(
        "database.max_batch, database.pg_write_connections and database.pg_read_connections "
        "must be positive");
  if (c.auth.jwt_algorithm != "EdDSA" && c.auth.jwt_algorithm != "HS256")
    return Error::invalid("auth.jwt_algorithm must be EdDSA or HS256; got '" +
                          c.auth.jwt_algorithm + "'");
  if (!c.auth.jwt_secret.empty() && c.auth.jwt_secret.size() < 32)
    return Error::invalid("auth.jwt_secret must be at least 32 bytes long");
  if (c.auth.access_ttl_s == 0 || c.auth.refresh_ttl_s == 0)
    return Error::invalid("auth.access_ttl_s and auth.refresh_ttl_s must be positive");
  if (c.auth.login_pair_max_backoff_s == 0 || c.auth.login_account_max_backoff_s == 0 ||
      c.auth.login_address_max_backoff_s == 0 || c.auth.login_failure_window_s == 0)
    return Error::invalid(
        "auth.login_*_max_backoff_s and auth.login_failure_window_s must be positive");
  if (c.auth.hash_queue == 0) return Error::invalid("auth.hash_queue must be positive");
  if (c.docs.milestone_every == 0) return Error::invalid("docs.milestone_every must be positive");
  if (c.bus.max_in_flight == 0 || c.bus.max_deliver == 0 || c.bus.lanes == 0 ||
      c.bus.drop_after_ms == 0 || c.bus.inproc_max_events == 0)
    return Error::invalid(
        "bus.max_in_flight, bus.max_deliver, bus.lanes, bus.drop_after_ms and "
        "bus.inproc_max_events must be positive");
  if (c.bus.pause_at_percent == 0 || c.bus.pause_at_percent > 100)
    return Error::invalid("bus.pause_at_percent must be 1..100");
  if (!c.bus.url.empty() && c.bus.url.rfind("nats://", 0) != 0)
    return Error::invalid("bus.url must be empty (in-process) or nats://host:port");
  if (c.docs.max_queue == 0) return Error::invalid("docs.max_queue must be positive");
  if (c.docs.max_text_bytes == 0) return Error::invalid("docs.max_text_bytes must be positive");
  if (c.auth.login_limit_max_entries < 1000)
    return Error::invalid("auth.login_limit_max_entries must be at least 1000");
  if (c.server.worker_threads == 0 || c.server.worker_queue == 0)
    return Error::invalid("server.worker_threads and server.worker_queue must be positive");
  if (c.server.readiness_period_ms == 0)
    return Error::invalid("server.readiness_period_ms must be positive");
  if (c.server.max_body_bytes == 0 || c.server.max_header_bytes < 1024)
    return Error::invalid("server.max_body_bytes must be > 0 and server.max_header_bytes >= 1024");
  return {};
}

Result<Config> load_config(const std::optional<std::string>& file,
                           const std::vector<std::string>& environment,
                           const std::vector<std::pair<std::string, std::string>>& overrides) {
  Config config;
  if (file) {
    std::ifstream in(*file);
    if (!in) return Error::invalid("cannot read configuration file '" + *file + "'");
    std::stringstream ss;
    ss << in.rdbuf();
    if (auto st = apply_config_yaml(config, ss.str(), *file); !st) return st.error();
  }
  if (auto st = apply_config_env(config, environment); !st) return st.error();
  for (const auto& [k, v] : overrides)
    if (auto st = set_config_value(config, k, v); !st) return st.error();
  if (auto st = validate_config(config); !st) return st.error();
  return config;
}

}  // namespace office
