#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/result.hpp"

// The stored login of `officectl login`: one server, its tokens.
namespace office::ctl {

struct StoredLogin {
  std::string server;  ///< ServerUrl::to_string(); the tokens are only ever sent there
  std::string email;
  std::string tenant;  ///< organisation slug given at login; empty: the default one
  std::string access_token;
  std::string refresh_token;
  std::int64_t access_expires_at = 0;  ///< Unix seconds
};

/// $XDG_CONFIG_HOME/office-suite/officectl.json, or ~/.config/... when
/// XDG_CONFIG_HOME is unset or not absolute. Errors: kFailedPrecondition
/// when neither it nor HOME is set.
Result<std::string> login_file_path();

/// The stored login, or nullopt when there is none. Warns on stderr when the
/// file is readable by others. Errors: kFailedPrecondition (unreadable or
/// malformed: the message names the file).
Result<std::optional<StoredLogin>> load_login(const std::string& path);

/// Replaces the stored login atomically (a temporary file renamed over it):
/// the file has mode 0600, its directory (created if missing) 0700.
/// Errors: kFailedPrecondition naming the file.
Status save_login(const std::string& path, const StoredLogin& login);

/// Deletes the stored login; fine when there is none.
Status remove_login(const std::string& path);

/// An exclusive lock (flock on a lock file next to the login) held while the
/// object lives. A refresh token works once, so officectl processes refresh
/// one at a time, each re-reading the file under the lock first.
class LoginLock {
 public:
  /// Blocks until the lock is held. Errors: kFailedPrecondition.
  static Result<LoginLock> acquire(const std::string& login_path);
  LoginLock(LoginLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  LoginLock& operator=(LoginLock&&) = delete;
  LoginLock(const LoginLock&) = delete;
  ~LoginLock();

 private:
  explicit LoginLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace office::ctl
