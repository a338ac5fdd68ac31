#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace office {

/// Typed configuration of the office-suite server. Every key has a default;
/// sources override in this order: defaults < YAML file < environment
/// (OFFICE_<KEY>, dots as underscores, e.g. OFFICE_SERVER_LISTEN) < flags.
/// Unknown keys in any source are rejected with a message naming the key.
/// The full list of keys is in docs/configuration.md (generated from
/// config_keys(); a test keeps them in step).
struct Config {
  struct Server {
    std::string listen = "127.0.0.1:8080";  ///< host:port; port 0 binds a free port
    std::string port_file;                  ///< if set, the bound port is written here
    std::string grpc_listen;                ///< host:port of the gRPC server; empty: no gRPC server
    std::string grpc_port_file;             ///< if set, the bound gRPC port is written here
    unsigned io_threads = 0;                ///< 0 = number of cores
    unsigned worker_threads = 4;            ///< the worker pool: handlers that may block
    std::uint64_t worker_queue = 1024;      ///< requests waiting for a worker; beyond: 503
    std::uint64_t handler_timeout_ms = 10'000;  ///< request deadline; still queued then: 503
    std::uint64_t readiness_period_ms = 1'000;  ///< how often /readyz's check runs
    std::uint64_t max_body_bytes = 1 << 20;
    std::uint64_t max_header_bytes = 16 << 10;
    std::uint64_t ws_max_message_bytes = 1 << 20;
    std::uint64_t ws_max_queued_messages = 1024;
    std::uint64_t ws_max_queued_bytes = 8 << 20;
    std::uint64_t ws_max_total_queued_bytes = 256 << 20;
    std::uint64_t ws_write_coalesce_ms = 20;  ///< see net::ServerOptions::ws_write_coalesce
    std::uint64_t max_connections = 20'000;
    std::uint64_t ws_max_connections = 16'000;
    std::uint64_t request_timeout_ms = 10'000;
    std::uint64_t idle_timeout_ms = 60'000;
    std::uint64_t shutdown_grace_ms = 10'000;
    bool access_log = true;
    /// Comma-separated origins the web app is served from ("https://office.example.com");
    /// empty: derived from `listen` (http://127.0.0.1:PORT, http://localhost:PORT).
    std::string public_origins;
  } server;
  std::string data_dir = "./data";
  struct Database {
    /// Empty: SQLite in <data_dir>/office.db. postgresql://...: PostgreSQL.
    std::string url;
    std::uint64_t max_batch = 512;      ///< most writes per group-commit transaction (1: off)
    bool rehearse_writes = false;       ///< run every write callback twice (tests)
    unsigned pg_write_connections = 1;  ///< PostgreSQL write lanes
    unsigned pg_read_connections = 8;   ///< PostgreSQL connections for reads
  } database;
  struct Log {
    std::string level = "info";   ///< trace, debug, info, warn, error, off
    std::string format = "json";  ///< json or text
  } log;
  struct Auth {
    std::string issuer = "office-suite";
    std::string audience = "office-suite";
    std::uint64_t access_ttl_s = 900;          ///< access token lifetime
    std::uint64_t refresh_ttl_s = 30 * 86400;  ///< refresh token lifetime
    std::string jwt_algorithm = "EdDSA";       ///< EdDSA (Ed25519) or HS256
    std::uint64_t jwt_key_rotate_s =
        30 * 86400;          ///< EdDSA key age that triggers rotation; 0: never
    std::string jwt_secret;  ///< HS256 key; empty = generated once into <data_dir>/jwt.key
    // Failed-login limits (docs/identity.md, "Login limits"); max_failures 0 turns a tier off.
    std::uint32_t login_pair_max_failures = 5;
    std::uint64_t login_pair_max_backoff_s = 900;
    std::uint32_t login_account_max_failures = 20;
    std::uint64_t login_account_max_backoff_s = 60;
    std::uint32_t login_address_max_failures = 100;
    std::uint64_t login_address_max_backoff_s = 900;
    std::uint64_t login_failure_window_s = 3600;
    std::uint64_t login_limit_max_entries = 100'000;
    /// Threads that hash passwords (login, new users and tenants), apart from
    /// the worker pool; 0: half the cores, at least one.
    unsigned hash_threads = 0;
    std::uint64_t hash_queue = 32;  ///< logins waiting for a hasher; beyond: 503 + Retry-After
    std::uint64_t purge_interval_s = 3600;  ///< expired sessions are deleted this often; 0: never
  } auth;
  struct Docs {
    unsigned threads = 0;                    ///< the docs pool (open documents); 0: the cores
    std::uint64_t milestone_every = 500;     ///< ops between whole-text milestones
    std::uint64_t max_text_bytes = 8 << 20;  ///< largest document (UTF-8 bytes)
    std::uint64_t max_op_bytes = 512 << 10;  ///< most text one op inserts
    std::uint64_t idle_evict_s = 60;         ///< an open document without subscribers is dropped
    std::uint64_t max_queue = 4096;          ///< requests waiting per open document
  } docs;
  /// The event bus (src/bus, docs/bus.md). The consumer limits are the
  /// defaults of every durable consumer; bus.consumer_limits overrides them
  /// per consumer.
  struct Bus {
    std::string url;  ///< empty: in-process; nats://host:port: NATS JetStream
    std::uint64_t inproc_max_events = 100000;  ///< events the in-process bus holds
    std::uint64_t max_in_flight = 100;    ///< per consumer: deliveries held, not yet acknowledged
    std::uint64_t pause_at_percent = 80;  ///< stop pulling above this share of max_in_flight
    std::uint64_t nak_delay_ms = 1000;    ///< redelivery delay of a nak
    std::uint64_t max_deliver = 5;        ///< failed handler calls before a dead letter
    std::uint64_t drop_after_ms =
        30000;                    ///< not handled this long after its first delivery: dead letter
    std::uint64_t lanes = 4;      ///< handler threads per consumer
    std::string consumer_limits;  ///< "name:key=value,key=value;name2:..." overrides
  } bus;
  struct Admin {
    std::string email = "admin@example.com";  ///< first admin, created on an empty database
    std::string password;                     ///< empty = a generated one, printed once
  } admin;
};

struct ConfigKey {
  std::string key;   ///< "server.listen"
  std::string env;   ///< "OFFICE_SERVER_LISTEN"
  std::string type;  ///< "string", "uint", "bool"
  std::string help;
  std::string default_value;
};

/// Every configuration key with its type, help and default.
std::vector<ConfigKey> config_keys();

/// Sets one key from its string form. Errors (kInvalidArgument) name the key:
/// unknown key, or a value that does not parse as the key's type.
Status set_config_value(Config& config, std::string_view key, std::string_view value);

/// Applies a YAML document (nested maps; leaves are scalars). `origin` names
/// the source in error messages (e.g. the file path).
Status apply_config_yaml(Config& config, std::string_view yaml_text, std::string_view origin);

/// Applies OFFICE_* variables from `environ`-style "NAME=value" entries; any
/// other variable is ignored, an unknown OFFICE_* variable is an error.
Status apply_config_env(Config& config, const std::vector<std::string>& environment);

/// Checks cross-field constraints (listen address form, log level, ...).
Status validate_config(const Config& config);

/// defaults < file (if given; unreadable -> error) < env < overrides (key, value).
Result<Config> load_config(const std::optional<std::string>& file,
                           const std::vector<std::string>& environment,
                           const std::vector<std::pair<std::string, std::string>>& overrides);

/// An origin as browsers send it (RFC 6454): lower-case scheme and host, no
/// default port (80 for http, 443 for https), no path. Accepts http and https
/// only. Errors (kInvalidArgument) name the value.
Result<std::string> normalize_origin(std::string_view origin);

/// The origins of server.public_origins (normalised, in order), or, when it is
/// empty, the ones derived from the listen host and the bound port:
/// http://127.0.0.1:PORT and http://localhost:PORT, plus http://HOST:PORT for
/// a listen host that is neither a wildcard nor loopback.
Result<std::vector<std::string>> public_origins(const Config& config, std::uint16_t bound_port);

/// Splits "host:port" / "[v6]:port". Error names the value.
Result<std::pair<std::string, std::uint16_t>> parse_listen_address(std::string_view listen);

}  // namespace office
