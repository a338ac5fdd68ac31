#pragma once

#include <cstddef>
#include <string_view>

namespace office::net {

/// One file compiled into the binary (see cmake/EmbedFiles.cmake).
struct EmbeddedFile {
  std::string_view path;          ///< URL path, e.g. "/api/docs/index.html"
  std::string_view data;          ///< the bytes, valid for the program's lifetime
  std::string_view content_type;  ///< e.g. "text/html; charset=utf-8"
  std::string_view etag;          ///< strong ETag, quoted, from the content hash
};

/// A table of embedded files; static storage, immutable, thread-safe to read.
struct EmbeddedFileTable {
  const EmbeddedFile* files;
  std::size_t size;
  const EmbeddedFile* begin() const { return files; }
  const EmbeddedFile* end() const { return files + size; }
};

}  // namespace office::net
