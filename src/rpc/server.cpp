#include "rpc/server.hpp"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/support/server_interceptor.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <unordered_map>

#include "core/log.hpp"
#include "rpc/call.hpp"

namespace office::rpc {
namespace {

using Clock = std::chrono::steady_clock;
using grpc::experimental::InterceptionHookPoints;

// What the interceptor established for one call, found by its context.
struct CallState {
  TraceContext trace;
  std::optional<Result<Principal>> principal;  // unset: the method needs none
};

class CallRegistry {
 public:
  static CallRegistry& instance() {
    static CallRegistry r;
    return r;
  }
  void put(grpc::ServerContextBase* ctx, std::shared_ptr<CallState> s) {
    std::lock_guard lock(mu_);
    calls_[ctx] = std::move(s);
  }
  void erase(grpc::ServerContextBase* ctx, const CallState* s) {
    std::lock_guard lock(mu_);
    auto it = calls_.find(ctx);
    if (it != calls_.end() && it->second.get() == s) calls_.erase(it);
  }
  std::shared_ptr<CallState> find(grpc::ServerContextBase* ctx) {
    std::lock_guard lock(mu_);
    auto it = calls_.find(ctx);
    return it == calls_.end() ? nullptr : it->second;
  }

 private:
  std::mutex mu_;
  std::unordered_map<grpc::ServerContextBase*, std::shared_ptr<CallState>> calls_;
};

std::string_view view(const grpc::string_ref& r) { return {r.data(), r.size()}; }

const char* code_name(grpc::StatusCode c) {
  switch (c) {
    case grpc::OK:
      return "OK";
    case grpc::CANCELLED:
      return "CANCELLED";
    case grpc::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    case grpc::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::ABORTED:
      return "ABORTED";
    case grpc::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::INTERNAL:
      return "INTERNAL";
    case grpc::UNAVAILABLE:
      return "UNAVAILABLE";
    default:
      return "OTHER";
  }
}

}  // namespace

const std::vector<std::uint64_t>& MethodStats::bucket_bounds_us() {
  static const std::vector<std::uint64_t> b = {
      100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000, UINT64_MAX};
  return b;
}

struct Server::Impl {
  ServerOptions options;
  std::vector<grpc::Service*> services;
  std::vector<std::function<void()>> on_shutdown;
  std::unique_ptr<grpc::Server> server;
  std::uint16_t port = 0;
  std::once_flag shutdown_once;

  mutable std::mutex stats_mu;
  std::map<std::string, MethodStats> stats;

  void record(const std::string& method, grpc::StatusCode code, std::uint64_t us) {
    std::lock_guard lock(stats_mu);
    MethodStats& s = stats[method];
    const auto& bounds = MethodStats::bucket_bounds_us();
    if (s.buckets.empty()) s.buckets.assign(bounds.size(), 0);
    s.calls++;
    s.by_status[static_cast<int>(code)]++;
    s.total_us += us;
    for (std::size_t i = 0; i < bounds.size(); ++i)
      if (us <= bounds[i]) s.buckets[i]++;
  }
};

namespace {

// One per call: trace context, authentication and metrics.
class CallInterceptor final : public grpc::experimental::Interceptor {
 public:
  CallInterceptor(Server::Impl& server, grpc::experimental::ServerRpcInfo* info)
      : server_(server),
        ctx_(info->server_context()),
        method_(info->method() ? info->method() : "?"),
        state_(std::make_shared<CallState>()) {}
  ~CallInterceptor() override { CallRegistry::instance().erase(ctx_, state_.get()); }

  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override {
    if (m->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA))
      on_metadata(*m->GetRecvInitialMetadata());
    if (m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA))
      m->GetSendInitialMetadata()->emplace("traceparent", state_->trace.to_header());
    if (m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status st = m->GetSendStatus();
      auto us = static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start_).count());
      server_.record(method_, st.error_code(), us);
      if (server_.options.access_log) {
        log::ScopedTrace scope(state_->trace.trace_id_hex());
        spdlog::info("grpc {} {} {} us{}{}", method_, code_name(st.error_code()), us,
                     st.ok() ? "" : ": ", st.error_message());
      }
    }
    m->Proceed();
  }

 private:
  void on_metadata(const std::multimap<grpc::string_ref, grpc::string_ref>& md) {
    start_ = Clock::now();
    std::optional<TraceContext> parent;
    if (auto it = md.find("traceparent"); it != md.end())
      parent = TraceContext::parse(view(it->second));
    state_->trace = parent ? parent->child() : TraceContext::generate();
    // The standard services (health, reflection) are open; every other
    // method gets the caller established here (or the reason there is none).
    if (method_.rfind("/grpc.", 0) != 0) {
      auto it = md.find("authorization");
      std::string_view v = it == md.end() ? std::string_view() : view(it->second);
      constexpr std::string_view kBearer = "Bearer ";
      if (v.empty()) {
        state_->principal = Error::unauthenticated("missing access token (authorization metadata)");
      } else if (v.size() <= kBearer.size() || v.substr(0, kBearer.size()) != kBearer) {
        state_->principal = Error::unauthenticated("authorization must be \"Bearer <token>\"");
      } else if (!server_.options.authenticate) {
        state_->principal = Error::unauthenticated("authentication is not configured");
      } else {
        log::ScopedTrace scope(state_->trace.trace_id_hex());
        state_->principal = server_.options.authenticate(v.substr(kBearer.size()));
      }
    }
    CallRegistry::instance().put(ctx_, state_);
  }

  Server::Impl& server_;
  grpc::ServerContextBase* ctx_;
  std::string method_;
  std::shared_ptr<CallState> state_;
  Clock::time_point start_ = Clock::now();
};

class InterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit InterceptorFactory(Server::Impl& s) : server_(s) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new CallInterceptor(server_, info);
  }

 private:
  Server::Impl& server_;
};

}  // namespace

Result<Principal> caller(grpc::ServerContextBase* ctx) {
  auto s = CallRegistry::instance().find(ctx);
  if (!s || !s->principal) return Error::unauthenticated("call was not authenticated");
  return *s->principal;
}

TraceContext trace(grpc::ServerContextBase* ctx) {
  auto s = CallRegistry::instance().find(ctx);
  return s ? s->trace : TraceContext::generate();
}

grpc::Status to_status(const Error& e) {
  return {static_cast<grpc::StatusCode>(grpc_status(e.code)), e.message};
}

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

Server::~Server() { shutdown(); }

void Server::add_service(grpc::Service* service) { impl_->services.push_back(service); }

void Server::on_shutdown(std::function<void()> fn) { impl_->on_shutdown.push_back(std::move(fn)); }

Result<std::uint16_t> Server::start() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::string& host = impl_->options.host;
  std::string address = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                        std::to_string(impl_->options.port);
  int selected = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &selected);
  builder.SetMaxReceiveMessageSize(static_cast<int>(impl_->options.max_message_bytes));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             impl_->options.max_concurrent_streams);
  // Long-lived edit streams: find dead peers without waiting for TCP.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  for (grpc::Service* s : impl_->services) builder.RegisterService(s);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> factories;
  factories.push_back(std::make_unique<InterceptorFactory>(*impl_));
  builder.experimental().SetInterceptorCreators(std::move(factories));
  impl_->server = builder.BuildAndStart();
  if (!impl_->server || selected == 0)
    return Error::unavailable("cannot listen for gRPC on " + address);
  impl_->port = static_cast<std::uint16_t>(selected);
  impl_->server->GetHealthCheckService()->SetServingStatus(true);
  return impl_->port;
}

void Server::shutdown() {
  if (!impl_->server) return;
  std::call_once(impl_->shutdown_once, [this] {
    if (auto* health = impl_->server->GetHealthCheckService()) health->Shutdown();
    for (auto& fn : impl_->on_shutdown) fn();
    impl_->server->Shutdown(std::chrono::system_clock::now() + impl_->options.shutdown_grace);
    impl_->server->Wait();
  });
}

std::uint16_t Server::port() const { return impl_->port; }

std::map<std::string, MethodStats> Server::stats() const {
  std::lock_guard lock(impl_->stats_mu);
  return impl_->stats;
}

}  // namespace office::rpc
