// Keeps the served routes and api/openapi.yaml in step: a route that is served
// but not documented, or documented but not served, fails this test.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <set>

#include "app/app.hpp"
#include "bus/http_routes.hpp"
#include "bus/test_bus.hpp"
#include "core/executor.hpp"
#include "core/ids.hpp"
#include "core/scheduler.hpp"
#include "docs/catalog.hpp"
#include "docs/http_routes.hpp"
#include "docs/hub.hpp"
#include "docs/schema.hpp"
#include "identity/http_routes.hpp"
#include "identity/service_impl.hpp"
#include "identity/store.hpp"

namespace office::app {
namespace {

namespace fs = std::filesystem;
using Route = std::pair<std::string, std::string>;  // (METHOD, path)

std::set<Route> spec_routes() {
  YAML::Node spec = YAML::LoadFile(std::string(OFFICE_SOURCE_DIR) + "/api/openapi.yaml");
  std::set<Route> out;
  for (const auto& path : spec["paths"]) {
    for (const auto& op : path.second) {
      std::string m = op.first.as<std::string>();
      if (m == "parameters" || m == "summary" || m == "description") continue;
      for (auto& c : m) c = static_cast<char>(std::toupper(c));
      out.emplace(m, path.first.as<std::string>());
    }
  }
  return out;
}

TEST(OpenApi, EveryServedRouteIsDocumentedAndViceVersa) {
  auto dir = fs::path(::testing::TempDir()) / ("openapi-" + new_id());
  fs::create_directories(dir);
  auto db = storage::open_sqlite({.path = (dir / "office.db").string()});
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->migrate(identity::store::migrations()).ok());
  ASSERT_TRUE((*db)->migrate(docs::migrations()).ok());
  FakeClock clock;
  identity::IdentityServiceImpl svc(**db, clock, identity::PasswordHasher::for_tests(),
                                    identity::IdentityOptions{});
  docs::Catalog catalog(**db, svc, clock);
  ThreadPool pool(ThreadPoolOptions{"docs", 1, 16});
  ManualScheduler scheduler;
  docs::Hub hub(**db, catalog, pool, clock, scheduler);
  net::Router router;
  identity::register_routes(router, svc);
  docs::register_routes(router, catalog, &hub);
  bus::testing::FakeBus bus;
  bus::register_routes(router, bus);
  register_static_assets(router);

  std::set<Route> served = {{"GET", "/healthz"}, {"GET", "/readyz"}};  // built into the server
  std::set<std::string> static_paths;
  for (const auto& r : router.routes()) {
    if (r.is_static) {
      static_paths.insert(r.pattern);
      continue;
    }
    served.emplace(std::string(net::method_name(r.method)), r.pattern);
  }
  auto spec = spec_routes();
  ASSERT_GT(spec.size(), 10u);
  for (const auto& r : served)
    EXPECT_TRUE(spec.count(r)) << r.first << " " << r.second
                               << " is served but not in openapi.yaml";
  for (const auto& r : spec) {
    bool is_served = served.count(r) || (r.first == "GET" && static_paths.count(r.second));
    EXPECT_TRUE(is_served) << r.first << " " << r.second << " is in openapi.yaml but not served";
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace office::app
