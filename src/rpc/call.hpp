#pragma once

// For gRPC adapters only (includes gRPC headers): what the interceptors of
// rpc::Server established for a call, and the one Error -> grpc::Status
// mapping.

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "core/error.hpp"
#include "core/principal.hpp"
#include "core/result.hpp"
#include "core/trace.hpp"

namespace office::rpc {

/// The caller, as the authentication interceptor verified it from the
/// `authorization: Bearer <token>` metadata; kUnauthenticated when the call
/// carried no token or a bad one.
Result<Principal> caller(grpc::ServerContextBase* ctx);
/// The call's trace context (from `traceparent`, or freshly generated).
TraceContext trace(grpc::ServerContextBase* ctx);

grpc::Status to_status(const Error& e);

}  // namespace office::rpc
