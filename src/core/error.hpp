#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace office {

/// The one list of expected failures. Each maps to an HTTP status and a gRPC
/// status in exactly one place (error.cpp); nothing else chooses a status.
enum class ErrorCode {
  kInvalidArgument,     ///< malformed input: 400 / INVALID_ARGUMENT
  kUnauthenticated,     ///< missing, bad or expired credentials: 401 / UNAUTHENTICATED
  kPermissionDenied,    ///< authenticated but not allowed: 403 / PERMISSION_DENIED
  kNotFound,            ///< no such object in the caller's tenant: 404 / NOT_FOUND
  kMethodNotAllowed,    ///< route exists, method does not: 405 / UNIMPLEMENTED
  kAlreadyExists,       ///< unique key taken: 409 / ALREADY_EXISTS
  kConflict,            ///< version conflict, concurrent change: 409 / ABORTED
  kFailedPrecondition,  ///< state does not allow it: 412 / FAILED_PRECONDITION
  kPayloadTooLarge,     ///< body or frame over the limit: 413 / RESOURCE_EXHAUSTED
  kHeaderTooLarge,      ///< request header block over the limit: 431 / RESOURCE_EXHAUSTED
  kUnsupportedMedia,    ///< wrong Content-Type: 415 / INVALID_ARGUMENT
  kResourceExhausted,   ///< rate or queue limit, retry later: 429 / RESOURCE_EXHAUSTED
  kInternal,            ///< a bug or a broken invariant: 500 / INTERNAL
  kUnavailable,         ///< shutting down or dependency down: 503 / UNAVAILABLE
  kDeadlineExceeded,    ///< took too long: 504 / DEADLINE_EXCEEDED
};

/// An expected failure: a code and a message meant for the caller.
/// Messages must not leak other tenants' data or internal details.
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  /// For kResourceExhausted (and kUnavailable): when the caller may try again,
  /// in seconds; 0 = not said. HTTP adapters send it as `Retry-After`.
  std::int64_t retry_after_s = 0;

  static Error invalid(std::string msg) { return {ErrorCode::kInvalidArgument, std::move(msg)}; }
  static Error not_found(std::string msg) { return {ErrorCode::kNotFound, std::move(msg)}; }
  static Error unauthenticated(std::string msg) {
    return {ErrorCode::kUnauthenticated, std::move(msg)};
  }
  static Error denied(std::string msg) { return {ErrorCode::kPermissionDenied, std::move(msg)}; }
  static Error exists(std::string msg) { return {ErrorCode::kAlreadyExists, std::move(msg)}; }
  static Error internal(std::string msg) { return {ErrorCode::kInternal, std::move(msg)}; }
  static Error unavailable(std::string msg) { return {ErrorCode::kUnavailable, std::move(msg)}; }
  static Error exhausted(std::string msg, std::int64_t retry_after_s) {
    return {ErrorCode::kResourceExhausted, std::move(msg), retry_after_s};
  }
};

/// HTTP status for a code (the only place this mapping lives).
int http_status(ErrorCode code);
/// Numeric gRPC status code (grpc::StatusCode values) for a code.
int grpc_status(ErrorCode code);
/// Stable upper-case name used on the wire, e.g. "NOT_FOUND".
std::string_view error_code_name(ErrorCode code);

}  // namespace office
