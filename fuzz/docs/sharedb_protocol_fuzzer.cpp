// Arbitrary bytes as a ShareDB WebSocket frame. Checks, besides "no crash, no
// sanitizer report": every input parses to a request or an error (never
// both missing), an accepted op passes check_op, and the error reply built
// from whatever was read is valid JSON that carries the error.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "docs/sharedb_protocol.hpp"

namespace {
void check(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace sdb = office::docs::sharedb;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  sdb::Parsed p = sdb::parse_request(text);
  check(p.error || p.request.action != sdb::Action::kUnknown);
  if (!p.error && p.request.op_kind == sdb::Request::OpKind::kEdit)
    check(static_cast<bool>(office::ot::check_op(p.request.op)));
  std::string reply = sdb::error_reply(p.request, "ERR_X", p.error ? p.error->message : "m");
  auto j = nlohmann::json::parse(reply, nullptr, false);
  check(!j.is_discarded() && j.contains("error"));
  return 0;
}
