#pragma once
// Test-only helpers for the net tests: a server running in a thread and a tiny
// blocking HTTP client over POSIX sockets (so the tests control every byte).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "net/server.hpp"

namespace office::net::testing {

/// Holds the threads that wait() until the test calls open() (a blocked
/// handler, a busy worker). Thread-safe.
class Gate {
 public:
  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return open_; });
  }
  void open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

/// A counter other threads bump and the test waits on (no sleeping).
class Counter {
 public:
  void add(int n = 1) {
    {
      std::lock_guard lock(mu_);
      value_ += n;
    }
    cv_.notify_all();
  }
  int value() {
    std::lock_guard lock(mu_);
    return value_;
  }
  /// True once the value is at least n (false after timeout: a hung server).
  bool wait_at_least(int n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return value_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int value_ = 0;
};

/// Waits for a condition that another thread makes true without telling us
/// (e.g. a server's queue length): re-checks it, yielding, until true or
/// timeout. For states with no event to wait on; never a fixed sleep.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::yield();
  }
  return true;
}

/// The calling thread's name ("worker-0" on the server's worker pool).
inline std::string thread_name() {
  char name[16] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

/// A steady clock that moves only when told (ServerOptions::now).
class FakeSteadyClock {
 public:
  std::chrono::steady_clock::time_point now() const {
    return start_ + std::chrono::milliseconds(offset_ms_.load());
  }
  void advance(std::chrono::milliseconds d) { offset_ms_ += d.count(); }
  std::function<std::chrono::steady_clock::time_point()> fn() const {
    return [this] { return now(); };
  }

 private:
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::atomic<std::int64_t> offset_ms_{0};
};

/// A server on 127.0.0.1, port 0, run() in its own thread. stop_and_join() (or the
/// destructor) stops it and waits for run() to return.
class TestServer {
 public:
  TestServer(ServerOptions options, std::unique_ptr<Router> router) : router_(std::move(router)) {
    options.host = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<HttpServer>(options, *router_);
    auto port = server_->listen();
    if (port) port_ = *port;
    returned_ = returned_promise_.get_future();
  }
  ~TestServer() { stop_and_join(); }

  void start() {
    thread_ = std::thread([this] {
      server_->run(false);
      returned_promise_.set_value();
    });
  }
  void stop_and_join() {
    if (!thread_.joinable()) return;
    server_->stop();
    thread_.join();
  }
  /// Waits up to timeout for run() to return (after stop()).
  bool join_for(std::chrono::milliseconds timeout) {
    if (!thread_.joinable()) return true;
    if (returned_.wait_for(timeout) != std::future_status::ready) return false;
    thread_.join();
    return true;
  }
  HttpServer& server() { return *server_; }
  std::uint16_t port() const { return port_; }

 private:
  std::unique_ptr<Router> router_;
  std::unique_ptr<HttpServer> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::promise<void> returned_promise_;
  std::future<void> returned_;
};

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  ///< lower-case names
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

/// One blocking client connection with a read buffer (pipelining-safe).
class Client {
 public:
  explicit Client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
    int one = 1;
    if (fd_ >= 0) ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return fd_ >= 0; }

  bool send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  /// Reads one response (Content-Length framed, or none). nullopt on timeout/EOF.
  std::optional<RawResponse> read_response(
      bool head_request = false,
      std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    auto until = std::chrono::steady_clock::now() + timeout;
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill(until)) return std::nullopt;
    RawResponse r;
    std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    auto line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    if (status_line.size() < 12) return std::nullopt;
    r.status = std::stoi(status_line.substr(9, 3));
    std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      auto next = head.find("\r\n", pos);
      if (next == std::string::npos) next = head.size();
      std::string line = head.substr(pos, next - pos);
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        r.headers[name] = value;
      }
      pos = next + 2;
    }
    std::size_t len = 0;
    if (!head_request && r.headers.count("content-length"))
      len = std::stoul(r.headers["content-length"]);
    while (buf_.size() < len)
      if (!fill(until)) return std::nullopt;
    r.body = buf_.substr(0, len);
    buf_.erase(0, len);
    return r;
  }

  /// Sends a request and reads its response.
  std::optional<RawResponse> request(std::string_view raw, bool head_request = false) {
    if (!send(raw)) return std::nullopt;
    return read_response(head_request);
  }

  /// True if the server closes the connection (EOF or reset) within timeout.
  bool wait_closed(std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      int rc = ::poll(&p, 1, static_cast<int>(left.count()));
      if (rc <= 0) continue;
      char tmp[4096];
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) return true;
    }
  }

 private:
  bool fill(std::chrono::steady_clock::time_point until) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char tmp[16384];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buf_;
};

/// A GET request with Host and optional extra header lines ("Name: value\r\n").
inline std::string get(std::string_view target, std::string_view extra = {}) {
  std::string r = "GET ";
  r += target;
  r += " HTTP/1.1\r\nHost: test\r\n";
  r += extra;
  r += "\r\n";
  return r;
}

}  // namespace office::net::testing
