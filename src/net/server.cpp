// HttpServer: io_context-per-thread pool, acceptor, signals, worker pool,
// readiness probe, graceful shutdown.
#include "net/server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/resource.h>

#include <atomic>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/log.hpp"
#include "net/detail/server_state.hpp"

namespace office::net {

namespace detail {

Response retry_later(std::string message) {
  return Response::error(ErrorCode::kUnavailable, std::move(message));  // with Retry-After: 1
}

void ReadinessProbe::tick() {
  std::lock_guard lock(mu_);
  if (closed_ || busy_.exchange(true)) return;
  if (!pool_.try_post([self = shared_from_this()] { self->run(); })) busy_ = false;
}

void ReadinessProbe::run() {
  bool ok = false;
  try {
    ok = check_();
  } catch (const std::exception& e) {
    spdlog::error("net: readiness check threw: {}", log::Escaped{e.what()});
  } catch (...) {
    spdlog::error("net: readiness check threw a non-exception");
  }
  ready_.store(ok, std::memory_order_release);
  busy_.store(false);
}

void ReadinessProbe::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
}

}  // namespace detail

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
unsigned resolve_threads(unsigned requested) {
  if (requested != 0) return requested;
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : hw;
}
}  // namespace

// Member order matters for destruction: the worker pool is shut down first
// (explicitly, in ~HttpServer), then the acceptor/timers go, then the io_contexts
// (destroying any connection still queued in them), and only then the state
// those connections reference.
struct HttpServer::Impl {
  Impl(const ServerOptions& o, const Router& router) : state(o, router) {
    unsigned n = resolve_threads(o.io_threads);
    contexts.reserve(n);
    for (unsigned i = 0; i < n; ++i) contexts.push_back(std::make_unique<asio::io_context>(1));
    workers = std::make_unique<ThreadPool>(ThreadPoolOptions{
        .name = "worker", .threads = std::max(1u, o.worker_threads), .max_queue = o.worker_queue});
    state.workers = workers.get();
  }

  detail::ServerState state;
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::unique_ptr<ThreadPool> workers;
  std::unique_ptr<ThreadScheduler> own_scheduler;  // only if needed and none was given
  Scheduler* scheduler = nullptr;
  Scheduler::TimerId readiness_timer = 0;
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::signal_set> signals;
  std::optional<asio::steady_timer> grace_timer;
  std::optional<asio::steady_timer> accept_retry;
  std::atomic<bool> stop_requested{false};
  bool finished = false;  // ctx0 only
  std::size_t next_context = 0;

  asio::io_context& main() { return *contexts.front(); }

  Result<std::uint16_t> listen() {
    if (acceptor) return acceptor->local_endpoint().port();
    const auto& o = state.options;
    boost::system::error_code ec;
    tcp::endpoint ep;
    auto addr = asio::ip::make_address(o.host, ec);
    if (!ec) {
      ep = tcp::endpoint(addr, o.port);
    } else {
      tcp::resolver resolver(main());
      auto results = resolver.resolve(o.host, std::to_string(o.port), ec);
      if (ec || results.empty())
        return Error::unavailable("cannot resolve listen host " + o.host + ": " + ec.message());
      ep = *results.begin();
    }
    tcp::acceptor a(main());
    if (a.open(ep.protocol(), ec); ec) return fail("open", ec);
    if (a.set_option(asio::socket_base::reuse_address(true), ec); ec) return fail("setsockopt", ec);
    if (a.bind(ep, ec); ec) return fail("bind " + o.host + ":" + std::to_string(o.port), ec);
    if (a.listen(asio::socket_base::max_listen_connections, ec); ec) return fail("listen", ec);
    auto port = a.local_endpoint(ec).port();
    acceptor.emplace(std::move(a));
    limit_connections_to_fds();
    spdlog::info("net: listening on {}:{} ({} I/O threads, {} workers, worker queue {})", o.host,
                 port, contexts.size(), std::max(1u, o.worker_threads), o.worker_queue);
    return port;
  }

  // Each connection is a file descriptor: a cap above the process's limit would
  // never be reached (accept fails with EMFILE instead of the client getting a
  // 503). Keep a reserve for the database, logs and the refusals themselves.
  void limit_connections_to_fds() {
    constexpr rlim_t kReserve = 64;
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return;
    std::size_t usable = rl.rlim_cur > kReserve ? rl.rlim_cur - kReserve : 1;
    if (usable < state.max_connections) {
      // The server adapts; only a limit low enough to turn people away is
      // worth a warning (the default ulimit of a desktop session is 1024).
      spdlog::log(usable < 4096 ? spdlog::level::warn : spdlog::level::info,
                  "net: max_connections {} is above the file descriptor limit {} (ulimit -n); "
                  "using {}",
                  state.max_connections, rl.rlim_cur, usable);
      state.max_connections = usable;
    }
  }

  static Error fail(const std::string& what, const boost::system::error_code& ec) {
    return Error::unavailable("cannot " + what + ": " + ec.message());
  }

  void do_accept() {
    auto& ctx = *contexts[next_context++ % contexts.size()];
    acceptor->async_accept(ctx, [this](boost::system::error_code ec, tcp::socket socket) {
      if (!acceptor->is_open() || ec == asio::error::operation_aborted) return;
      if (ec) {
        // E.g. EMFILE: retry a little later instead of spinning.
        spdlog::warn("net: accept failed: {}", ec.message());
        accept_retry.emplace(main(), std::chrono::milliseconds(50));
        accept_retry->async_wait([this](boost::system::error_code e) {
          if (!e && acceptor->is_open()) do_accept();
        });
        return;
      }
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto slot = detail::Slot::try_acquire(state.connections, state.max_connections);
      if (!slot) {
        // Answered 503 and closed by the session; logged now and then, counted always.
        if (state.connections_refused.fetch_add(1) % 1000 == 0)
          spdlog::warn("net: {} connections open, at the cap: refusing new ones (503)",
                       state.max_connections);
      }
      detail::start_http_session(std::move(socket), state, std::move(slot));
      do_accept();
    });
  }

  // ctx0. Stop accepting, ask every connection to wind down, and finish when the
  // last one is gone or the grace period is over.
  void begin_shutdown() {
    if (state.draining.exchange(true)) return;
    spdlog::info("net: shutting down; draining {} connections", state.registry.size());
    boost::system::error_code ec;
    if (acceptor) acceptor->close(ec);
    if (accept_retry) accept_retry->cancel();
    if (signals) signals->cancel(ec);
    grace_timer.emplace(main(), state.options.shutdown_grace);
    grace_timer->async_wait([this](boost::system::error_code e) {
      if (e) return;
      spdlog::warn("net: shutdown grace period over; {} connections still open",
                   state.registry.size());
      finish();
    });
    state.registry.set_on_empty([this] { asio::post(main(), [this] { finish(); }); });
    for (auto& c : state.registry.snapshot()) c->drain();
    if (state.registry.size() == 0) finish();
  }

  void finish() {
    if (finished) return;
    finished = true;
    state.registry.set_on_empty({});
    if (grace_timer) grace_timer->cancel();
    for (auto& ctx : contexts) ctx->stop();
  }

  void start_readiness_probe() {
    if (!state.readiness || readiness_timer != 0) return;
    scheduler = state.options.scheduler;
    if (!scheduler) {
      own_scheduler = std::make_unique<ThreadScheduler>();
      scheduler = own_scheduler.get();
    }
    state.readiness->tick();  // the first answer as soon as possible
    auto period = std::max(state.options.readiness_period, std::chrono::milliseconds(1));
    readiness_timer = scheduler->every(period, [probe = state.readiness] { probe->tick(); });
  }

  void stop_readiness_probe() {
    if (readiness_timer != 0) scheduler->cancel(readiness_timer);
    readiness_timer = 0;
    if (state.readiness) state.readiness->close();
  }

  void run(bool handle_signals) {
    if (!acceptor) {
      if (auto r = listen(); !r) {
        spdlog::error("net: {}", r.error().message);
        return;
      }
    }
    if (handle_signals && !signals) install_signal_handlers();
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    for (auto& ctx : contexts) guards.push_back(asio::make_work_guard(*ctx));
    start_readiness_probe();
    do_accept();
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < contexts.size(); ++i)
      threads.emplace_back([this, i] { run_context(*contexts[i]); });
    run_context(main());
    for (auto& t : threads) t.join();
    stop_readiness_probe();
    // Jobs still queued or running on any executor hold connections, whose
    // sockets must not outlive the io_contexts: they now skip their work, and
    // their responses go to stopped contexts and are discarded there.
    state.stopped = true;
    if (auto n = state.inflight.count(); n > 0)
      spdlog::info("net: waiting for {} handlers still queued or running", n);
    state.inflight.wait_idle();
    spdlog::info("net: stopped");
  }

  void install_signal_handlers() {
    if (signals) return;
    signals.emplace(main(), SIGINT, SIGTERM);
    signals->async_wait([this](boost::system::error_code ec, int sig) {
      if (ec) return;
      spdlog::info("net: received signal {}", sig);
      stop();
    });
  }

  static void run_context(asio::io_context& ctx) {
    while (!ctx.stopped()) {
      try {
        ctx.run();
      } catch (const std::exception& e) {
        spdlog::error("net: exception escaped an I/O handler: {}", e.what());
      }
    }
  }

  void stop() {
    if (stop_requested.exchange(true)) return;
    asio::post(main(), [this] { begin_shutdown(); });
  }
};

HttpServer::HttpServer(const ServerOptions& options, const Router& router)
    : impl_(std::make_unique<Impl>(options, router)) {}

HttpServer::~HttpServer() {
  // Connections queued in the contexts are destroyed with them; the pool first,
  // so no worker posts into a destroyed context.
  impl_->stop_readiness_probe();
  impl_->state.stopped = true;
  impl_->workers->shutdown();
  impl_->state.inflight.wait_idle();  // jobs on other executors (run() was never called)
}

Result<std::uint16_t> HttpServer::listen() { return impl_->listen(); }

void HttpServer::set_readiness_check(std::function<bool()> check) {
  if (!check) {
    impl_->state.readiness.reset();
    return;
  }
  impl_->state.readiness =
      std::make_shared<detail::ReadinessProbe>(std::move(check), *impl_->workers);
}

ServerStats HttpServer::stats() const {
  auto pool = impl_->workers->stats();
  ServerStats s;
  s.worker_queued = pool.queued;
  s.worker_running = pool.running;
  s.worker_rejected = pool.rejected;
  const auto& st = impl_->state;
  s.connections = st.connections.load();
  s.max_connections = st.max_connections;
  s.connections_refused = st.connections_refused.load();
  s.websockets = st.websockets.load();
  s.ws_queued_bytes = st.ws_queued.used();
  s.ws_read_buffer_bytes = st.ws_read_buffer_bytes.load();
  return s;
}

void HttpServer::handle_signals() { impl_->install_signal_handlers(); }

void HttpServer::run(bool handle_signals) { impl_->run(handle_signals); }

void HttpServer::stop() { impl_->stop(); }

}  // namespace office::net
