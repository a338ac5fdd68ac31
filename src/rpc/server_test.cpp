#include "rpc/server.hpp"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "office/user/v1/user.grpc.pb.h"
#include "rpc/call.hpp"

namespace office::rpc {
namespace {

namespace pb = office::user::v1;
using namespace std::chrono_literals;

// Answers the caller as the interceptors established it: the user id, and the
// trace id in the display name.
class EchoUsers final : public pb::UserService::Service {
 public:
  grpc::Status GetProfile(grpc::ServerContext* ctx, const pb::GetProfileRequest*,
                          pb::User* out) override {
    auto p = caller(ctx);
    if (!p) return to_status(p.error());
    out->set_id(p->user_id);
    out->set_tenant_id(p->tenant_id);
    out->set_display_name(trace(ctx).trace_id_hex());
    if (release_) release_->get_future().wait();  // a slow call (shutdown test)
    return grpc::Status::OK;
  }
  std::shared_ptr<std::promise<void>> release_;
};

Result<Principal> fake_auth(std::string_view token) {
  if (token != "good-token") return Error::unauthenticated("token expired");
  Principal p;
  p.tenant_id = "t1";
  p.user_id = "u1";
  return p;
}

class RpcServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.authenticate = fake_auth;
    o.shutdown_grace = 2s;
    server_ = std::make_unique<Server>(o);
    server_->add_service(&users_);
    auto port = server_->start();
    ASSERT_TRUE(port) << port.error().message;
    ASSERT_GT(*port, 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(*port),
                                   grpc::InsecureChannelCredentials());
    stub_ = pb::UserService::NewStub(channel_);
  }
  grpc::Status profile(const std::string& auth, pb::User* out, grpc::ClientContext* ctx) {
    if (!auth.empty()) ctx->AddMetadata("authorization", auth);
    ctx->set_deadline(std::chrono::system_clock::now() + 10s);
    return stub_->GetProfile(ctx, pb::GetProfileRequest(), out);
  }

  EchoUsers users_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::UserService::Stub> stub_;
};

TEST_F(RpcServerTest, CallerIsTheVerifiedPrincipalAndBadTokensAreUnauthenticated) {
  pb::User u;
  {
    grpc::ClientContext ctx;
    auto st = profile("Bearer good-token", &u, &ctx);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(u.id(), "u1");
    EXPECT_EQ(u.tenant_id(), "t1");
  }
  {
    grpc::ClientContext ctx;
    auto st = profile("", &u, &ctx);
    EXPECT_EQ(st.error_code(), grpc::UNAUTHENTICATED);
    EXPECT_NE(st.error_message().find("missing access token"), std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    auto st = profile("Bearer stale", &u, &ctx);
    EXPECT_EQ(st.error_code(), grpc::UNAUTHENTICATED);
    EXPECT_EQ(st.error_message(), "token expired");
  }
  {
    grpc::ClientContext ctx;
    auto st = profile("Basic dTpw", &u, &ctx);
    EXPECT_EQ(st.error_code(), grpc::UNAUTHENTICATED);
  }
}

TEST_F(RpcServerTest, TraceparentIsContinuedAndEchoed) {
  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  pb::User u;
  grpc::ClientContext ctx;
  ctx.AddMetadata("traceparent", "00-" + trace_id + "-00f067aa0ba902b7-01");
  auto st = profile("Bearer good-token", &u, &ctx);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(u.display_name(), trace_id);  // what the handler saw
  auto md = ctx.GetServerInitialMetadata();
  auto it = md.find("traceparent");
  ASSERT_NE(it, md.end());
  std::string echoed(it->second.data(), it->second.size());
  EXPECT_EQ(echoed.substr(3, 32), trace_id);
  EXPECT_NE(echoed.substr(36, 16), "00f067aa0ba902b7");  // the server's own span

  // Without one (or a malformed one), a fresh trace.
  grpc::ClientContext ctx2;
  ctx2.AddMetadata("traceparent", "garbage");
  ASSERT_TRUE(profile("Bearer good-token", &u, &ctx2).ok());
  EXPECT_EQ(u.display_name().size(), 32u);
  EXPECT_NE(u.display_name(), trace_id);
}

TEST_F(RpcServerTest, MetricsCountCallsPerMethodAndStatus) {
  pb::User u;
  for (const char* auth : {"Bearer good-token", "Bearer good-token", "", "Bearer x"}) {
    grpc::ClientContext ctx;
    profile(auth, &u, &ctx);
  }
  auto stats = server_->stats();
  auto it = stats.find("/office.user.v1.UserService/GetProfile");
  ASSERT_NE(it, stats.end());
  EXPECT_EQ(it->second.calls, 4u);
  EXPECT_EQ(it->second.by_status[0], 2u);
  EXPECT_EQ(it->second.by_status[16], 2u);
  EXPECT_EQ(it->second.buckets.back(), 4u);  // +Inf holds every call
}

// grpc.health.v1.Health/Check through the generic stub (no health stubs are
// installed): HealthCheckRequest{} is empty; the answer is {status: SERVING=1}.
TEST_F(RpcServerTest, HealthServiceAnswersServingWithoutAToken) {
  grpc::GenericStub stub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  grpc::ByteBuffer req, resp;
  grpc::Slice empty("");
  req = grpc::ByteBuffer(&empty, 1);
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &req, &resp,
                 [&](grpc::Status st) { done.set_value(st); });
  auto st = done.get_future().get();
  ASSERT_TRUE(st.ok()) << st.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(resp.Dump(&slices).ok());
  std::string bytes;
  for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));
}

// grpc.reflection.v1alpha: list_services names our service.
TEST_F(RpcServerTest, ReflectionListsTheServices) {
  grpc::GenericStub stub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  grpc::CompletionQueue cq;
  auto call =
      stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  auto wait = [&](std::intptr_t tag) {
    void* got = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&got, &ok));
    EXPECT_EQ(reinterpret_cast<std::intptr_t>(got), tag);
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(wait(1));
  grpc::Slice list_services(std::string("\x3a\x00", 2));  // field 7 (list_services) = ""
  grpc::ByteBuffer req(&list_services, 1), resp;
  call->Write(req, reinterpret_cast<void*>(2));
  ASSERT_TRUE(wait(2));
  call->Read(&resp, reinterpret_cast<void*>(3));
  ASSERT_TRUE(wait(3));
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(resp.Dump(&slices).ok());
  std::string bytes;
  for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_NE(bytes.find("office.user.v1.UserService"), std::string::npos);
  EXPECT_NE(bytes.find("grpc.health.v1.Health"), std::string::npos);
  ctx.TryCancel();
  grpc::Status st;
  call->Finish(&st, reinterpret_cast<void*>(4));
  wait(4);
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(RpcServerTest, ShutdownLetsARunningCallFinishAndRefusesNewOnes) {
  users_.release_ = std::make_shared<std::promise<void>>();
  std::promise<grpc::Status> slow;
  std::thread t([&] {
    pb::User u;
    grpc::ClientContext ctx;
    slow.set_value(profile("Bearer good-token", &u, &ctx));
  });
  // Wait until the call is inside the handler (it counts once finished, so
  // poll the channel instead: give it a moment to arrive).
  std::this_thread::sleep_for(300ms);
  std::thread stopper([&] { server_->shutdown(); });
  std::this_thread::sleep_for(200ms);
  users_.release_->set_value();
  auto st = slow.get_future().get();
  EXPECT_TRUE(st.ok()) << st.error_message();
  stopper.join();
  t.join();
  pb::User u;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 2s);
  ctx.AddMetadata("authorization", "Bearer good-token");
  EXPECT_FALSE(stub_->GetProfile(&ctx, pb::GetProfileRequest(), &u).ok());
}

}  // namespace
}  // namespace office::rpc
