// WebSocket fan-out benchmark (docs/benchmarks.md). Two processes, so that the
// server's memory is measured alone:
//
//   ws_fanout server --port-file FILE
//       An HttpServer (the public net API, as the document server will use it)
//       with one WebSocket route, /bench/ws: every connection joins a hub; a
//       text message "broadcast SIZE" from any of them sends one SharedMessage
//       of SIZE bytes to all of them. Runs until SIGTERM.
//
//   ws_fanout client --port PORT --server-pid PID [--connections N]
//                    [--rounds R] [--size BYTES] [--warmup W]
//       Opens W connections (warm-up), reads the server's RSS, opens N more
//       idle ones, reads it again: (after - before) / N is the memory per idle
//       connection. Then R broadcasts, one after another: each is sent by the
//       first connection and timed until every connection has received it.
//       Prints the figures; exits 1 on any error.
//
// bench/net/ws_fanout.sh runs both with a raised fd limit.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/log.hpp"
#include "net/server.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// --- server -------------------------------------------------------------------

struct Hub {
  std::mutex mu;
  std::vector<std::shared_ptr<office::net::WebSocketSession>> sessions;  // guarded by mu
  std::uint64_t failed_sends = 0;                                        // guarded by mu
};

class HubHandler final : public office::net::WebSocketHandler {
 public:
  explicit HubHandler(Hub& hub) : hub_(hub) {}
  void on_open(std::shared_ptr<office::net::WebSocketSession> s) override {
    std::lock_guard lock(hub_.mu);
    hub_.sessions.push_back(std::move(s));
  }
  void on_message(std::string_view text) override {
    if (text.substr(0, 10) != "broadcast ") return;
    std::size_t size = std::strtoul(std::string(text.substr(10)).c_str(), nullptr, 10);
    office::net::SharedMessage message(std::string(std::max<std::size_t>(size, 1), 'm'));
    std::vector<std::shared_ptr<office::net::WebSocketSession>> all;
    {
      std::lock_guard lock(hub_.mu);
      all = hub_.sessions;  // a copy of pointers, so sends run without the lock
    }
    std::uint64_t failed = 0;
    for (auto& s : all) failed += s->send_shared(message) ? 0 : 1;
    if (failed > 0) {
      std::lock_guard lock(hub_.mu);
      hub_.failed_sends += failed;
    }
  }
  void on_close(std::uint16_t) override {}

 private:
  Hub& hub_;
};

int run_server(const std::string& port_file) {
  office::log::init({"warn", "text"});
  Hub hub;
  office::net::Router router;
  router.add_websocket(
      "/bench/ws",
      [&hub](
          office::net::Request&) -> office::Result<std::unique_ptr<office::net::WebSocketHandler>> {
        return std::unique_ptr<office::net::WebSocketHandler>(std::make_unique<HubHandler>(hub));
      },
      {.auth = false});
  office::net::ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.access_log = false;
  o.max_connections = 100'000;  // lowered to the fd limit by the server
  o.ws_max_connections = 100'000;
  o.idle_timeout = std::chrono::minutes(10);
  office::net::HttpServer server(o, router);
  server.handle_signals();
  auto port = server.listen();
  if (!port) {
    std::cerr << "listen: " << port.error().message << "\n";
    return 1;
  }
  { std::ofstream(port_file + ".tmp") << *port << "\n"; }
  std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  server.run(true);
  office::log::shutdown();
  return 0;
}

// --- client -------------------------------------------------------------------

// CPU time (user + system) of a process so far, in seconds.
double cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');  // the command name may contain spaces
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string f;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i)
    if (i == 14 || i == 15) ticks += std::stod(f);  // utime, stime
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

long rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

class Bench;

struct Conn : std::enable_shared_from_this<Conn> {
  Conn(asio::io_context& ioc, Bench& b) : ws(ioc), bench(b) {}
  websocket::stream<tcp::socket> ws;
  beast::flat_buffer buf;
  Bench& bench;
  void start(const tcp::endpoint& ep);
  void read();
};

class Bench {
 public:
  Bench(asio::io_context& ioc, tcp::endpoint ep) : ioc_(ioc), ep_(ep) {}

  // Opens n connections, at most `window` handshakes at a time; runs the loop
  // until they are all open.
  bool open(std::size_t n) {
    target_open_ = conns_.size() + n;
    std::size_t window = std::min<std::size_t>(n, 256);
    for (std::size_t i = 0; i < window; ++i) open_one();
    ioc_.restart();
    while (opened_ < target_open_ && failed_ == 0) ioc_.run_one();
    return failed_ == 0;
  }

  // One broadcast of `size` bytes; returns the time until every connection had it.
  Clock::duration broadcast(std::size_t size) {
    expected_ = delivered_ + conns_.size();
    auto start = Clock::now();
    conns_.front()->ws.text(true);
    conns_.front()->ws.write(asio::buffer("broadcast " + std::to_string(size)));
    ioc_.restart();
    while (delivered_ < expected_ && failed_ == 0) ioc_.run_one();
    return Clock::now() - start;
  }

  void opened() {
    ++opened_;
    if (started_ < target_open_) open_one();
  }
  void delivered(std::size_t bytes) {
    ++delivered_;
    bytes_ += bytes;
  }
  void failed(const char* what, const beast::error_code& ec) {
    if (failed_++ == 0) std::cerr << "client: " << what << ": " << ec.message() << "\n";
  }
  std::size_t connections() const { return conns_.size(); }
  std::uint64_t failures() const { return failed_; }

 private:
  void open_one() {
    ++started_;
    auto c = std::make_shared<Conn>(ioc_, *this);
    conns_.push_back(c);
    c->start(ep_);
  }

  asio::io_context& ioc_;
  tcp::endpoint ep_;
  std::vector<std::shared_ptr<Conn>> conns_;
  std::size_t target_open_ = 0, started_ = 0, opened_ = 0;
  std::uint64_t delivered_ = 0, expected_ = 0, bytes_ = 0, failed_ = 0;
};

void Conn::start(const tcp::endpoint& ep) {
  ws.next_layer().async_connect(ep, [self = shared_from_this(), ep](beast::error_code ec) {
    if (ec) return self->bench.failed("connect", ec);
    self->ws.async_handshake("127.0.0.1", "/bench/ws", [self](beast::error_code ec2) {
      if (ec2) return self->bench.failed("handshake", ec2);
      self->bench.opened();
      self->read();
    });
  });
}

void Conn::read() {
  ws.async_read(buf, [self = shared_from_this()](beast::error_code ec, std::size_t n) {
    if (ec) return self->bench.failed("read", ec);
    self->buf.consume(self->buf.size());
    self->bench.delivered(n);
    self->read();
  });
}

int run_client(int argc, char** argv) {
  std::uint16_t port = 0;
  int server_pid = 0;
  std::size_t connections = 10'000, rounds = 100, size = 256, warmup = 100;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--port")
      port = static_cast<std::uint16_t>(std::stoul(v));
    else if (k == "--server-pid")
      server_pid = std::stoi(v);
    else if (k == "--connections")
      connections = std::stoul(v);
    else if (k == "--rounds")
      rounds = std::stoul(v);
    else if (k == "--size")
      size = std::stoul(v);
    else if (k == "--warmup")
      warmup = std::stoul(v);
    else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  if (port == 0 || server_pid == 0 || warmup == 0) {
    std::cerr << "usage: ws_fanout client --port PORT --server-pid PID [--connections N] "
                 "[--rounds R] [--size BYTES] [--warmup W>0]\n";
    return 2;
  }
  asio::io_context ioc(1);
  Bench bench(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));

  // Warm-up: the server's threads, pools and allocator arenas exist before we measure.
  if (!bench.open(warmup)) return 1;
  for (int i = 0; i < 3; ++i) bench.broadcast(size);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  long before = rss_kib(server_pid);
  auto t0 = Clock::now();
  if (!bench.open(connections)) return 1;
  auto open_time = Clock::now() - t0;
  std::this_thread::sleep_for(std::chrono::seconds(1));  // let the server settle
  long after = rss_kib(server_pid);
  double per_conn = (after - before) * 1024.0 / static_cast<double>(connections);

  std::vector<double> ms;
  ms.reserve(rounds);
  const double server_cpu0 = cpu_seconds(server_pid), client_cpu0 = cpu_seconds(::getpid());
  auto all0 = Clock::now();
  for (std::size_t r = 0; r < rounds; ++r) {
    auto d = bench.broadcast(size);
    if (bench.failures() > 0) return 1;
    ms.push_back(std::chrono::duration<double, std::milli>(d).count());
  }
  double total_s = std::chrono::duration<double>(Clock::now() - all0).count();
  const double server_cpu = cpu_seconds(server_pid) - server_cpu0;
  const double client_cpu = cpu_seconds(::getpid()) - client_cpu0;
  long after_broadcasts = rss_kib(server_pid);
  std::sort(ms.begin(), ms.end());
  const double deliveries = static_cast<double>(bench.connections()) * static_cast<double>(rounds);

  std::printf("connections: %zu idle WebSockets opened in %.2f s (+%zu warm-up)\n", connections,
              std::chrono::duration<double>(open_time).count(), warmup);
  std::printf("server RSS: %ld KiB before, %ld KiB after -> %.0f bytes per idle connection\n",
              before, after, per_conn);
  std::printf("broadcast: %zu rounds of one %zu-byte message to %zu sockets\n", rounds, size,
              bench.connections());
  std::printf("  %.0f deliveries/s (%.0f in %.2f s)\n", deliveries / total_s, deliveries, total_s);
  std::printf("  per round: p50 %.2f ms, p90 %.2f ms, max %.2f ms\n", ms[ms.size() / 2],
              ms[ms.size() * 9 / 10], ms.back());
  std::printf("  CPU: server %.2f s (%.2f us per delivery), client %.2f s; wall %.2f s\n",
              server_cpu, server_cpu * 1e6 / deliveries, client_cpu, total_s);
  std::printf("server RSS after the broadcasts: %ld KiB\n", after_broadcasts);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "server" && argc == 4 && std::string(argv[2]) == "--port-file")
    return run_server(argv[3]);
  if (mode == "client") return run_client(argc, argv);
  std::cerr << "usage: ws_fanout server --port-file FILE | ws_fanout client --port PORT "
               "--server-pid PID [...]\n";
  return 2;
}
