#include "ot/document.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

#include "ot/utf8.hpp"

namespace office::ot {

Document::Document(std::size_t chunk_bytes) : cap_(std::max<std::size_t>(chunk_bytes, 8)) {
  chunks_.push_back(new_chunk());
  fenwick_rebuild();
}

Document::Document(std::string_view utf8, std::size_t chunk_bytes) : Document(chunk_bytes) {
  insert(0, utf8);
}

Document::Chunk Document::new_chunk() const {
  Chunk c;
  c.data = std::make_unique_for_overwrite<char[]>(cap_);
  return c;
}

std::string Document::to_string() const {
  std::string out;
  out.reserve(bytes_);
  for (const Chunk& c : chunks_) {
    out.append(front(c));
    out.append(back(c));
  }
  return out;
}

void Document::append_text(std::string& out, const Chunk& c, std::size_t b0, std::size_t b1) const {
  if (b0 < c.gap) out.append(c.data.get() + b0, std::min<std::size_t>(b1, c.gap) - b0);
  if (b1 > c.gap) {
    const std::size_t from = std::max<std::size_t>(b0, c.gap);
    out.append(c.data.get() + from + (cap_ - c.bytes), b1 - from);
  }
}

void Document::move_gap(Chunk& c, std::size_t to, std::size_t to_cps) const {
  const std::size_t gap_len = cap_ - c.bytes;
  char* const d = c.data.get();
  if (to < c.gap) {
    std::memmove(d + to + gap_len, d + to, c.gap - to);
  } else if (to > c.gap) {
    std::memmove(d + c.gap, d + c.gap + gap_len, to - c.gap);
  }
  c.gap = static_cast<std::uint32_t>(to);
  c.gap_cps = static_cast<std::uint32_t>(to_cps);
}

std::string Document::slice(std::uint64_t from, std::uint64_t to) const {
  std::string out;
  if (from >= cps_ || to <= from) return out;
  to = std::min(to, cps_);
  Location loc = locate(from + 1);
  std::uint64_t offset = loc.offset - 1;
  std::uint64_t remaining = to - from;
  for (std::size_t i = loc.chunk; i < chunks_.size() && remaining > 0; ++i) {
    const Chunk& c = chunks_[i];
    const std::uint64_t take = std::min<std::uint64_t>(remaining, c.cps - offset);
    const std::size_t b0 = byte_in_chunk(c, offset);
    const std::size_t b1 = byte_in_chunk(c, offset + take);
    append_text(out, c, b0, b1);
    remaining -= take;
    offset = 0;
  }
  return out;
}

std::size_t Document::allocated_bytes() const {
  return chunks_.size() * (cap_ + sizeof(Chunk)) + tree_.size() * sizeof(std::uint64_t);
}

Document::Location Document::locate(std::uint64_t pos) const {
  // Human edits are local: try the hinted chunk and its neighbours before the
  // Fenwick descent. Chunks other than a lone empty one have cps > 0, so the
  // chunk found here is the one the descent would find.
  const std::size_t c = hint_chunk_;
  const std::uint64_t s = hint_start_;
  if (pos > s) {
    const std::uint64_t in = pos - s;
    const std::uint64_t cps = chunks_[c].cps;
    if (in <= cps) return {c, in};
    if (c + 1 < chunks_.size() && in - cps <= chunks_[c + 1].cps) {
      hint_chunk_ = c + 1;
      hint_start_ = s + cps;
      return {c + 1, in - cps};
    }
  } else if (pos == 0) {
    reset_hint();
    return {0, 0};
  } else if (c > 0 && pos > s - chunks_[c - 1].cps) {
    hint_chunk_ = c - 1;
    hint_start_ = s - chunks_[c - 1].cps;
    return {c - 1, pos - hint_start_};
  }
  return locate_slow(pos);
}

Document::Location Document::locate_slow(std::uint64_t pos) const {
  // Fenwick descent: the first chunk whose cumulative count reaches pos.
  fenwick_flush();
  const std::size_t k = chunks_.size();
  std::size_t idx = 0;
  std::uint64_t rem = pos;
  for (std::size_t step = std::bit_floor(k); step != 0; step >>= 1) {
    const std::size_t next = idx + step;
    if (next <= k && tree_[next] < rem) {
      idx = next;
      rem -= tree_[next];
    }
  }
  if (idx >= k) {  // pos beyond the end: clamp
    hint_chunk_ = k - 1;
    hint_start_ = cps_ - chunks_[k - 1].cps;
    return {k - 1, chunks_[k - 1].cps};
  }
  hint_chunk_ = idx;
  hint_start_ = pos - rem;
  return {idx, rem};
}

std::size_t Document::byte_in_mixed_chunk(const Chunk& c, std::uint64_t cp) const {
  if (cp == c.gap_cps) return c.gap;
  if (cp < c.gap_cps) {
    // Scan from whichever end of the text before the gap is nearer: edits
    // are local, so usually back from the gap (backspacing in CJK text).
    const std::uint64_t before_gap = c.gap_cps - cp;
    if (before_gap < cp) return utf8::byte_offset_from_end(front(c), before_gap);
    return utf8::byte_offset(front(c), static_cast<std::size_t>(cp));
  }
  return c.gap + utf8::byte_offset(back(c), static_cast<std::size_t>(cp - c.gap_cps));
}

void Document::fenwick_add(std::size_t chunk, std::int64_t delta) {
  if (chunk != pending_chunk_) {
    fenwick_flush();
    pending_chunk_ = chunk;
  }
  pending_delta_ += delta;
}

void Document::fenwick_flush() const {
  if (pending_chunk_ == kNoChunk) return;
  const std::size_t k = chunks_.size();
  const auto delta = static_cast<std::uint64_t>(pending_delta_);
  for (std::size_t i = pending_chunk_ + 1; i <= k; i += i & (~i + 1)) tree_[i] += delta;
  pending_chunk_ = kNoChunk;
  pending_delta_ = 0;
}

void Document::fenwick_rebuild() {
  pending_chunk_ = kNoChunk;
  pending_delta_ = 0;
  const std::size_t k = chunks_.size();
  tree_.assign(k + 1, 0);
  for (std::size_t i = 1; i <= k; ++i) {
    tree_[i] += chunks_[i - 1].cps;
    const std::size_t parent = i + (i & (~i + 1));
    if (parent <= k) tree_[parent] += tree_[i];
  }
}

void Document::insert(std::uint64_t pos, std::string_view utf8) {
  insert(pos, utf8, utf8::count(utf8));
}

void Document::insert(std::uint64_t pos, std::string_view utf8, std::uint64_t cps) {
  if (utf8.empty()) return;
  pos = std::min(pos, cps_);
  const Location loc = locate(pos);
  Chunk& c = chunks_[loc.chunk];
  const std::size_t at = byte_in_chunk(c, loc.offset);
  cps_ += cps;
  bytes_ += utf8.size();
  if (c.bytes + utf8.size() <= cap_) {
    if (at != c.gap) move_gap(c, at, loc.offset);
    if (utf8.size() == 1) {
      c.data[at] = utf8[0];  // a keystroke: no call into memcpy
    } else {
      std::memcpy(c.data.get() + at, utf8.data(), utf8.size());
    }
    c.gap += static_cast<std::uint32_t>(utf8.size());
    c.gap_cps += static_cast<std::uint32_t>(cps);
    c.bytes += static_cast<std::uint32_t>(utf8.size());
    c.cps += static_cast<std::uint32_t>(cps);
    fenwick_add(loc.chunk, static_cast<std::int64_t>(cps));
    return;
  }
  split_insert(loc.chunk, at, utf8);
}

// The chunk overflows: lay out head + text + tail again over as many chunks
// as needed, each about three quarters full, cut at code-point boundaries.
void Document::split_insert(std::size_t chunk, std::size_t at, std::string_view utf8) {
  Chunk& c = chunks_[chunk];
  scratch_.clear();
  append_text(scratch_, c, 0, at);
  scratch_.append(utf8);
  append_text(scratch_, c, at, c.bytes);
  const std::size_t total = scratch_.size();
  const std::size_t target = std::max<std::size_t>(cap_ * 3 / 4, 4);
  std::vector<Chunk> pieces;
  pieces.reserve(total / target + 1);
  std::size_t begin = 0;
  while (begin < total) {
    const std::size_t remaining = total - begin;
    const std::size_t pieces_left = (remaining + target - 1) / target;
    std::size_t end = begin + std::min(cap_, (remaining + pieces_left - 1) / pieces_left);
    // Cut at a code-point boundary, never above the capacity (cap_ >= 8
    // exceeds the longest UTF-8 sequence, so a boundary always exists).
    while (end < total && end > begin + 1 &&
           !utf8::is_lead(static_cast<unsigned char>(scratch_[end]))) {
      --end;
    }
    Chunk p = new_chunk();
    std::memcpy(p.data.get(), scratch_.data() + begin, end - begin);
    p.bytes = static_cast<std::uint32_t>(end - begin);
    p.cps = static_cast<std::uint32_t>(
        utf8::count(std::string_view(scratch_).substr(begin, end - begin)));
    p.gap = p.bytes;
    p.gap_cps = p.cps;
    pieces.push_back(std::move(p));
    begin = end;
  }
  chunks_[chunk] = std::move(pieces.front());
  chunks_.insert(chunks_.begin() + static_cast<std::ptrdiff_t>(chunk) + 1,
                 std::make_move_iterator(pieces.begin() + 1),
                 std::make_move_iterator(pieces.end()));
  fenwick_rebuild();
}

std::uint64_t Document::erase(std::uint64_t pos, std::uint64_t n) {
  if (pos >= cps_ || n == 0) return 0;
  n = std::min(n, cps_ - pos);
  const Location loc = locate(pos + 1);
  std::size_t ci = loc.chunk;
  std::uint64_t offset = loc.offset - 1;
  std::uint64_t remaining = n;
  bool structural = false;
  while (remaining > 0 && ci < chunks_.size()) {
    Chunk& c = chunks_[ci];
    const std::uint64_t take = std::min<std::uint64_t>(remaining, c.cps - offset);
    const std::size_t b0 = byte_in_chunk(c, offset);
    const std::size_t b1 = c.ascii() ? b0 + take : byte_in_chunk(c, offset + take);
    // The deleted bytes join the gap: move it to whichever end of the range
    // is closer (backspacing ends where the gap is, forward delete starts there).
    const std::size_t to_end = b1 > c.gap ? b1 - c.gap : c.gap - b1;
    const std::size_t to_start = b0 > c.gap ? b0 - c.gap : c.gap - b0;
    if (to_end < to_start) {
      move_gap(c, b1, offset + take);
      c.gap = static_cast<std::uint32_t>(b0);
      c.gap_cps = static_cast<std::uint32_t>(offset);
    } else if (b0 != c.gap) {
      move_gap(c, b0, offset);
    }
    c.bytes -= static_cast<std::uint32_t>(b1 - b0);
    c.cps -= static_cast<std::uint32_t>(take);
    bytes_ -= b1 - b0;
    remaining -= take;
    if (!structural) fenwick_add(ci, -static_cast<std::int64_t>(take));
    if (c.cps == 0 && chunks_.size() > 1) {
      chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(ci));
      structural = true;
    } else {
      ++ci;
    }
    offset = 0;
  }
  cps_ -= n;
  // locate() left the hint on loc.chunk; removed chunks were at or after it,
  // so its start is unchanged if the index still exists.
  if (hint_chunk_ >= chunks_.size()) reset_hint();
  if (structural) fenwick_rebuild();
  const std::size_t last = std::min(loc.chunk, chunks_.size() - 1);
  if (chunks_[last].bytes < cap_ / 4) maybe_merge(last);
  return n;
}

// Keeps chunks from fragmenting under deletes: a chunk below a quarter full
// absorbs a neighbour when both fit in half a chunk.
void Document::maybe_merge(std::size_t chunk) {
  if (chunks_.size() < 2 || chunks_[chunk].bytes >= cap_ / 4) return;
  std::size_t left = chunk;
  if (chunk + 1 < chunks_.size() && chunks_[chunk].bytes + chunks_[chunk + 1].bytes <= cap_ / 2) {
    left = chunk;
  } else if (chunk > 0 && chunks_[chunk - 1].bytes + chunks_[chunk].bytes <= cap_ / 2) {
    left = chunk - 1;
  } else {
    return;
  }
  Chunk& a = chunks_[left];
  Chunk& b = chunks_[left + 1];
  move_gap(a, a.bytes, a.cps);
  const std::string_view bf = front(b);
  const std::string_view bb = back(b);
  std::memcpy(a.data.get() + a.bytes, bf.data(), bf.size());
  std::memcpy(a.data.get() + a.bytes + bf.size(), bb.data(), bb.size());
  a.bytes += b.bytes;
  a.cps += b.cps;
  a.gap = a.bytes;
  a.gap_cps = a.cps;
  chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(left) + 1);
  reset_hint();
  fenwick_rebuild();
}

namespace {

// check_op's message for a zero-length component (cold path of apply()).
[[gnu::noinline, gnu::cold]] Status empty_component_error(Kind kind) {
  switch (kind) {
    case Kind::kSkip:
      return Error::invalid("Skip components must be >0");
    case Kind::kInsert:
      return Error::invalid("Inserts cannot be empty");
    case Kind::kDelete:
      break;
  }
  return Error::invalid("Deletes must not be empty");
}

[[gnu::noinline, gnu::cold]] Status apply_error(const char* message) {
  return Error::invalid(message);
}

}  // namespace

Status Document::apply(const Op& op) {
  // Nearly every client edit is one component, or a skip and one component:
  // apply those directly. Anything else, and every shape that could be
  // invalid (a zero length, a skip as the last component, a skip past the
  // end), goes through the general path and its error messages.
  if (op.size() <= 2 && !op.empty()) {
    const Component* c = op.data();
    std::uint64_t pos = 0;
    if (op.size() == 2 && c->kind == Kind::kSkip) {
      pos = c->len;
      ++c;
    }
    if (c == &op.back() && c->kind != Kind::kSkip && c->len != 0 && pos <= cps_ &&
        (op.size() == 1 || pos != 0)) {
      if (c->kind == Kind::kInsert) {
        insert(pos, c->text, c->len);
      } else {
        erase(pos, c->len);
      }
      return {};
    }
  }
  return apply_general(op);
}

Status Document::apply_general(const Op& op) {
  // One pass does check_op and checks that the skips fit in the document, so
  // that a failing op changes nothing. check_op's errors come first (it looks
  // at the whole op), so "too long" is only reported after the loop.
  const Component* const begin = op.data();
  const Component* const end = begin + op.size();
  std::uint64_t pos = 0;
  bool too_long = false;
  bool prev_skip = false;
  for (const Component* c = begin; c != end; ++c) {
    const std::uint64_t len = c->len;
    const Kind kind = c->kind;
    if (len == 0) [[unlikely]] {
      return empty_component_error(kind);
    }
    const bool skip = kind == Kind::kSkip;
    if (skip) {
      if (prev_skip) [[unlikely]] {
        return apply_error("Adjacent skip components should be combined");
      }
      too_long |= len > cps_ - pos;
      pos += std::min(len, cps_ - pos);
    } else if (kind == Kind::kDelete) {
      pos += std::min(len, cps_ - pos);
    }
    prev_skip = skip;
  }
  if (prev_skip) [[unlikely]] {
    return apply_error("Op has a trailing skip");
  }
  if (too_long) [[unlikely]] {
    return apply_error("The op is too long for this document");
  }
  pos = 0;
  for (const Component* c = begin; c != end; ++c) {
    if (c->kind == Kind::kInsert) {
      insert(pos, c->text, c->len);
      pos += c->len;
    } else if (c->kind == Kind::kSkip) {
      pos += c->len;
    } else {
      erase(pos, c->len);
    }
  }
  return {};
}

Result<std::string> apply_text(std::string_view doc, const Op& op) {
  Document d(doc);
  if (Status s = d.apply(op); !s) return s.error();
  return d.to_string();
}

}  // namespace office::ot
