#include "app/app.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/hex.hpp"
#include "core/random.hpp"
#include "identity/http_routes.hpp"
#include "identity/service_impl.hpp"
#include "identity/store.hpp"
#include "net/server.hpp"
#include "storage/database.hpp"

namespace office::net {
const EmbeddedFileTable& public_assets();
const EmbeddedFileTable& api_assets();
const EmbeddedFileTable& docs_assets();
const EmbeddedFileTable& swagger_assets();
}  // namespace office::net

namespace office::app {

namespace fs = std::filesystem;

struct App::Impl {
  Config config;
  std::unique_ptr<storage::Database> db;
  std::unique_ptr<identity::IdentityServiceImpl> identity;
  net::Router router;
  std::unique_ptr<net::HttpServer> server;
  std::uint16_t port = 0;
};

namespace {

// The HS256 key: from config, else <data_dir>/jwt.key, created once (0600).
Result<std::string> jwt_key(const Config& config) {
  if (!config.auth.jwt_secret.empty()) return config.auth.jwt_secret;
  fs::path path = fs::path(config.data_dir) / "jwt.key";
  std::ifstream in(path);
  std::string key;
  if (in && std::getline(in, key) && key.size() >= 32) return key;
  std::string raw(32, '\0');
  secure_random(raw.data(), raw.size());
  key = base64url_encode(raw);
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return Error::unavailable("cannot write " + tmp.string());
    out << key << "\n";
  }
  ::chmod(tmp.c_str(), 0600);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Error::unavailable("cannot write " + path.string() + ": " + ec.message());
  return key;
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

}  // namespace

void register_static_assets(net::Router& router) {
  router.add_static(net::api_assets());
  router.add_static(net::docs_assets(), {{"/api/docs", "/api/docs/index.html"},
                                         {"/api/docs/", "/api/docs/index.html"}});
  router.add_static(net::swagger_assets());
  router.add_static(net::public_assets(), {{"/", "/index.html"}});
}

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

  auto db = storage::open_sqlite({.path = (fs::path(config.data_dir) / "office.db").string()});
  if (!db) return db.error();
  s.db = std::move(*db);
  if (auto st = s.db->migrate(identity::store::migrations()); !st) return st.error();

  auto key = jwt_key(config);
  if (!key) return key.error();
  s.identity = std::make_unique<identity::IdentityServiceImpl>(
      *s.db, SystemClock::instance(), identity::PasswordHasher(),
      identity::IdentityOptions{*key, config.auth.issuer, config.auth.audience,
                                static_cast<std::int64_t>(config.auth.access_ttl_s),
                                static_cast<std::int64_t>(config.auth.refresh_ttl_s)});
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

  identity::register_routes(s.router, *s.identity);
  register_static_assets(s.router);

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
  if (!config.server.port_file.empty())
    if (auto st = write_port_file(config.server.port_file, s.port); !st) return st.error();
  spdlog::info("office-suite listening on http://{}:{} (data_dir {}, database {})",
               opts.host.find(':') != std::string::npos ? "[" + opts.host + "]" : opts.host, s.port,
               config.data_dir, s.db->backend());
  spdlog::default_logger()->flush();  // people and scripts wait for this line
  return app;
}

std::uint16_t App::port() const { return impl_->port; }

int App::run() {
  impl_->server->run(true);
  spdlog::info("office-suite stopped");
  spdlog::default_logger()->flush();
  return 0;
}

}  // namespace office::app
