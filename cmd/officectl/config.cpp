#include "cmd/officectl/config.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/json_body.hpp"

namespace office::ctl {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::size_t kMaxFileBytes = 64 * 1024;

Error file_error(const std::string& what, const std::string& path) {
  return Error{ErrorCode::kFailedPrecondition, what + " " + path + ": " + std::strerror(errno)};
}

// mkdir -m 0700 when missing (and its parents, as XDG asks for
// XDG_CONFIG_HOME). With `narrow`, an existing directory of ours is narrowed
// to 0700 (the tokens' own directory; ~/.config is left as it is).
Status make_private_dir(const fs::path& dir, bool narrow) {
  if (!dir.parent_path().empty() && dir.parent_path() != dir) {
    std::error_code ec;
    if (!fs::exists(dir.parent_path(), ec)) {
      if (auto st = make_private_dir(dir.parent_path(), false); !st) return st;
    }
  }
  if (::mkdir(dir.c_str(), 0700) == 0) return {};
  if (errno != EEXIST) return file_error("cannot create the directory", dir.string());
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return file_error("cannot read", dir.string());
  if (!S_ISDIR(st.st_mode)) {
    return Error{ErrorCode::kFailedPrecondition, dir.string() + " is not a directory"};
  }
  if (narrow && st.st_uid == ::geteuid() && (st.st_mode & 077) != 0 &&
      ::chmod(dir.c_str(), 0700) != 0)
    return file_error("cannot make private", dir.string());
  return {};
}

}  // namespace

Result<std::string> login_file_path() {
  fs::path base;
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  if (xdg != nullptr && xdg[0] == '/') {
    base = xdg;
  } else if (const char* home = std::getenv("HOME"); home != nullptr && home[0] != '\0') {
    base = fs::path(home) / ".config";
  } else {
    return Error{ErrorCode::kFailedPrecondition,
                 "neither XDG_CONFIG_HOME nor HOME is set: no place to keep the login"};
  }
  return (base / "office-suite" / "officectl.json").string();
}

Result<std::optional<StoredLogin>> load_login(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<StoredLogin>();
    return file_error("cannot read", path);
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0 && (st.st_mode & 077) != 0) {
    std::cerr << "officectl: warning: " << path
              << " (your access tokens) is readable by others: chmod 600 it\n";
  }
  std::string text;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 && text.size() <= kMaxFileBytes)
    text.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  auto malformed = [&path] {
    return Error{ErrorCode::kFailedPrecondition,
                 path + " is not a login officectl wrote: run officectl login again"};
  };
  if (n < 0 || text.size() > kMaxFileBytes) return malformed();
  auto j = parse_json(text);
  if (!j || !j->is_object()) return malformed();
  StoredLogin login;
  try {
    login.server = j->at("server").get<std::string>();
    login.email = j->value("email", "");
    login.tenant = j->value("tenant", "");
    login.access_token = j->at("accessToken").get<std::string>();
    login.refresh_token = j->value("refreshToken", "");
    login.access_expires_at = j->value("accessExpiresAt", std::int64_t{0});
  } catch (const json::exception&) {
    return malformed();
  }
  return std::optional<StoredLogin>(std::move(login));
}

Status save_login(const std::string& path, const StoredLogin& login) {
  fs::path file(path);
  if (auto st = make_private_dir(file.parent_path(), true); !st) return st;
  json j = {{"server", login.server},
            {"email", login.email},
            {"tenant", login.tenant},
            {"accessToken", login.access_token},
            {"refreshToken", login.refresh_token},
            {"accessExpiresAt", login.access_expires_at}};
  std::string text = j.dump(2) + "\n";
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return file_error("cannot write", tmp);
  bool ok = ::fchmod(fd, 0600) == 0;  // whatever the umask
  for (std::size_t off = 0; ok && off < text.size();) {
    ssize_t w = ::write(fd, text.data() + off, text.size() - off);
    ok = w > 0;
    if (ok) off += static_cast<std::size_t>(w);
  }
  ok = ok && ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    Error e = file_error("cannot write", path);
    ::unlink(tmp.c_str());
    return e;
  }
  return {};
}

Status remove_login(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return file_error("cannot delete", path);
  return {};
}

Result<LoginLock> LoginLock::acquire(const std::string& login_path) {
  fs::path file(login_path);
  if (auto st = make_private_dir(file.parent_path(), true); !st) return st.error();
  std::string lock = login_path + ".lock";
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return file_error("cannot open", lock);
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      Error e = file_error("cannot lock", lock);
      ::close(fd);
      return e;
    }
  }
  return LoginLock(fd);
}

LoginLock::~LoginLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

}  // namespace office::ctl
