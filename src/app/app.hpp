#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/config.hpp"
#include "core/result.hpp"
#include "net/router.hpp"

namespace office::app {

/// The monolith's composition root: which implementation backs which
/// interface (stage 1: SQLite, in-process calls). One per process.
class App {
 public:
  /// Opens the data directory and database, applies migrations, creates the
  /// first tenant and admin on an empty database, builds the router and binds
  /// the listening socket. Errors: kInvalidArgument (config), kUnavailable
  /// (data dir, database, port).
  static Result<std::unique_ptr<App>> create(const Config& config);
  ~App();

  /// The bound port (useful with port 0).
  std::uint16_t port() const;
  /// Serves until SIGTERM/SIGINT, then drains. Returns the process exit code.
  int run();

 private:
  App();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// `office-suite keys rotate`: creates the next access-token signing key
/// under config.data_dir (EdDSA only) and returns a line for the operator
/// naming the new kid and until when the previous key keeps verifying. A
/// running server switches to the new key within 10 s (at its next login or
/// refresh). Errors: kFailedPrecondition with HS256, kUnavailable for files.
Result<std::string> rotate_signing_key(const Config& config);

/// Registers every module's routes and the embedded static files on a router
/// whose services are given; used by App and by the route/spec consistency test.
void register_static_assets(net::Router& router);

}  // namespace office::app
