#include "core/secret_file.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "core/hex.hpp"
#include "core/random.hpp"

namespace office {

namespace {

constexpr std::size_t kMaxSecretBytes = 1 << 20;

Error io_error(const std::string& what, const std::string& path, int err) {
  return Error::unavailable(what + " " + path + ": " + std::strerror(err));
}

// Closes a descriptor on every path out of a function.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Reads an existing secret file; nullopt when it does not exist.
Result<std::optional<std::string>> read_existing(const std::string& path) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return io_error("cannot open", path, errno);
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) return io_error("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode)) return Error::unavailable(path + " is not a regular file");
  if (static_cast<std::size_t>(st.st_size) > kMaxSecretBytes)
    return Error::unavailable(path + " is larger than 1 MiB; not a secret file");
  if ((st.st_mode & 077) != 0) {
    spdlog::warn("{} was readable or writable by others (mode {:o}); setting it to 0600", path,
                 st.st_mode & 0777);
    if (::fchmod(f.fd, 0600) != 0) return io_error("cannot chmod", path, errno);
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("cannot read", path, errno);
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > kMaxSecretBytes)
      return Error::unavailable(path + " is larger than 1 MiB; not a secret file");
  }
  return std::optional<std::string>(std::move(out));
}

Status write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("cannot write", path, errno);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Result<std::optional<std::string>> read_secret_file(const std::string& path) {
  return read_existing(path);
}

Result<std::string> read_or_create_secret_file(const std::string& path,
                                               const std::function<std::string()>& generate) {
  auto existing = read_existing(path);
  if (!existing) return existing.error();
  if (*existing) return std::move(**existing);

  std::uint8_t nonce[8];
  secure_random(nonce, sizeof nonce);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + to_hex(nonce);
  {
    // 0600 from the first instant; fchmod because the umask may only remove bits
    // and we want exactly these.
    Fd f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
    if (f.fd < 0) return io_error("cannot create", tmp, errno);
    Status st = [&]() -> Status {
      if (::fchmod(f.fd, 0600) != 0) return io_error("cannot chmod", tmp, errno);
      if (auto w = write_all(f.fd, generate(), tmp); !w) return w;
      if (::fsync(f.fd) != 0) return io_error("cannot fsync", tmp, errno);
      return {};
    }();
    if (!st) {
      ::unlink(tmp.c_str());
      return st.error();
    }
  }
  // link(2), unlike rename(2), refuses to replace: the first process wins.
  const bool linked = ::link(tmp.c_str(), path.c_str()) == 0;
  const int link_errno = errno;
  ::unlink(tmp.c_str());
  if (!linked && link_errno != EEXIST) return io_error("cannot create", path, link_errno);
  if (linked) {
    Fd dir{::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (dir.fd >= 0) ::fsync(dir.fd);  // the new name survives a crash
  }
  auto now = read_existing(path);  // ours, or the one that won the race
  if (!now) return now.error();
  if (!*now) return Error::unavailable(path + " disappeared while it was being created");
  return std::move(**now);
}

}  // namespace office
