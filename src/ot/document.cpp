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
  for (const Chunk& c : chunks_) out.append(c.view());
  return out;
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
    out.append(c.data.get() + b0, b1 - b0);
    remaining -= take;
    offset = 0;
  }
  return out;
}

std::size_t Document::allocated_bytes() const {
  return chunks_.size() * (cap_ + sizeof(Chunk)) + tree_.size() * sizeof(std::uint64_t);
}

Document::Location Document::locate(std::uint64_t pos) const {
  // Fenwick descent: the first chunk whose cumulative count reaches pos.
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
  if (idx >= k) return {k - 1, chunks_[k - 1].cps};  // pos beyond the end: clamp
  return {idx, rem};
}

std::size_t Document::byte_in_chunk(const Chunk& c, std::uint64_t cp) const {
  if (c.bytes == c.cps) return static_cast<std::size_t>(cp);  // pure ASCII
  return utf8::byte_offset(c.view(), static_cast<std::size_t>(cp));
}

void Document::fenwick_add(std::size_t chunk, std::int64_t delta) {
  const std::size_t k = chunks_.size();
  for (std::size_t i = chunk + 1; i <= k; i += i & (~i + 1)) {
    tree_[i] += static_cast<std::uint64_t>(delta);
  }
}

void Document::fenwick_rebuild() {
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
    std::memmove(c.data.get() + at + utf8.size(), c.data.get() + at, c.bytes - at);
    std::memcpy(c.data.get() + at, utf8.data(), utf8.size());
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
  scratch_.assign(c.data.get(), at);
  scratch_.append(utf8);
  scratch_.append(c.data.get() + at, c.bytes - at);
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
    p.cps = static_cast<std::uint32_t>(utf8::count(std::string_view(scratch_).substr(begin, end - begin)));
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
    const std::size_t b1 = (c.bytes == c.cps)
                               ? b0 + take
                               : b0 + utf8::byte_offset(c.view().substr(b0), take);
    std::memmove(c.data.get() + b0, c.data.get() + b1, c.bytes - b1);
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
  if (structural) fenwick_rebuild();
  maybe_merge(std::min(loc.chunk, chunks_.size() - 1));
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
  std::memcpy(a.data.get() + a.bytes, b.data.get(), b.bytes);
  a.bytes += b.bytes;
  a.cps += b.cps;
  chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(left) + 1);
  fenwick_rebuild();
}

Status Document::apply(const Op& op) {
  // One pass checks the op (check_op) and that its skips fit in the document,
  // so that a failing op changes nothing.
  if (Status s = check_op(op); !s) return s;
  std::uint64_t pos = 0;
  for (const Component& c : op) {
    if (c.kind == Kind::kSkip) {
      if (c.len > cps_ - pos) return OtError{"The op is too long for this document"};
      pos += c.len;
    } else if (c.kind == Kind::kDelete) {
      pos += std::min(c.len, cps_ - pos);
    }
  }
  pos = 0;
  for (const Component& c : op) {
    switch (c.kind) {
      case Kind::kSkip:
        pos += c.len;
        break;
      case Kind::kInsert:
        insert(pos, c.text, c.len);
        pos += c.len;
        break;
      case Kind::kDelete:
        erase(pos, c.len);
        break;
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
