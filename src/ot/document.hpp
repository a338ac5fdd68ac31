#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ot/op.hpp"
#include "ot/result.hpp"

namespace office::ot {

/// The text of one document, stored as UTF-8 in chunks of at most
/// `chunk_bytes` bytes, each a small gap buffer, with a Fenwick tree over the
/// chunks' code-point counts. Locating a code-point position costs
/// O(log chunks) plus a scan inside one chunk (skipped when the chunk is pure
/// ASCII); an edit moves at most one chunk's bytes, and none when it is at the
/// chunk's gap (where the previous edit in that chunk ended). Human editing is local, so the last
/// located chunk and its code-point start are kept as a hint: a position in that chunk or one of
/// its neighbours is found without the Fenwick descent, and the Fenwick update for edits to one
/// chunk is deferred until a descent needs it. See docs/ot.md for the measurements behind the
/// choice.
///
/// Thread-safety: none, not even for concurrent const calls (slice() updates
/// the hint); a Document has one owner (the document's broker).
/// Positions and lengths are code points; text in and out is UTF-8 (the
/// caller guarantees well-formed UTF-8, as the JSON codec does).
class Document {
 public:
  static constexpr std::size_t kDefaultChunkBytes = 1024;

  /// An empty document. `chunk_bytes` (>= 8) is only worth changing in tests.
  explicit Document(std::size_t chunk_bytes = kDefaultChunkBytes);
  /// create(text).
  explicit Document(std::string_view utf8, std::size_t chunk_bytes = kDefaultChunkBytes);

  Document(Document&&) noexcept = default;
  Document& operator=(Document&&) noexcept = default;
  Document(const Document&) = delete;
  Document& operator=(const Document&) = delete;

  /// Length in code points / in UTF-8 bytes.
  std::uint64_t length() const { return cps_; }
  std::size_t byte_size() const { return bytes_; }

  /// The whole text, or the code points [from, to) (clamped to the end).
  std::string to_string() const;
  std::string slice(std::uint64_t from, std::uint64_t to) const;

  /// apply(doc, op) of text-unicode: checks the op, checks that its skips fit
  /// in the document (error "The op is too long for this document"), then
  /// applies it. On error the document is unchanged. Deletes reaching past
  /// the end delete up to the end (npm behaviour).
  Status apply(const Op& op);

  /// Low-level edits used by apply(). `pos` is clamped to length().
  /// `cps` must be the code-point count of `utf8`.
  void insert(std::uint64_t pos, std::string_view utf8, std::uint64_t cps);
  void insert(std::uint64_t pos, std::string_view utf8);
  /// Removes up to `n` code points at `pos`; returns how many were removed.
  std::uint64_t erase(std::uint64_t pos, std::uint64_t n);

  /// Bytes of chunk storage currently allocated (for memory reports).
  std::size_t allocated_bytes() const;
  std::size_t chunk_count() const { return chunks_.size(); }

 private:
  // A chunk's text is [0, gap) then a gap of cap_ - bytes free bytes, then
  // the rest: inserting or deleting at the gap moves no text, and moving the
  // gap moves only the bytes between its old and new place. Typing and
  // backspacing are local, so most edits move nothing.
  struct Chunk {
    std::unique_ptr<char[]> data;
    std::uint32_t bytes = 0;    // text bytes
    std::uint32_t cps = 0;      // text code points
    std::uint32_t gap = 0;      // text bytes before the gap
    std::uint32_t gap_cps = 0;  // code points before the gap
    bool ascii() const { return bytes == cps; }
  };
  struct Location {
    std::size_t chunk;
    std::uint64_t offset;  // code points into the chunk
  };

  Status apply_general(const Op& op);
  Chunk new_chunk() const;
  std::string_view front(const Chunk& c) const { return {c.data.get(), c.gap}; }
  std::string_view back(const Chunk& c) const {
    return {c.data.get() + c.gap + (cap_ - c.bytes), c.bytes - c.gap};
  }
  // Appends the chunk's text bytes [b0, b1) (text offsets, not storage).
  void append_text(std::string& out, const Chunk& c, std::size_t b0, std::size_t b1) const;
  // Moves the gap to text byte `to`, which is code point `to_cps`.
  void move_gap(Chunk& c, std::size_t to, std::size_t to_cps) const;
  // The chunk with prefix(chunk) < pos <= prefix(chunk+1) ({0, 0} for pos 0;
  // the end of the last chunk for pos past the end). Updates the hint.
  Location locate(std::uint64_t pos) const;
  Location locate_slow(std::uint64_t pos) const;
  // Text byte offset of code point `cp` of the chunk.
  std::size_t byte_in_chunk(const Chunk& c, std::uint64_t cp) const {
    if (c.ascii()) return static_cast<std::size_t>(cp);
    return byte_in_mixed_chunk(c, cp);
  }
  std::size_t byte_in_mixed_chunk(const Chunk& c, std::uint64_t cp) const;
  // Deferred: accumulates in pending_* while edits stay in one chunk.
  void fenwick_add(std::size_t chunk, std::int64_t delta);
  void fenwick_flush() const;
  void fenwick_rebuild();
  void reset_hint() const {
    hint_chunk_ = 0;
    hint_start_ = 0;
  }
  void split_insert(std::size_t chunk, std::size_t at, std::string_view utf8);
  void maybe_merge(std::size_t chunk);

  std::size_t cap_;
  std::vector<Chunk> chunks_;
  // 1-based Fenwick tree of chunk cps; entries covering pending_chunk_ lack
  // pending_delta_ until fenwick_flush().
  mutable std::vector<std::uint64_t> tree_;
  static constexpr std::size_t kNoChunk = ~std::size_t{0};
  mutable std::size_t pending_chunk_ = kNoChunk;
  mutable std::int64_t pending_delta_ = 0;
  // Invariant: hint_chunk_ < chunks_.size() and hint_start_ is the code-point
  // count of chunks [0, hint_chunk_).
  mutable std::size_t hint_chunk_ = 0;
  mutable std::uint64_t hint_start_ = 0;
  std::uint64_t cps_ = 0;
  std::size_t bytes_ = 0;
  std::string scratch_;
};

/// apply() on a plain string: create, apply, to_string. (Not named apply():
/// Op is a std::vector, so ADL would also find std::apply.)
Result<std::string> apply_text(std::string_view doc, const Op& op);

}  // namespace office::ot
