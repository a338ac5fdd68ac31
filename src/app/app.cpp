#include "app/app.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "bus/event_bus.hpp"
#include "bus/http_routes.hpp"
#include "bus/inproc_bus.hpp"
#include "bus/limits.hpp"
#include "bus/nats_bus.hpp"
#include "bus/outbox.hpp"
#include "bus/schema.hpp"
#include "core/executor.hpp"
#include "core/hex.hpp"
#include "core/json_body.hpp"
#include "core/random.hpp"
#include "core/scheduler.hpp"
#include "core/secret_file.hpp"
#include "docs/catalog.hpp"
#include "docs/grpc_server.hpp"
#include "docs/http_routes.hpp"
#include "docs/hub.hpp"
#include "docs/schema.hpp"
#include "docs/sharedb_adapter.hpp"
#include "identity/grpc_server.hpp"
#include "identity/http_routes.hpp"
#include "identity/service_impl.hpp"
#include "identity/store.hpp"
#include "identity/token_keys.hpp"
#include "net/server.hpp"
#include "rpc/server.hpp"
#include "storage/database.hpp"

namespace office::net {
const EmbeddedFileTable& public_assets();
const EmbeddedFileTable& api_assets();
const EmbeddedFileTable& docs_assets();
const EmbeddedFileTable& swagger_assets();
}  // namespace office::net

namespace office::app {

namespace fs = std::filesystem;

// Member order is destruction order reversed: the server stops using the
// router, pools and services before they go; timers stop before the services
// they call.
struct App::Impl {
  Config config;
  std::unique_ptr<storage::Database> db;
  // The event bus and the outbox relay: after the database (they use it),
  // stopped after the modules that publish (stop_bus()).
  std::unique_ptr<bus::EventBus> event_bus;
  std::unique_ptr<bus::OutboxRelay> relay;
  std::unique_ptr<identity::IdentityServiceImpl> identity;
  std::unique_ptr<ThreadPool> hash_pool;    // password hashing, apart from the worker pool
  std::unique_ptr<ThreadPool> maintenance;  // purges: one thread, a queue of a few jobs
  // Documents: the pool that runs open documents, the catalogue, the
  // real-time hub. ~Impl shuts the hub down (milestones, commits in flight)
  // and drains the pool before anything here goes; the hub's timer thread is
  // declared after it so that it stops first.
  std::unique_ptr<ThreadPool> docs_pool;
  std::unique_ptr<docs::Catalog> catalog;
  std::unique_ptr<docs::Hub> hub;
  std::unique_ptr<ThreadScheduler> docs_timers;
  net::Router router;
  std::unique_ptr<net::HttpServer> server;
  std::unique_ptr<ThreadScheduler> scheduler;  // session expiry, purges
  std::uint16_t port = 0;
  // gRPC (when server.grpc_listen is set): the services outlive the server.
  std::shared_ptr<grpc::Service> user_grpc;
  std::unique_ptr<docs::DocSyncGrpc> doc_sync_grpc;
  std::unique_ptr<rpc::Server> grpc_server;

  ~Impl() {
    stop_documents();
    stop_bus();
  }
  void stop_bus() {
    if (relay) relay->stop();  // publishes confirmed, rows marked
  }
  void stop_documents() {
    if (grpc_server) grpc_server->shutdown();  // its streams hold documents open
    if (hub) hub->shutdown(std::chrono::seconds(10));
    if (docs_pool) docs_pool->shutdown();
  }
};

namespace {

identity::KeyRingOptions key_ring_options(const Config& config) {
  identity::KeyRingOptions o;
  o.data_dir = config.data_dir;
  o.algorithm =
      config.auth.jwt_algorithm == "HS256" ? identity::JwtAlg::kHS256 : identity::JwtAlg::kEdDSA;
  o.hs256_secret = config.auth.jwt_secret;
  o.issuer = config.auth.issuer;
  o.audience = config.auth.audience;
  o.access_ttl_s = static_cast<std::int64_t>(config.auth.access_ttl_s);
  o.rotate_after_s = static_cast<std::int64_t>(config.auth.jwt_key_rotate_s);
  return o;
}

identity::LoginLimits login_limits(const Config& config) {
  const auto& a = config.auth;
  identity::LoginLimits l;
  l.pair_max_failures = a.login_pair_max_failures;
  l.pair_max_backoff_s = static_cast<std::int64_t>(a.login_pair_max_backoff_s);
  l.account_max_failures = a.login_account_max_failures;
  l.account_max_backoff_s = static_cast<std::int64_t>(a.login_account_max_backoff_s);
  l.address_max_failures = a.login_address_max_failures;
  l.address_max_backoff_s = static_cast<std::int64_t>(a.login_address_max_backoff_s);
  l.failure_window_s = static_cast<std::int64_t>(a.login_failure_window_s);
  l.max_entries = static_cast<std::size_t>(a.login_limit_max_entries);
  return l;
}

// The in-process bus (dead letters in the database) unless bus.url names a
// NATS server, and the outbox relay to it.
Status start_bus(const Config& config, storage::Database& db,
                 std::unique_ptr<bus::EventBus>& event_bus,
                 std::unique_ptr<bus::OutboxRelay>& relay) {
  if (auto st = bus::validate_consumer_limits(config.bus.consumer_limits); !st) return st;
  if (!config.bus.url.empty()) {
    bus::NatsBusOptions o;
    o.url = config.bus.url;
    auto opened = bus::open_nats_bus(o);
    if (!opened) return std::move(opened).error();
    event_bus = std::move(opened).value();
  } else {
    bus::InprocBusOptions o;
    o.max_events = config.bus.inproc_max_events;
    o.dead_letters = &db;
    event_bus = bus::open_inproc_bus(o);
  }
  relay = std::make_unique<bus::OutboxRelay>(db, *event_bus);
  relay->start();
  return {};
}

// SQLite in the data dir unless database.url names a PostgreSQL server.
Result<std::unique_ptr<storage::Database>> open_database(const Config& config) {
  storage::WriteOptions writes;
  writes.max_batch = config.database.max_batch;
  writes.rehearse = config.database.rehearse_writes;
  if (config.database.url.empty()) {
    storage::SqliteOptions o;
    o.path = (fs::path(config.data_dir) / "office.db").string();
    o.writes = writes;
    return storage::open_sqlite(o);
  }
  storage::PostgresOptions o;
  o.url = config.database.url;
  o.writes = writes;
  o.write_connections = config.database.pg_write_connections;
  o.max_read_connections = config.database.pg_read_connections;
  return storage::open_postgres(o);
}

Status write_port_file(const std::string& path, std::uint16_t port) {
  fs::path tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return Error::unavailable("cannot write port file " + path);
    out << port << "\n";
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);  // atomic: readers never see a half-written port
  if (ec) return Error::unavailable("cannot write port file " + path + ": " + ec.message());
  return {};
}

// Every second, connections whose access token expired are closed (the
// sweep only looks at memory); every auth.purge_interval_s, expired sessions
// and refresh tokens are deleted on the maintenance thread (a purge still
// running is not queued again).
std::unique_ptr<ThreadScheduler> start_timers(identity::IdentityServiceImpl* identity,
                                              ThreadPool* maintenance, const Config& config) {
  auto scheduler = std::make_unique<ThreadScheduler>();
  scheduler->every(std::chrono::seconds(1), [identity] { identity->sweep_sessions(); });
  if (config.auth.purge_interval_s > 0) {
    auto busy = std::make_shared<std::atomic<bool>>(false);
    scheduler->every(std::chrono::seconds(config.auth.purge_interval_s),
                     [identity, maintenance, busy] {
                       if (busy->exchange(true)) return;
                       bool queued = maintenance->try_post([identity, busy] {
                         auto n = identity->purge_expired();
                         if (!n) {
                           spdlog::warn("identity: purge failed: {}", n.error().message);
                         } else if (n->sessions + n->refresh_tokens > 0) {
                           spdlog::info("identity: purged {} sessions, {} refresh tokens",
                                        n->sessions, n->refresh_tokens);
                         }
                         busy->store(false);
                       });
                       if (!queued) busy->store(false);
                     });
  }
  return scheduler;
}

}  // namespace

void register_static_assets(net::Router& router) {
  router.add_static(net::api_assets());
  router.add_static(net::docs_assets(), {{"/api/docs", "/api/docs/index.html"},
                                         {"/api/docs/", "/api/docs/index.html"}});
  router.add_static(net::swagger_assets());
  // The web app's own routes (web/app/src/routes.ts) all serve its index.html,
  // so deep links and reloads work; anything else stays a 404.
  router.add_static(net::public_assets(), {{"/", "/index.html"},
                                           {"/signin", "/index.html"},
                                           {"/docs", "/index.html"},
                                           {"/docs/{id}", "/index.html"},
                                           {"/trash", "/index.html"},
                                           {"/people", "/index.html"}});
}

namespace {

// The gRPC server on server.grpc_listen: UserService and DocSync, with the
// same authentication as HTTP and streams that end with their session.
Status start_grpc(const Config& config, identity::IdentityService& identity, docs::Hub& hub,
                  std::shared_ptr<grpc::Service>& users,
                  std::unique_ptr<docs::DocSyncGrpc>& doc_sync,
                  std::unique_ptr<rpc::Server>& server) {
  if (config.server.grpc_listen.empty()) return {};
  auto listen = parse_listen_address(config.server.grpc_listen);
  if (!listen) return listen.error();
  rpc::ServerOptions o;
  o.host = listen->first;
  o.port = listen->second;
  o.max_message_bytes = config.server.ws_max_message_bytes;
  o.shutdown_grace = std::chrono::milliseconds(config.server.shutdown_grace_ms);
  o.access_log = config.server.access_log;
  identity::IdentityService* id = &identity;
  o.authenticate = [id](std::string_view token) -> Result<Principal> {
    if (auto p = id->cached_principal(token)) return *p;
    return id->authenticate(token);
  };
  docs::GrpcSyncOptions sync;
  sync.watch = [id](const Principal& p, identity::SessionWatch::EndFn end) {
    return id->watch(p, std::move(end));
  };
  users = identity::make_user_grpc_service(identity);
  doc_sync = std::make_unique<docs::DocSyncGrpc>(hub, sync);
  server = std::make_unique<rpc::Server>(o);
  server->add_service(users.get());
  server->add_service(doc_sync->service());
  // Edit streams never end by themselves: end them (clients reconnect)
  // rather than hold the shutdown for the whole grace.
  server->on_shutdown([d = doc_sync.get()] { d->drain(); });
  auto port = server->start();
  if (!port) return port.error();
  if (!config.server.grpc_port_file.empty())
    if (auto st = write_port_file(config.server.grpc_port_file, *port); !st) return st.error();
  spdlog::info("office-suite gRPC listening on {}:{}",
               o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host, *port);
  return {};
}

}  // namespace

App::App() : impl_(std::make_unique<Impl>()) {}
App::~App() = default;

Result<std::unique_ptr<App>> App::create(const Config& config) {
  std::unique_ptr<App> app(new App());
  Impl& s = *app->impl_;
  s.config = config;

  std::error_code ec;
  fs::create_directories(config.data_dir, ec);
  if (ec)
    return Error::unavailable("cannot create data_dir " + config.data_dir + ": " + ec.message());

  auto db = open_database(config);
  if (!db) return db.error();
  s.db = std::move(*db);
  if (auto st = s.db->migrate(identity::store::migrations()); !st) return st.error();
  if (auto st = s.db->migrate(docs::migrations()); !st) return st.error();
  if (auto st = s.db->migrate(bus::migrations()); !st) return st.error();
  if (auto st = start_bus(config, *s.db, s.event_bus, s.relay); !st) return st.error();

  auto keys = identity::KeyRing::open(key_ring_options(config), SystemClock::instance());
  if (!keys) return keys.error();
  s.identity = std::make_unique<identity::IdentityServiceImpl>(
      *s.db, SystemClock::instance(), identity::PasswordHasher(),
      identity::IdentityOptions{*keys, static_cast<std::int64_t>(config.auth.access_ttl_s),
                                static_cast<std::int64_t>(config.auth.refresh_ttl_s),
                                login_limits(config)});
  auto generated = s.identity->bootstrap(config.admin.email, config.admin.password);
  if (!generated) return generated.error();
  if (*generated) {
    // Shown once, on the terminal that started the first run; never stored in clear.
    std::cerr << "\n  office-suite: created tenant 'default' and admin " << config.admin.email
              << "\n  generated password: " << **generated
              << "\n  (shown only now; set OFFICE_ADMIN_PASSWORD to choose it)\n\n"
              << std::flush;
    std::fflush(stderr);
  }

  unsigned hash_threads = config.auth.hash_threads;
  if (hash_threads == 0) hash_threads = std::max(1u, std::thread::hardware_concurrency() / 2);
  s.hash_pool = std::make_unique<ThreadPool>(
      ThreadPoolOptions{"hash", hash_threads, static_cast<std::size_t>(config.auth.hash_queue)});
  s.maintenance = std::make_unique<ThreadPool>(ThreadPoolOptions{"maintenance", 1, 4});

  unsigned docs_threads = config.docs.threads;
  if (docs_threads == 0) docs_threads = std::max(1u, std::thread::hardware_concurrency());
  s.docs_pool = std::make_unique<ThreadPool>(ThreadPoolOptions{"docs", docs_threads, 65536});
  s.docs_timers = std::make_unique<ThreadScheduler>();
  s.catalog = std::make_unique<docs::Catalog>(*s.db, *s.identity, SystemClock::instance());
  docs::HubOptions hub_options;
  hub_options.milestone_every = static_cast<std::int64_t>(config.docs.milestone_every);
  hub_options.max_text_bytes = config.docs.max_text_bytes;
  hub_options.max_op_bytes = config.docs.max_op_bytes;
  hub_options.idle_evict = std::chrono::seconds(config.docs.idle_evict_s);
  hub_options.max_queue = config.docs.max_queue;
  s.hub = std::make_unique<docs::Hub>(*s.db, *s.catalog, *s.docs_pool, SystemClock::instance(),
                                      *s.docs_timers, hub_options);
  s.catalog->set_observer(s.hub.get());
  // ShareDB client ids are signed with a key kept in the data dir, so a
  // client resuming after a restart keeps its id (and its ops de-duplicate).
  auto id_key = read_or_create_secret_file(
      (fs::path(config.data_dir) / "sharedb_client_id.key").string(), [] {
        std::uint8_t key[32];
        secure_random(key, sizeof key);
        return to_hex(key);
      });
  if (!id_key) return id_key.error();

  auto listen = parse_listen_address(config.server.listen);
  if (!listen) return listen.error();
  net::ServerOptions opts;
  opts.host = listen->first;
  opts.port = listen->second;
  opts.io_threads = config.server.io_threads;
  opts.worker_threads = config.server.worker_threads;
  opts.worker_queue = config.server.worker_queue;
  opts.handler_timeout = std::chrono::milliseconds(config.server.handler_timeout_ms);
  opts.readiness_period = std::chrono::milliseconds(config.server.readiness_period_ms);
  opts.max_body_bytes = config.server.max_body_bytes;
  opts.max_header_bytes = config.server.max_header_bytes;
  opts.ws_max_message_bytes = config.server.ws_max_message_bytes;
  opts.ws_max_queued_messages = config.server.ws_max_queued_messages;
  opts.ws_max_queued_bytes = config.server.ws_max_queued_bytes;
  opts.ws_max_total_queued_bytes = config.server.ws_max_total_queued_bytes;
  opts.ws_write_coalesce = std::chrono::milliseconds(config.server.ws_write_coalesce_ms);
  opts.max_connections = config.server.max_connections;
  opts.ws_max_connections = config.server.ws_max_connections;
  opts.request_timeout = std::chrono::milliseconds(config.server.request_timeout_ms);
  opts.idle_timeout = std::chrono::milliseconds(config.server.idle_timeout_ms);
  opts.shutdown_grace = std::chrono::milliseconds(config.server.shutdown_grace_ms);
  opts.access_log = config.server.access_log;
  s.server = std::make_unique<net::HttpServer>(opts, s.router);
  storage::Database* dbp = s.db.get();
  s.server->set_readiness_check([dbp] { return dbp->healthy(); });  // on the worker pool
  s.server->handle_signals();
  auto port = s.server->listen();
  if (!port) return port.error();
  s.port = *port;
  // Routes are registered once the port is known (the default public origins
  // name it) and before run() starts serving: the router is complete by then.
  auto origins = public_origins(config, s.port);
  if (!origins) return origins.error();
  identity::register_routes(s.router, *s.identity,
                            identity::WebOptions{*origins, s.hash_pool.get()});
  docs::register_routes(s.router, *s.catalog, s.hub.get());
  docs::SharedbOptions sharedb;
  sharedb.client_id_key = *id_key;
  docs::register_sharedb_route(s.router, *s.hub, *s.identity, sharedb);
  bus::AdminRoutesOptions bus_admin;
  bus_admin.outbox_pending = [db = s.db.get()] { return bus::outbox_pending(*db); };
  bus::register_routes(s.router, *s.event_bus, std::move(bus_admin));
  s.scheduler = start_timers(s.identity.get(), s.maintenance.get(), config);
  register_static_assets(s.router);
  if (auto st =
          start_grpc(config, *s.identity, *s.hub, s.user_grpc, s.doc_sync_grpc, s.grpc_server);
      !st)
    return st.error();
  if (!config.server.port_file.empty())
    if (auto st = write_port_file(config.server.port_file, s.port); !st) return st.error();
  spdlog::info("office-suite listening on http://{}:{} (data_dir {}, database {})",
               opts.host.find(':') != std::string::npos ? "[" + opts.host + "]" : opts.host, s.port,
               config.data_dir, s.db->backend());
  spdlog::default_logger()->flush();  // people and scripts wait for this line
  return app;
}

std::uint16_t App::port() const { return impl_->port; }

Result<std::string> rotate_signing_key(const Config& config) {
  std::error_code ec;
  fs::create_directories(config.data_dir, ec);
  if (ec)
    return Error::unavailable("cannot create data_dir " + config.data_dir + ": " + ec.message());
  auto ring = identity::KeyRing::open(key_ring_options(config), SystemClock::instance());
  if (!ring) return ring.error();
  auto kid = (*ring)->rotate();
  if (!kid) return kid.error();
  std::string out = "new signing key " + *kid;
  if (std::int64_t until = (*ring)->retired_keys_valid_until_s(); until > 0)
    out += "; the previous key verifies tokens until " + rfc3339_ms(until * 1000);
  return out;
}

int App::run() {
  impl_->server->run(true);
  // The gRPC server (graceful), then milestones and commits in flight, then
  // the outbox relay, before the process exits.
  impl_->stop_documents();
  impl_->stop_bus();
  spdlog::info("office-suite stopped");
  spdlog::default_logger()->flush();
  return 0;
}

}  // namespace office::app
