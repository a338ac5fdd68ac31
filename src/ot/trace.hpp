#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ot/op.hpp"
#include "ot/result.hpp"

namespace office::ot {

/// An editing trace (format: tests/data/README.md) held compactly: one
/// 20-byte record per patch plus one arena of inserted text. Loaded by a
/// streaming gzip + SAX JSON reader, so loading never holds the JSON text or
/// a DOM in memory. Part of the library `office_ot_trace` (zlib), not of
/// `office_ot`. Plain value; no thread-safety concerns.
struct TracePatch {
  std::uint32_t pos;       // code points
  std::uint32_t del;       // code points
  std::uint32_t text_off;  // bytes into Trace::arena
  std::uint32_t text_len;  // bytes
  std::uint32_t text_cps;  // code points of the inserted text
};

struct Trace {
  std::string start_content;
  std::string end_content;
  std::vector<TracePatch> patches;
  std::string arena;
  std::size_t txns = 0;

  std::string_view text(const TracePatch& p) const {
    return {arena.data() + p.text_off, p.text_len};
  }
};

/// Reads a `.json.gz` (or plain `.json`) trace. Errors: unreadable file,
/// malformed JSON, or a structure that is not a trace.
Result<Trace> load_trace(const std::string& path);

/// The text-unicode op equivalent to one patch: [pos, {d:del}, "text"],
/// normalized (leading skip and empty parts omitted).
Op patch_to_op(const Trace& trace, const TracePatch& p);

/// As patch_to_op(), writing into `out` and reusing its components' buffers
/// (no allocation once `out` has held an op of the same shape).
void patch_to_op(const Trace& trace, const TracePatch& p, Op& out);

}  // namespace office::ot
