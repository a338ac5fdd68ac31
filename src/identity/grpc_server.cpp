#include "identity/grpc_server.hpp"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include "office/user/v1/user.grpc.pb.h"
#include "rpc/call.hpp"

namespace office::identity {
namespace {

namespace pb = office::user::v1;
using google::protobuf::util::TimeUtil;

void to_proto(const User& u, pb::User* out) {
  out->set_id(u.id);
  out->set_tenant_id(u.tenant_id);
  out->set_email(u.email);
  out->set_display_name(u.display_name);
  out->set_role(u.role);
  out->set_plan(u.plan);
  out->set_disabled(u.disabled);
  out->set_platform_admin(u.platform_admin);
  for (const auto& g : u.group_ids) out->add_group_ids(g);
  *out->mutable_create_time() = TimeUtil::MillisecondsToTimestamp(u.create_ms);
  *out->mutable_update_time() = TimeUtil::MillisecondsToTimestamp(u.update_ms);
}

class UserGrpc final : public pb::UserService::Service {
 public:
  explicit UserGrpc(IdentityService& identity) : identity_(identity) {}

  grpc::Status GetProfile(grpc::ServerContext* ctx, const pb::GetProfileRequest*,
                          pb::User* out) override {
    auto p = rpc::caller(ctx);
    if (!p) return rpc::to_status(p.error());
    if (auto cached = identity_.cached_profile(*p)) {
      to_proto(*cached, out);
      return grpc::Status::OK;
    }
    auto u = identity_.get_profile(*p);
    if (!u) return rpc::to_status(u.error());
    to_proto(*u, out);
    return grpc::Status::OK;
  }

 private:
  IdentityService& identity_;
};

}  // namespace

std::shared_ptr<grpc::Service> make_user_grpc_service(IdentityService& identity) {
  return std::make_shared<UserGrpc>(identity);
}

}  // namespace office::identity
