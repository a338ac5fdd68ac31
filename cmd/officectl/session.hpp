#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cmd/officectl/client.hpp"
#include "cmd/officectl/config.hpp"
#include "core/result.hpp"

// How every command reaches the server: which server, which token, and the
// server's answers turned into JSON or an Error.
namespace office::ctl {

/// The options every command has (main.cpp fills them from the command line
/// and the environment).
struct GlobalOptions {
  std::string server;  ///< --server / OFFICE_SERVER
  std::string token;   ///< --token / OFFICE_TOKEN
  bool json = false;   ///< --json: print the server's JSON
  bool insecure = false;
  std::string ca_file;
  int timeout_s = 30;
};

/// The server's API as the user. Credentials: --token (with --server, else
/// the stored login's server), or else the stored login, which is used only
/// with the server it was made for (a token never goes to another server).
/// A stored access token that expired (or is refused with 401) is refreshed
/// once with the refresh token, under LoginLock, and the rotated pair is saved.
/// Errors from the server keep its message; the code follows the HTTP status
/// (401 kUnauthenticated, 403 kPermissionDenied, 404 kNotFound, 400
/// kInvalidArgument ...), so exit_code() gives the documented exit codes. An
/// answer that is not the API's JSON is kUnavailable. Not thread-safe.
class Session {
 public:
  explicit Session(const GlobalOptions& options) : options_(options) {}

  /// The server named by --server/OFFICE_SERVER, else the stored login's.
  /// Errors: kInvalidArgument (none given, or not a URL).
  Result<ServerUrl> server();
  /// An authenticated request; `body` empty means none. Returns the parsed
  /// body (null for an empty one, e.g. 204).
  Result<nlohmann::json> call(std::string_view method, const std::string& target,
                              const std::string& body = {});
  /// An unauthenticated request to `server` (login, logout).
  Result<nlohmann::json> call_public(const ServerUrl& server, std::string_view method,
                                     const std::string& target, const std::string& body);

  HttpOptions http_options() const;
  const GlobalOptions& options() const { return options_; }
  /// The path of the stored login. Errors: see login_file_path().
  Result<std::string> login_path();

 private:
  struct Credentials {
    ServerUrl server;
    std::string token;
    std::optional<StoredLogin> stored;  ///< set when the token is the stored login's
  };
  Result<Credentials*> credentials();
  Status refresh(Credentials& c);
  Result<nlohmann::json> send(const ServerUrl& server, std::string_view method,
                              const std::string& target, const std::string& body,
                              const std::string& token, int* status);

  const GlobalOptions& options_;
  std::optional<Credentials> credentials_;
};

}  // namespace office::ctl
