#pragma once
// office.user.v1.UserService over gRPC (the identity module's gRPC adapter).
// Free of gRPC headers; register the service on rpc::Server.

#include <memory>

#include "identity/service.hpp"

namespace grpc {
class Service;
}

namespace office::identity {

/// UserService.GetProfile over `identity` (which must outlive the service);
/// the other methods answer UNIMPLEMENTED until their callers need them (the
/// REST API has them all). Callers are authenticated by rpc::Server.
std::shared_ptr<grpc::Service> make_user_grpc_service(IdentityService& identity);

}  // namespace office::identity
