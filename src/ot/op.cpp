#include "ot/op.hpp"

#include <algorithm>
#include <limits>

#include "ot/utf8.hpp"

namespace office::ot {
namespace {

// A borrowed piece of a component, produced by Taker. Avoids copying text
// until it is appended to the output op.
struct Piece {
  Kind kind = Kind::kSkip;
  bool has_text = false;
  bool valid = false;  // false = "null": the taken op is exhausted
  std::uint64_t len = 0;
  std::string_view text;
};

constexpr std::uint64_t kAll = std::numeric_limits<std::uint64_t>::max();

// makeAppend() of the npm package: merge with the last component when the
// kinds match, ignore empty components. Writes over the components already in
// `op` (reusing their string buffers) and truncates in finish(), so that a
// reused output op does not allocate in steady state.
class Writer {
 public:
  explicit Writer(Op& op) : op_(op) {}

  [[gnu::always_inline]] inline void add(Kind kind, bool has_text, std::uint64_t len,
                                         std::string_view text) {
    if (len == 0) return;
    if (n_ > 0 && op_[n_ - 1].kind == kind) {
      Component& last = op_[n_ - 1];
      last.len += len;
      if (kind == Kind::kInsert) {
        last.text.append(text);
      } else if (kind == Kind::kDelete) {
        if (last.has_text && has_text) {
          last.text.append(text);
        } else {
          last.has_text = false;
          last.text.clear();
        }
      }
      return;
    }
    Component& c = n_ < op_.size() ? op_[n_] : op_.emplace_back();
    ++n_;
    c.kind = kind;
    c.has_text = has_text;
    c.len = len;
    if (kind == Kind::kInsert || has_text) {
      c.text.assign(text);
    } else {
      c.text.clear();
    }
  }
  void add(const Piece& p) { add(p.kind, p.has_text, p.len, p.text); }
  void add(const Component& c) { add(c.kind, c.has_text, c.len, c.text); }
  void add_skip(std::uint64_t n) { add(Kind::kSkip, false, n, {}); }

  // trim(): drop the trailing skip; then cut `op` to what was written.
  void finish() {
    if (n_ > 0 && op_[n_ - 1].kind == Kind::kSkip) --n_;
    op_.resize(n_);
  }

 private:
  Op& op_;
  std::size_t n_ = 0;
};

// makeTake() of the npm package. Offsets are kept both in code points and,
// for components with text, in bytes, so slicing never rescans from the start.
class Taker {
 public:
  explicit Taker(const Op& op) : op_(op) {}

  const Component* peek() const { return idx_ < op_.size() ? &op_[idx_] : nullptr; }

  // take(n, indivisible): n == kAll takes the whole next component.
  Piece take(std::uint64_t n, Kind indivisible) {
    Piece p;
    if (idx_ == op_.size()) {
      if (n != kAll) {
        p.valid = true;
        p.kind = Kind::kSkip;
        p.len = n;
      }
      return p;
    }
    const Component& c = op_[idx_];
    p.valid = true;
    p.kind = c.kind;
    p.has_text = c.has_text;
    const std::uint64_t remaining = c.len - offset_;
    const bool whole =
        n == kAll || remaining <= n || (c.kind != Kind::kSkip && c.kind == indivisible);
    if (whole) {
      p.len = remaining;
      if (c.kind == Kind::kInsert || c.has_text) {
        p.text = std::string_view(c.text).substr(byte_offset_);
      }
      ++idx_;
      offset_ = 0;
      byte_offset_ = 0;
      return p;
    }
    p.len = n;
    if (c.kind == Kind::kInsert || c.has_text) {
      const std::string_view rest = std::string_view(c.text).substr(byte_offset_);
      const std::size_t bytes = utf8::byte_offset(rest, n);
      p.text = rest.substr(0, bytes);
      byte_offset_ += bytes;
    }
    offset_ += n;
    return p;
  }

 private:
  const Op& op_;
  std::size_t idx_ = 0;
  std::uint64_t offset_ = 0;
  std::size_t byte_offset_ = 0;
};

// --- Fast path of transform for single edits ---------------------------------
//
// Most ops a server transforms are one keystroke: [n, X] or [X], X a
// non-empty insert or delete. For two such ops the general loop below reduces
// to a little arithmetic on positions; transform_edit() computes that result
// directly and writes exactly the components the general loop would (same
// kinds, lengths, texts and has_text flags; proved by the differential test
// against npm and by op_test's comparison with the general path).

struct Edit {
  std::uint64_t pos;   // code points skipped before the edit
  const Component* c;  // the insert or delete
};

// True for a valid single edit ([n > 0, X] or [X], X non-empty and not a
// skip). Anything else, valid or not, goes through the general path, which
// also produces the check_op errors.
[[gnu::always_inline]] inline bool as_edit(const Op& op, Edit& e) {
  if (op.size() == 2) {
    const Component& s = op[0];
    const Component& x = op[1];
    if (s.kind != Kind::kSkip || s.len == 0 || x.kind == Kind::kSkip || x.len == 0) return false;
    e = {s.len, &x};
    return true;
  }
  if (op.size() == 1) {
    const Component& x = op[0];
    if (x.kind == Kind::kSkip || x.len == 0) return false;
    e = {0, &x};
    return true;
  }
  return false;
}

// Component setters mirroring what Writer::add stores.
inline void put_skip(Component& o, std::uint64_t n) {
  o.kind = Kind::kSkip;
  o.has_text = false;
  o.len = n;
  o.text.clear();
}
inline void put(Component& o, Kind kind, bool has_text, std::uint64_t len, std::string_view text) {
  o.kind = kind;
  o.has_text = has_text;
  o.len = len;
  if (kind == Kind::kInsert || has_text) {
    o.text.assign(text);
  } else {
    o.text.clear();
  }
}

// Writes [pos, x'] (or [x'] when pos == 0) where x' is x with `len` and `text`.
inline void put_edit(Op& out, std::uint64_t pos, const Component& x, std::uint64_t len,
                     std::string_view text) {
  if (pos == 0) {
    out.resize(1);
    put(out[0], x.kind, x.has_text, len, text);
  } else {
    out.resize(2);
    put_skip(out[0], pos);
    put(out[1], x.kind, x.has_text, len, text);
  }
}

void transform_edit(const Edit& a, const Edit& b, Side side, Op& out) {
  const Component& x = *a.c;
  const Component& y = *b.c;
  const std::uint64_t p = a.pos;
  const std::uint64_t q = b.pos;
  const std::string_view xt = x.text;
  if (y.kind == Kind::kInsert) {
    const std::uint64_t n = y.len;
    if (x.kind == Kind::kInsert) {
      // Insert tie: the left side goes first.
      const bool before = p < q || (p == q && side == Side::kLeft);
      put_edit(out, before ? p : p + n, x, x.len, xt);
      return;
    }
    // x deletes [p, p + d).
    const std::uint64_t d = x.len;
    if (q <= p) {
      put_edit(out, p + n, x, d, xt);
    } else if (q >= p + d) {
      put_edit(out, p, x, d, xt);
    } else {
      // The insert lands inside the deleted range: the delete is split
      // around it, [p, del(q-p), n, del(rest)].
      const std::uint64_t head = q - p;
      std::size_t cut = 0;
      if (x.has_text) cut = utf8::byte_offset(xt, head);
      std::size_t k = 0;
      out.resize(p == 0 ? 3 : 4);
      if (p != 0) put_skip(out[k++], p);
      put(out[k++], Kind::kDelete, x.has_text, head, xt.substr(0, cut));
      put_skip(out[k++], n);
      put(out[k], Kind::kDelete, x.has_text, d - head,
          x.has_text ? xt.substr(cut) : std::string_view{});
    }
    return;
  }
  // y deletes [q, q + e): positions after it move back, positions inside it
  // move to q.
  const std::uint64_t e = y.len;
  const std::uint64_t np = p <= q ? p : (p >= q + e ? p - e : q);
  if (x.kind == Kind::kInsert) {
    put_edit(out, np, x, x.len, xt);
    return;
  }
  const std::uint64_t d = x.len;
  const std::uint64_t lo = std::max(p, q);
  const std::uint64_t hi = std::min(p + d, q + e);
  if (hi <= lo) {  // disjoint
    put_edit(out, np, x, d, xt);
    return;
  }
  const std::uint64_t overlap = hi - lo;
  if (overlap == d) {  // y deleted all of it
    out.clear();
    return;
  }
  if (!x.has_text) {
    put_edit(out, np, x, d - overlap, {});
    return;
  }
  // Text delete: keep the slices [0, lo-p) and [hi-p, d) of its text, cut
  // the way the general path's Taker cuts them.
  const std::uint64_t a0 = lo - p;
  const std::uint64_t b0 = hi - p;
  const std::size_t cut_a = a0 == 0 ? 0 : utf8::byte_offset(xt, a0);
  const std::size_t cut_b =
      b0 == d ? xt.size() : cut_a + utf8::byte_offset(xt.substr(cut_a), b0 - a0);
  Component& o = np == 0 ? (out.resize(1), out[0]) : (out.resize(2), put_skip(out[0], np), out[1]);
  o.kind = Kind::kDelete;
  o.has_text = true;
  o.len = d - overlap;
  o.text.assign(xt.substr(0, cut_a));
  o.text.append(xt.substr(cut_b));
}

}  // namespace

Component Component::insert(std::string_view utf8) {
  return {Kind::kInsert, false, utf8::count(utf8), std::string(utf8)};
}

Component Component::del_text(std::string_view utf8) {
  return {Kind::kDelete, true, utf8::count(utf8), std::string(utf8)};
}

Status check_op(const Op& op) {
  const Component* last = nullptr;
  for (const Component& c : op) {
    switch (c.kind) {
      case Kind::kDelete:
        if (c.len == 0) return Error::invalid("Deletes must not be empty");
        break;
      case Kind::kInsert:
        if (c.len == 0) return Error::invalid("Inserts cannot be empty");
        break;
      case Kind::kSkip:
        if (c.len == 0) return Error::invalid("Skip components must be >0");
        if (last != nullptr && last->kind == Kind::kSkip) {
          return Error::invalid("Adjacent skip components should be combined");
        }
        break;
    }
    last = &c;
  }
  if (last != nullptr && last->kind == Kind::kSkip) return Error::invalid("Op has a trailing skip");
  return {};
}

Op normalize(const Op& op) {
  Op out;
  out.reserve(op.size());
  Writer w(out);
  for (const Component& c : op) w.add(c);
  w.finish();
  return out;
}

Status transform_into(const Op& op1, const Op& op2, Side side, Op& out) {
  Edit a;
  Edit b;
  if (as_edit(op1, a) && as_edit(op2, b)) {
    transform_edit(a, b, side, out);
    return {};
  }
  return detail::transform_into_general(op1, op2, side, out);
}

namespace {
// Both ops must be valid before either is read; on failure `out` is emptied.
Status check_both(const Op& op1, const Op& op2, Op& out) {
  Status s = check_op(op1);
  if (s) s = check_op(op2);
  if (!s) out.clear();
  return s;
}
}  // namespace

Status detail::transform_into_general(const Op& op1, const Op& op2, Side side, Op& out) {
  if (Status s = check_both(op1, op2, out); !s) return s;
  Writer w(out);
  Taker t(op1);
  for (const Component& c2 : op2) {
    switch (c2.kind) {
      case Kind::kSkip: {
        std::uint64_t length = c2.len;
        while (length > 0) {
          const Piece p = t.take(length, Kind::kInsert);
          w.add(p);
          if (p.kind != Kind::kInsert) length -= p.len;
        }
        break;
      }
      case Kind::kInsert: {
        if (side == Side::kLeft) {
          const Component* next = t.peek();
          if (next != nullptr && next->kind == Kind::kInsert) w.add(t.take(kAll, Kind::kInsert));
        }
        w.add_skip(c2.len);
        break;
      }
      case Kind::kDelete: {
        std::uint64_t length = c2.len;
        while (length > 0) {
          const Piece p = t.take(length, Kind::kInsert);
          if (p.kind == Kind::kInsert) {
            w.add(p);
          } else {
            length -= p.len;  // skipped text or text both ops delete
          }
        }
        break;
      }
    }
  }
  for (Piece p = t.take(kAll, Kind::kInsert); p.valid; p = t.take(kAll, Kind::kInsert)) {
    w.add(p);
  }
  w.finish();
  return {};
}

Result<Op> transform(const Op& op, const Op& other, Side side) {
  Op out;
  if (Status s = transform_into(op, other, side, out); !s) return s.error();
  return out;
}

Status compose_into(const Op& op1, const Op& op2, Op& out) {
  if (Status s = check_both(op1, op2, out); !s) return s;
  Writer w(out);
  Taker t(op1);
  for (const Component& c : op2) {
    switch (c.kind) {
      case Kind::kSkip: {
        std::uint64_t length = c.len;
        while (length > 0) {
          const Piece p = t.take(length, Kind::kDelete);
          w.add(p);
          if (p.kind != Kind::kDelete) length -= p.len;
        }
        break;
      }
      case Kind::kInsert:
        w.add(c);
        break;
      case Kind::kDelete: {
        // Walk the deleted range of op2; where it covers text op1 kept, emit
        // a delete (carrying the matching slice of op2's text, if any).
        std::uint64_t offset = 0;
        std::size_t byte_pos = 0;
        const std::string_view dtext = c.text;
        auto advance = [&](std::uint64_t cps) -> std::string_view {
          if (!c.has_text) return {};
          const std::string_view rest = dtext.substr(byte_pos);
          const std::size_t b = utf8::byte_offset(rest, cps);
          byte_pos += b;
          return rest.substr(0, b);
        };
        while (offset < c.len) {
          const Piece p = t.take(c.len - offset, Kind::kDelete);
          switch (p.kind) {
            case Kind::kSkip: {
              const std::string_view slice = advance(p.len);
              w.add(Kind::kDelete, c.has_text, c.has_text ? utf8::count(slice) : p.len, slice);
              offset += p.len;
              break;
            }
            case Kind::kInsert:
              advance(p.len);
              offset += p.len;
              break;
            case Kind::kDelete:
              w.add(p);
              break;
          }
        }
        break;
      }
    }
  }
  for (Piece p = t.take(kAll, Kind::kDelete); p.valid; p = t.take(kAll, Kind::kDelete)) {
    w.add(p);
  }
  w.finish();
  return {};
}

Result<Op> compose(const Op& a, const Op& b) {
  Op out;
  if (Status s = compose_into(a, b, out); !s) return s.error();
  return out;
}

std::int64_t transform_position(std::int64_t cursor, const Op& op) {
  std::int64_t pos = 0;
  for (std::size_t i = 0; i < op.size() && cursor > pos; ++i) {
    const Component& c = op[i];
    const auto len = static_cast<std::int64_t>(c.len);
    switch (c.kind) {
      case Kind::kSkip:
        pos += len;
        break;
      case Kind::kInsert:
        pos += len;
        cursor += len;
        break;
      case Kind::kDelete:
        cursor -= std::min(len, cursor - pos);
        break;
    }
  }
  return cursor;
}

std::pair<std::int64_t, std::int64_t> transform_selection(
    std::pair<std::int64_t, std::int64_t> selection, const Op& op) {
  return {transform_position(selection.first, op), transform_position(selection.second, op)};
}

bool is_invertible(const Op& op) {
  return std::none_of(op.begin(), op.end(),
                      [](const Component& c) { return c.is_delete() && !c.has_text; });
}

Result<Op> invert(const Op& op) {
  Op out;
  out.reserve(op.size());
  Writer w(out);
  for (const Component& c : op) {
    switch (c.kind) {
      case Kind::kDelete:
        if (!c.has_text) {
          return Error::invalid(
              "Cannot invert text op: Deleted characters missing from operation. "
              "makeInvertible must be called first.");
        }
        w.add(Kind::kInsert, false, c.len, c.text);
        break;
      case Kind::kInsert:
        w.add(Kind::kDelete, true, c.len, c.text);
        break;
      case Kind::kSkip:
        w.add(c);
        break;
    }
  }
  w.finish();
  return out;
}

Op strip_invertible(const Op& op) {
  Op out;
  out.reserve(op.size());
  Writer w(out);
  for (const Component& c : op) {
    if (c.is_delete()) {
      w.add(Kind::kDelete, false, c.len, {});
    } else {
      w.add(c);
    }
  }
  w.finish();
  return out;
}

Op make_invertible(const Op& op, std::string_view doc) {
  Op out;
  out.reserve(op.size());
  Writer w(out);
  std::size_t pre_byte = 0;  // byte offset in doc of the op's position (clamped)
  for (const Component& c : op) {
    if (c.is_delete() && !c.has_text) {
      const std::string_view rest = doc.substr(pre_byte);
      const std::string_view slice = rest.substr(0, utf8::byte_offset(rest, c.len));
      w.add(Kind::kDelete, true, utf8::count(slice), slice);
    } else {
      w.add(c);
    }
    if (!c.is_insert()) {
      pre_byte += utf8::byte_offset(doc.substr(pre_byte), c.len);
    }
  }
  w.finish();
  return out;
}

Op make_insert(std::uint64_t pos, std::string_view utf8) {
  Op op;
  if (utf8.empty()) return op;
  if (pos > 0) op.push_back(Component::skip(pos));
  op.push_back(Component::insert(utf8));
  return op;
}

Op make_remove(std::uint64_t pos, std::uint64_t n) {
  Op op;
  if (n == 0) return op;
  if (pos > 0) op.push_back(Component::skip(pos));
  op.push_back(Component::del(n));
  return op;
}

std::uint64_t base_length(const Op& op) {
  std::uint64_t n = 0;
  for (const Component& c : op) {
    if (!c.is_insert()) n += c.len;
  }
  return n;
}

}  // namespace office::ot
