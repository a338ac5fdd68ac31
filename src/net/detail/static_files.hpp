#pragma once
// Internal: the handler that serves one embedded file.

#include <string_view>

#include "net/embedded_files.hpp"
#include "net/router.hpp"

namespace office::net::detail {

/// GET/HEAD handler for one file: content type, ETag, Cache-Control: no-cache,
/// If-None-Match -> 304. The file must have static storage (it is not copied).
Handler make_static_handler(const EmbeddedFile& file);

/// True if an If-None-Match value (a list of entity tags or "*") matches etag
/// (weak comparison, as RFC 9110 asks for If-None-Match).
bool etag_matches(std::string_view if_none_match, std::string_view etag);

}  // namespace office::net::detail
