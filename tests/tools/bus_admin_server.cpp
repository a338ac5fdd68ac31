// A server for tests/integration/officectl.test.mjs with the real HTTP
// server, identity (SQLite in --data-dir) and bus administration routes, but
// an in-memory bus holding known consumers and dead letters: officectl's bus
// commands are tested against the real routes with content a fresh real bus
// would not have. Users: admin@example.com (platform admin) and
// member@example.com (tenant member), both with password tulip-orbit-9371.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "bus/http_routes.hpp"
#include "bus/test_bus.hpp"
#include "core/ids.hpp"
#include "identity/http_routes.hpp"
#include "identity/service_impl.hpp"
#include "identity/store.hpp"
#include "net/server.hpp"
#include "storage/database.hpp"

namespace {

constexpr const char* kPassword = "tulip-orbit-9371";

office::bus::DeadLetter letter(const std::string& consumer, int i) {
  office::bus::DeadLetter d;
  d.id = office::new_id();
  d.event = office::bus::make_event("office.docs.v1.DocumentCreated", "t1", "docs.t1.created",
                                    std::string("\x08\x01\x12\x03") + "doc" + std::to_string(i));
  d.consumer = consumer;
  d.reason =
      std::string(i % 2 == 0 ? office::bus::kReasonMaxDeliver : office::bus::kReasonDropAfter);
  d.detail = "handler failed on attempt " + std::to_string(i);
  d.deliveries = 5;
  d.time_ms = 1'700'000'000'000 + i;
  return d;
}

int fail(const std::string& what, const office::Error& e) {
  std::cerr << "bus_admin_server: " << what << ": " << e.message << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"test server: identity + bus admin routes over an in-memory bus"};
  std::string data_dir, port_file;
  int notify = 3, chat = 2;
  std::int64_t access_ttl_s = 900;
  cli.add_option("--data-dir", data_dir)->required();
  cli.add_option("--port-file", port_file)->required();
  cli.add_option("--notify-letters", notify, "dead letters of consumer notify");
  cli.add_option("--chat-letters", chat, "dead letters of consumer chat-fanout");
  cli.add_option("--access-ttl", access_ttl_s, "access token lifetime in seconds");
  CLI11_PARSE(cli, argc, argv);

  std::filesystem::create_directories(data_dir);
  auto db = office::storage::open_sqlite({.path = data_dir + "/office.db"});
  if (!db) return fail("database", db.error());
  if (auto st = (*db)->migrate(office::identity::store::migrations()); !st)
    return fail("migrate", st.error());
  office::identity::IdentityOptions id_options;
  id_options.access_ttl_s = access_ttl_s;
  office::identity::IdentityServiceImpl identity(**db, office::SystemClock::instance(),
                                                 office::identity::PasswordHasher::for_tests(),
                                                 id_options);
  if (auto st = identity.bootstrap("admin@example.com", kPassword); !st)
    return fail("bootstrap", st.error());
  auto admin = identity.login("admin@example.com", kPassword, "");
  if (!admin) return fail("login", admin.error());
  auto principal = identity.authenticate(admin->access_token);
  if (!principal) return fail("authenticate", principal.error());
  (void)identity.create_user(*principal, {"member@example.com", kPassword, "Member"});

  office::bus::testing::FakeBus bus;
  bus.consumer_stats = {{"chat-fanout", "chat.>", 12, 3, 1, static_cast<std::uint64_t>(chat)},
                        {"notify", "*.*.created", 0, 0, 4, static_cast<std::uint64_t>(notify)}};
  for (int i = 0; i < notify + chat; ++i)
    bus.letters.push_back(letter(i < notify ? "notify" : "chat-fanout", i));

  office::net::Router router;
  office::identity::register_routes(router, identity);
  office::bus::register_routes(
      router, bus, {.outbox_pending = []() -> office::Result<std::uint64_t> { return 4; }});
  office::net::ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.io_threads = 1;
  options.worker_threads = 2;
  office::net::HttpServer server(options, router);
  server.handle_signals();
  auto port = server.listen();
  if (!port) return fail("listen", port.error());
  {
    std::ofstream out(port_file + ".tmp");
    out << *port << "\n";
  }
  std::filesystem::rename(port_file + ".tmp", port_file);
  server.run(true);
  return 0;
}
