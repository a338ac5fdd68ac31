#include "ot/op.hpp"

#include <gtest/gtest.h>

#include "ot/document.hpp"
#include "ot/json_codec.hpp"
#include "ot/utf8.hpp"

namespace office::ot {
namespace {

Op J(const char* json) {
  auto op = parse_op(json);
  EXPECT_TRUE(op.ok()) << json;
  return op.ok() ? *op : Op{};
}
std::string S(const Op& op) { return dump_op(op); }

TEST(CheckOp, AcceptsValidOps) {
  EXPECT_TRUE(check_op(J("[]")).ok());
  EXPECT_TRUE(check_op(J(R"([3,"hi",{"d":2},{"d":"xy"}])")).ok());
}

TEST(CheckOp, RejectsWithNpmMessages) {
  EXPECT_EQ(check_op(J("[3]")).error().message, "Op has a trailing skip");
  EXPECT_EQ(check_op(J(R"([0,"a"])")).error().message, "Skip components must be >0");
  EXPECT_EQ(check_op(J(R"([1,2,"a"])")).error().message,
            "Adjacent skip components should be combined");
  EXPECT_EQ(check_op(J(R"([""])")).error().message, "Inserts cannot be empty");
  EXPECT_EQ(check_op(J(R"([{"d":0}])")).error().message, "Deletes must not be empty");
  EXPECT_EQ(check_op(J(R"([{"d":""}])")).error().message, "Deletes must not be empty");
}

TEST(Normalize, MergesAndTrims) {
  EXPECT_EQ(S(normalize(J(R"([0,1,2,"a","b",{"d":1},{"d":2},3])"))), R"([3,"ab",{"d":3}])");
  EXPECT_EQ(S(normalize(J(R"([{"d":"a"},{"d":"b"}])"))), R"([{"d":"ab"}])");
  EXPECT_EQ(S(normalize(J(R"([{"d":"a"},{"d":2}])"))), R"([{"d":3}])");
  EXPECT_EQ(S(normalize(J(R"(["",{"d":""},0])"))), "[]");
}

TEST(Apply, EditsByCodePoint) {
  EXPECT_EQ(*apply_text("a😀b", J(R"([1,{"d":1},"中"])")), "a中b");
  EXPECT_EQ(*apply_text("abc", J(R"([3,"d"])")), "abcd");
  EXPECT_EQ(*apply_text("", J(R"(["hi"])")), "hi");
}

TEST(Apply, RejectsTooLongSkipAndLeavesDocUnchanged) {
  Document d("abc");
  auto s = d.apply(J(R"(["x",4,"y"])"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "The op is too long for this document");
  EXPECT_EQ(d.to_string(), "abc");
  EXPECT_FALSE(d.apply(J("[1]")).ok());
}

TEST(Apply, DeletePastEndIsClampedLikeNpm) {
  EXPECT_EQ(*apply_text("abc", J(R"([1,{"d":10},"z"])")), "az");
}

TEST(Transform, InsertTiesFollowSide) {
  EXPECT_EQ(S(*transform(J(R"([1,"a"])"), J(R"([1,"b"])"), Side::kLeft)), R"([1,"a"])");
  EXPECT_EQ(S(*transform(J(R"([1,"a"])"), J(R"([1,"b"])"), Side::kRight)), R"([2,"a"])");
}

TEST(Transform, OverlappingDeletes) {
  EXPECT_EQ(S(*transform(J(R"([1,{"d":3}])"), J(R"([2,{"d":3}])"), Side::kLeft)), R"([1,{"d":1}])");
  EXPECT_EQ(S(*transform(J(R"([{"d":"abc"}])"), J(R"([1,{"d":1}])"), Side::kLeft)),
            R"([{"d":"ac"}])");
  EXPECT_EQ(S(*transform(J(R"([{"d":2}])"), J(R"(["😀😀"])"), Side::kLeft)), R"([2,{"d":2}])");
}

TEST(Transform, RejectsInvalidOps) {
  EXPECT_FALSE(transform(J("[1]"), J("[]"), Side::kLeft).ok());
  EXPECT_FALSE(transform(J("[]"), J(R"([""])"), Side::kLeft).ok());
}

TEST(Compose, Basics) {
  EXPECT_EQ(S(*compose(J(R"(["abc"])"), J(R"([1,{"d":1}])"))), R"(["ac"])");
  EXPECT_EQ(S(*compose(J(R"([{"d":"ab"}])"), J(R"([{"d":"cd"}])"))), R"([{"d":"abcd"}])");
  EXPECT_EQ(S(*compose(J(R"([2,"😀x"])"), J(R"([3,{"d":"xyz"}])"))), R"([2,"😀",{"d":"yz"}])");
  EXPECT_EQ(S(*compose(J(R"([{"d":1}])"), J(R"([{"d":2}])"))), R"([{"d":3}])");
}

TEST(TransformPosition, MirrorsNpm) {
  EXPECT_EQ(transform_position(0, J(R"(["ab"])")), 0);  // insert at the cursor
  EXPECT_EQ(transform_position(1, J(R"(["ab"])")), 3);
  EXPECT_EQ(transform_position(3, J(R"([1,{"d":5}])")), 1);
  EXPECT_EQ(transform_position(3, J(R"([3,"x"])")), 3);
  EXPECT_EQ(transform_position(4, J(R"([1,{"d":1},"xy"])")), 5);
  const auto sel = transform_selection({1, 4}, J(R"([2,"x"])"));
  EXPECT_EQ(sel.first, 1);
  EXPECT_EQ(sel.second, 5);
}

TEST(Invert, RoundTrips) {
  const Op op = J(R"([1,"xy",{"d":"😀"}])");
  EXPECT_EQ(S(*invert(op)), R"([1,{"d":"xy"},"😀"])");
  EXPECT_EQ(*apply_text(*apply_text("a😀b", op), *invert(op)), "a😀b");
  EXPECT_EQ(invert(J(R"([{"d":1}])")).error().message,
            "Cannot invert text op: Deleted characters missing from operation. "
            "makeInvertible must be called first.");
}

TEST(Invert, MakeAndStripInvertible) {
  const Op op = J(R"([1,{"d":2},"q",{"d":9}])");
  EXPECT_EQ(S(make_invertible(op, "a😀bcd")), R"([1,{"d":"😀b"},"q",{"d":"cd"}])");
  EXPECT_FALSE(is_invertible(op));
  EXPECT_TRUE(is_invertible(make_invertible(op, "a😀bcd")));
  EXPECT_EQ(S(strip_invertible(J(R"([{"d":"ab"}])"))), R"([{"d":2}])");
}

TEST(Helpers, InsertRemoveNoop) {
  EXPECT_EQ(S(make_insert(0, "x")), R"(["x"])");
  EXPECT_EQ(S(make_insert(2, "x")), R"([2,"x"])");
  EXPECT_EQ(S(make_remove(2, 3)), R"([2,{"d":3}])");
  EXPECT_TRUE(is_noop(make_remove(2, 0)));
}

}  // namespace
}  // namespace office::ot

namespace office::ot {
namespace {

// The single-edit fast path of transform_into must write exactly what the
// general loop writes: every pair of edits [p, X] / [q, Y] with small
// positions and lengths, inserts, numeric and text deletes, multi-byte text.
TEST(Transform, SingleEditFastPathEqualsGeneralPath) {
  const std::string doc =
      "a中😀b\xCC\x81"
      "cdéf";  // 9 code points, mixed widths
  std::vector<Op> edits;
  for (std::uint64_t p = 0; p <= 9; ++p) {
    const auto with_pos = [p](Component c) {
      Op op;
      if (p > 0) op.push_back(Component::skip(p));
      op.push_back(std::move(c));
      return op;
    };
    edits.push_back(with_pos(Component::insert("x")));
    edits.push_back(with_pos(Component::insert("中😀")));
    for (std::uint64_t d = 1; p + d <= 9; ++d) {
      edits.push_back(with_pos(Component::del(d)));
      edits.push_back(with_pos(Component::del_text(utf8::slice(doc, p, p + d))));
    }
  }
  Op fast;
  Op general;
  // Pre-fill the outputs so that reuse of longer ops is exercised too.
  fast = {Component::skip(1), Component::insert("zz"), Component::del_text("q"), Component::del(3),
          Component::insert("w")};
  std::size_t n = 0;
  for (const Op& a : edits) {
    for (const Op& b : edits) {
      for (Side side : {Side::kLeft, Side::kRight}) {
        ASSERT_TRUE(transform_into(a, b, side, fast).ok());
        ASSERT_TRUE(detail::transform_into_general(a, b, side, general).ok());
        ASSERT_EQ(fast, general) << dump_op(a) << " vs " << dump_op(b)
                                 << (side == Side::kLeft ? " left" : " right") << ": "
                                 << dump_op(fast) << " != " << dump_op(general);
        ++n;
      }
    }
  }
  EXPECT_GT(n, 10000u);
}

}  // namespace
}  // namespace office::ot
