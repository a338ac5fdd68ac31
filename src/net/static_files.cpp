// Serving embedded files.
#include "net/detail/static_files.hpp"

namespace office::net::detail {

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
std::string_view opaque(std::string_view tag) {
  if (tag.size() >= 2 && tag[0] == 'W' && tag[1] == '/') tag.remove_prefix(2);
  return tag;
}
}  // namespace

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  if (trim(if_none_match) == "*") return true;
  std::string_view want = opaque(etag);
  while (!if_none_match.empty()) {
    auto comma = if_none_match.find(',');
    if (opaque(trim(if_none_match.substr(0, comma))) == want) return true;
    if (comma == std::string_view::npos) break;
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

Handler make_static_handler(const EmbeddedFile& file) {
  const EmbeddedFile* f = &file;
  return [f](Request& req) {
    Response r;
    r.headers.reserve(2);
    r.headers.emplace_back("etag", std::string(f->etag));
    r.headers.emplace_back("cache-control", "no-cache");
    if (auto inm = req.header("if-none-match"); inm && etag_matches(*inm, f->etag)) {
      r.status = 304;
      r.content_type = {};
      return r;
    }
    r.content_type = f->content_type;
    r.static_body = f->data;
    return r;
  };
}

}  // namespace office::net::detail
