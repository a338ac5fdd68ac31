#include "core/error.hpp"

namespace office {

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kMethodNotAllowed:
      return 405;
    case ErrorCode::kAlreadyExists:
      return 409;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kFailedPrecondition:
      return 412;
    case ErrorCode::kPayloadTooLarge:
      return 413;
    case ErrorCode::kHeaderTooLarge:
      return 431;
    case ErrorCode::kUnsupportedMedia:
      return 415;
    case ErrorCode::kResourceExhausted:
      return 429;
    case ErrorCode::kInternal:
      return 500;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kDeadlineExceeded:
      return 504;
  }
  return 500;
}

int grpc_status(ErrorCode code) {
  // Values of grpc::StatusCode, spelled out so core needs no gRPC header.
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 3;
    case ErrorCode::kUnauthenticated:
      return 16;
    case ErrorCode::kPermissionDenied:
      return 7;
    case ErrorCode::kNotFound:
      return 5;
    case ErrorCode::kMethodNotAllowed:
      return 12;
    case ErrorCode::kAlreadyExists:
      return 6;
    case ErrorCode::kConflict:
      return 10;
    case ErrorCode::kFailedPrecondition:
      return 9;
    case ErrorCode::kPayloadTooLarge:
      return 8;
    case ErrorCode::kHeaderTooLarge:
      return 8;
    case ErrorCode::kUnsupportedMedia:
      return 3;
    case ErrorCode::kResourceExhausted:
      return 8;
    case ErrorCode::kInternal:
      return 13;
    case ErrorCode::kUnavailable:
      return 14;
    case ErrorCode::kDeadlineExceeded:
      return 4;
  }
  return 13;
}

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case ErrorCode::kUnauthenticated:
      return "UNAUTHENTICATED";
    case ErrorCode::kPermissionDenied:
      return "PERMISSION_DENIED";
    case ErrorCode::kNotFound:
      return "NOT_FOUND";
    case ErrorCode::kMethodNotAllowed:
      return "METHOD_NOT_ALLOWED";
    case ErrorCode::kAlreadyExists:
      return "ALREADY_EXISTS";
    case ErrorCode::kConflict:
      return "CONFLICT";
    case ErrorCode::kFailedPrecondition:
      return "FAILED_PRECONDITION";
    case ErrorCode::kPayloadTooLarge:
      return "PAYLOAD_TOO_LARGE";
    case ErrorCode::kHeaderTooLarge:
      return "HEADER_TOO_LARGE";
    case ErrorCode::kUnsupportedMedia:
      return "UNSUPPORTED_MEDIA_TYPE";
    case ErrorCode::kResourceExhausted:
      return "RESOURCE_EXHAUSTED";
    case ErrorCode::kInternal:
      return "INTERNAL";
    case ErrorCode::kUnavailable:
      return "UNAVAILABLE";
    case ErrorCode::kDeadlineExceeded:
      return "DEADLINE_EXCEEDED";
  }
  return "INTERNAL";
}

}  // namespace office
