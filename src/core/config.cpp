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
      make_string("data_dir", "directory for the SQLite database and generated keys",
                  OFFICE_FIELD(data_dir)),
      make_string("log.level", "trace, debug, info, warn, error or off", OFFICE_FIELD(log.level)),
      make_string("log.format", "json (one object per line) or text", OFFICE_FIELD(log.format)),
      make_string("auth.issuer", "JWT iss claim issued and required", OFFICE_FIELD(auth.issuer)),
      make_string("auth.audience", "JWT aud claim issued and required",
                  OFFICE_FIELD(auth.audience)),
      make_uint("auth.access_ttl_s", "access token lifetime in seconds",
                OFFICE_FIELD(auth.access_ttl_s)),
      make_uint("auth.refresh_ttl_s", "refresh token lifetime in seconds",
                OFFICE_FIELD(auth.refresh_ttl_s)),
      make_string("auth.jwt_secret",
                  "HS256 signing key (at least 32 bytes); empty: generated into <data_dir>/jwt.key",
                  OFFICE_FIELD(auth.jwt_secret)),
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

Status apply_yaml_node(Config& config, const YAML::Node& node, const std::string& prefix,
                       std::string_view origin) {
  if (node.IsMap()) {
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

Status validate_config(const Config& c) {
  if (auto r = parse_listen_address(c.server.listen); !r) return r.error();
  static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
  if (std::none_of(std::begin(kLevels), std::end(kLevels),
                   [&](const char* l) { return c.log.level == l; }))
    return Error::invalid("log.level must be one of trace, debug, info, warn, error, off; got '" +
                          c.log.level + "'");
  if (c.log.format != "json" && c.log.format != "text")
    return Error::invalid("log.format must be json or text; got '" + c.log.format + "'");
  if (c.data_dir.empty()) return Error::invalid("data_dir must not be empty");
  if (!c.auth.jwt_secret.empty() && c.auth.jwt_secret.size() < 32)
    return Error::invalid("auth.jwt_secret must be at least 32 bytes long");
  if (c.auth.access_ttl_s == 0 || c.auth.refresh_ttl_s == 0)
    return Error::invalid("auth.access_ttl_s and auth.refresh_ttl_s must be positive");
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
