#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ot/result.hpp"

namespace office::ot {

/// The `text-unicode` OT type of ShareDB (npm `ot-text-unicode` 4.x,
/// URI http://sharejs.org/types/text-unicode), mirrored function by function.
/// See docs/ot.md for the semantics and the few documented deviations (all of
/// them about inputs the npm package would accept by accident, such as
/// booleans as components).
///
/// Everything here is pure: no globals, no I/O. Functions are thread-safe for
/// concurrent calls on distinct outputs; Op values are plain values.

inline constexpr std::string_view kTypeName = "text-unicode";
inline constexpr std::string_view kTypeUri = "http://sharejs.org/types/text-unicode";

enum class Kind : std::uint8_t { kSkip, kInsert, kDelete };

/// One component of an op. `len` always counts Unicode code points: the skip
/// count, the length of the inserted text, or the number of deleted code
/// points. `text` holds UTF-8: the inserted text, or for an invertible delete
/// (`{"d":"text"}`) the deleted text (then `has_text` is true).
/// Build components with the factories so that `len` matches `text`.
struct Component {
  Kind kind = Kind::kSkip;
  bool has_text = false;
  std::uint64_t len = 0;
  std::string text;

  static Component skip(std::uint64_t n) { return {Kind::kSkip, false, n, {}}; }
  static Component insert(std::string_view utf8);
  static Component del(std::uint64_t n) { return {Kind::kDelete, false, n, {}}; }
  static Component del_text(std::string_view utf8);

  bool is_skip() const { return kind == Kind::kSkip; }
  bool is_insert() const { return kind == Kind::kInsert; }
  bool is_delete() const { return kind == Kind::kDelete; }
  friend bool operator==(const Component&, const Component&) = default;
};

/// An operation: components that walk the document from its start.
using Op = std::vector<Component>;

enum class Side : std::uint8_t { kLeft, kRight };

/// checkOp: structural validity. Errors carry the npm messages:
/// "Skip components must be >0", "Inserts cannot be empty", "Deletes must not
/// be empty", "Adjacent skip components should be combined", "Op has a
/// trailing skip". Does not look at a document.
Status check_op(const Op& op);

/// normalize: merges adjacent components of the same kind, drops empty ones
/// and the trailing skip. Does not validate (like npm).
Op normalize(const Op& op);

/// transform(op, other, side): op rewritten to apply after `other`. On equal
/// insert positions the `kLeft` side goes first. Both ops are checked first.
Result<Op> transform(const Op& op, const Op& other, Side side);

/// As transform(), writing into `out` (cleared first; its capacity is
/// reused, which is how the hot path avoids allocation). `out` must not alias
/// `op` or `other`. On error `out` is left empty. Two single edits ([n, X] or
/// [X]) take a fast path that computes the result arithmetically.
Status transform_into(const Op& op, const Op& other, Side side, Op& out);

namespace detail {
/// transform_into without its single-edit fast path (exposed for the test
/// that proves the two equivalent).
Status transform_into_general(const Op& op, const Op& other, Side side, Op& out);
}  // namespace detail

/// compose(a, b): one op with the effect of applying a then b.
Result<Op> compose(const Op& a, const Op& b);

/// As compose(), writing into `out` (must not alias `a` or `b`).
Status compose_into(const Op& a, const Op& b, Op& out);

/// transformPosition: where a cursor moves when `op` is applied. Inserts at
/// exactly the cursor do not move it (npm behaviour). Does not check `op`.
std::int64_t transform_position(std::int64_t cursor, const Op& op);

/// transformSelection of an [anchor, focus] pair.
std::pair<std::int64_t, std::int64_t> transform_selection(
    std::pair<std::int64_t, std::int64_t> selection, const Op& op);

/// True if every delete carries its text.
bool is_invertible(const Op& op);

/// invert: the op that undoes `op`. Fails with the npm message if a delete
/// does not carry its text (`{"d":N}`).
Result<Op> invert(const Op& op);

/// stripInvertible: replaces `{"d":"text"}` by `{"d":N}`.
Op strip_invertible(const Op& op);

/// makeInvertible against the document text the op applies to (UTF-8).
/// Deletes past the end of the text keep only the text that exists (npm).
Op make_invertible(const Op& op, std::string_view doc);

/// isNoop: an op with no components.
inline bool is_noop(const Op& op) { return op.empty(); }

/// Convenience constructors matching npm's `insert(pos, text)` and
/// `remove(pos, n)` helpers.
Op make_insert(std::uint64_t pos, std::string_view utf8);
Op make_remove(std::uint64_t pos, std::uint64_t n);

/// Code points the op consumes from the document it applies to (skips and
/// deletes) and the length change it causes.
std::uint64_t base_length(const Op& op);

}  // namespace office::ot
