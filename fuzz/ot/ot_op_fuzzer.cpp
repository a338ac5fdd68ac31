// Decodes arbitrary bytes as a text-unicode op (JSON when the input starts
// with '[', otherwise a compact binary form that reaches deep states faster),
// checks it, and runs it through apply / transform / compose /
// transformPosition / invert against a fixed document and fixed ops. Any
// crash, ASan or UBSan report is a bug; results of valid inputs are checked
// for basic invariants.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ot/document.hpp"
#include "ot/json_codec.hpp"
#include "ot/op.hpp"
#include "ot/utf8.hpp"

namespace ot = office::ot;

namespace {

constexpr std::string_view kDoc = "héllo wörld 😀 中文 a\xCC\x81 end";

// Binary form: per component one tag byte (kind in the low 2 bits) and one
// length byte; inserts/text deletes take text from a fixed alphabet.
ot::Op decode_binary(const std::uint8_t* data, std::size_t size) {
  static const char* kPieces[] = {"a", "é", "😀", "中", "\xCC\x81", "\n"};
  ot::Op op;
  for (std::size_t i = 0; i + 1 < size; i += 2) {
    const std::uint8_t tag = data[i];
    const std::uint8_t n = data[i + 1];
    std::string text;
    for (std::uint8_t k = 0; k < (n & 7); ++k) text += kPieces[((tag >> 2) + k) % 6];
    switch (tag & 3) {
      case 0:
        op.push_back(ot::Component::skip(n));
        break;
      case 1:
        op.push_back(ot::Component::insert(text));
        break;
      case 2:
        op.push_back(ot::Component::del(n));
        break;
      default:
        op.push_back(ot::Component::del_text(text));
        break;
    }
  }
  return op;
}

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ot::Op op;
  if (size > 0 && data[0] == '[') {
    auto parsed = ot::parse_op(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!parsed) return 0;
    op = std::move(*parsed);
    // Round trip through JSON must be stable.
    auto again = ot::parse_op(ot::dump_op(op));
    check(again.ok() && *again == op);
  } else {
    op = decode_binary(data, size);
  }
  const ot::Op norm = ot::normalize(op);
  check(ot::normalize(norm) == norm);
  const bool valid = ot::check_op(op).ok();

  ot::Document doc(kDoc, 8);
  const std::string before = doc.to_string();
  const ot::Status applied = doc.apply(op);
  if (!applied) check(doc.to_string() == before);  // failed ops change nothing
  if (applied) {
    check(valid);
    check(ot::utf8::valid(doc.to_string()));
    check(doc.length() == ot::utf8::count(doc.to_string()));
  }

  static const ot::Op kOthers[] = {
      *ot::parse_op(R"([2,"xy",{"d":3}])"),
      *ot::parse_op(R"([{"d":"hé"},"😀"])"),
      *ot::parse_op(R"([5,{"d":1},3,"z"])"),
  };
  for (const ot::Op& other : kOthers) {
    for (ot::Side side : {ot::Side::kLeft, ot::Side::kRight}) {
      auto t = ot::transform(op, other, side);
      check(t.ok() == valid);
      if (t) check(ot::check_op(*t).ok());
      auto t2 = ot::transform(other, op, side);
      check(t2.ok() == valid);
    }
    auto c = ot::compose(op, other);
    if (c) check(ot::check_op(*c).ok());
    auto c2 = ot::compose(other, op);
    if (c2) check(ot::check_op(*c2).ok());
  }
  for (std::int64_t pos : {0, 1, 5, 100}) (void)ot::transform_position(pos, op);
  if (valid) {
    const ot::Op inv_src = ot::make_invertible(op, kDoc);
    auto inv = ot::invert(inv_src);
    check(inv.ok());
    const bool had_text =
        std::any_of(op.begin(), op.end(), [](const ot::Component& c) { return c.has_text; });
    if (applied && !had_text) {
      ot::Document d2(kDoc);
      if (d2.apply(inv_src)) {
        if (d2.apply(*inv)) check(d2.to_string() == kDoc);
      }
    }
    (void)ot::strip_invertible(op);
  }
  return 0;
}
