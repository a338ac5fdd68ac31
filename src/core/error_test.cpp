#include "core/error.hpp"

#include <gtest/gtest.h>

#include "core/result.hpp"

namespace office {
namespace {

TEST(Error, HttpStatusMapping) {
  EXPECT_EQ(http_status(ErrorCode::kInvalidArgument), 400);
  EXPECT_EQ(http_status(ErrorCode::kUnauthenticated), 401);
  EXPECT_EQ(http_status(ErrorCode::kPermissionDenied), 403);
  EXPECT_EQ(http_status(ErrorCode::kNotFound), 404);
  EXPECT_EQ(http_status(ErrorCode::kMethodNotAllowed), 405);
  EXPECT_EQ(http_status(ErrorCode::kAlreadyExists), 409);
  EXPECT_EQ(http_status(ErrorCode::kPayloadTooLarge), 413);
  EXPECT_EQ(http_status(ErrorCode::kHeaderTooLarge), 431);
  EXPECT_EQ(http_status(ErrorCode::kResourceExhausted), 429);
  EXPECT_EQ(http_status(ErrorCode::kInternal), 500);
  EXPECT_EQ(http_status(ErrorCode::kUnavailable), 503);
}

TEST(Error, GrpcStatusMapping) {
  EXPECT_EQ(grpc_status(ErrorCode::kNotFound), 5);
  EXPECT_EQ(grpc_status(ErrorCode::kUnauthenticated), 16);
  EXPECT_EQ(grpc_status(ErrorCode::kConflict), 10);
}

TEST(Error, Names) {
  EXPECT_EQ(error_code_name(ErrorCode::kNotFound), "NOT_FOUND");
  EXPECT_EQ(error_code_name(ErrorCode::kPayloadTooLarge), "PAYLOAD_TOO_LARGE");
}

Result<int> half(int x) {
  if (x % 2 != 0) return Error::invalid("odd");
  return x / 2;
}

TEST(Result, ValueAndError) {
  auto a = half(4);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, 2);
  auto b = half(3);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(b.error().message, "odd");
  Status s;
  EXPECT_TRUE(s.ok());
  Status f = Error::not_found("x");
  EXPECT_FALSE(f);
  EXPECT_EQ(f.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace office
