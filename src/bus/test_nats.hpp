#pragma once
// Test-only (and benchmark) helper, not part of the library: a private
// `nats-server -js` on a free local port with a temporary store, started and
// stopped by the process that uses it. Nothing needs to run beforehand.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace office::bus::testing {

/// A nats-server with JetStream, listening on 127.0.0.1:<port>, storing under
/// a temporary directory (removed with it). The constructor starts it and
/// waits until it accepts clients with JetStream on; the destructor kills it.
/// Throws std::runtime_error when it cannot start (a missing server fails the
/// tests, never skips them). Runs fine as root. Not thread-safe; start() it
/// from a thread that lives as long as the server should (the main thread):
/// the server is killed when the thread that started it ends.
class NatsServer {
 public:
  NatsServer() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "office-nats-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    // A free port can be taken between the probe and the server's bind: try a few.
    for (int attempt = 0;; ++attempt) {
      port_ = free_port();
      try {
        start();
        return;
      } catch (const std::runtime_error&) {
        if (attempt == 4) throw;
      }
    }
  }
  ~NatsServer() {
    kill();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  const std::filesystem::path& dir() const { return dir_; }
  bool running() const { return pid_ > 0; }

  /// Starts it (again) on the same port and store; waits until it is ready.
  void start() {
    if (pid_ > 0) return;
    const std::string port = std::to_string(port_);
    const std::string store = (dir_ / "store").string();
    const std::string log = (dir_ / "nats.log").string();
    std::vector<std::string> args = {binary(), "-js", "-a",  "127.0.0.1", "-p",
                                     port,     "-sd", store, "-l",        log};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      // Only async-signal-safe calls here. The server dies with the thread
      // that started it (no server left behind by a crashed test).
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      int null = open("/dev/null", O_RDWR);
      if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
      }
      execv(argv[0], argv.data());
      _exit(127);
    }
    pid_ = pid;
    wait_ready();
  }

  /// Stops it gracefully (SIGTERM: JetStream flushes its store) and waits.
  void stop() { signal_and_wait(SIGTERM); }
  /// Kills it (SIGKILL) and waits.
  void kill() { signal_and_wait(SIGKILL); }
  /// stop() then start(): same port, same store.
  void restart() {
    stop();
    start();
  }

 private:
  static std::string binary() {
    if (const char* env = std::getenv("OFFICE_NATS_SERVER")) return env;
    for (const char* dir : {"/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"}) {
      std::filesystem::path p = std::filesystem::path(dir) / "nats-server";
      if (access(p.c_str(), X_OK) == 0) return p.string();
    }
    throw std::runtime_error(
        "nats-server not found: run scripts/setup.sh (or set OFFICE_NATS_SERVER)");
  }

  static int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      if (fd >= 0) close(fd);
      throw std::runtime_error("cannot find a free port");
    }
    close(fd);
    return ntohs(addr.sin_port);
  }

  // Ready when a client gets the server's INFO line with JetStream on.
  void wait_ready() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("nats-server exited at start (see " +
                                 (dir_ / "nats.log").string() + ")");
      }
      if (info_has_jetstream()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill();
    throw std::runtime_error("nats-server did not become ready on port " + std::to_string(port_));
  }

  bool info_has_jetstream() const {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port_));
    bool ok = false;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      timeval tv{1, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      std::string info;
      char buf[1024];
      while (info.find('\n') == std::string::npos && info.size() < 16384) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0) break;
        info.append(buf, static_cast<std::size_t>(n));
      }
      ok = info.rfind("INFO ", 0) == 0 && info.find("\"jetstream\":true") != std::string::npos;
    }
    close(fd);
    return ok;
  }

  void signal_and_wait(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

  std::filesystem::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

/// One server for the whole test process, started on first use.
inline NatsServer& shared_nats_server() {
  static NatsServer server;
  return server;
}

}  // namespace office::bus::testing
