// Arbitrary bytes as a JSON request body. Checks, besides "no crash, no
// sanitizer report": parse_json accepts exactly what nlohmann accepts when the
// nesting is at most kMaxJsonDepth, never accepts anything deeper, and builds
// the same document; JsonBody's accessors never crash on what it accepts.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "core/json_body.hpp"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// Deepest nesting of [ and { outside strings: exact for valid JSON.
std::size_t scan_depth(std::string_view s) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '[' || c == '{') deepest = std::max(deepest, ++depth);
    if ((c == ']' || c == '}') && depth > 0) --depth;
  }
  return deepest;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto ours = office::parse_json(text);
  const std::size_t depth = scan_depth(text);
  if (text.find('\0') != std::string_view::npos) {
    check(!ours.ok());  // nlohmann would stop at the NUL and accept what came before
  } else if (depth > office::kMaxJsonDepth) {
    check(!ours.ok());
  } else {
    check(ours.ok() == nlohmann::json::accept(text));
    if (ours.ok()) check(*ours == nlohmann::json::parse(text));
  }
  check(ours.ok() || !ours.error().message.empty());

  auto body = office::JsonBody::parse(text, {"email", "password", "memberIds", "ok", "pageSize"});
  if (body.ok()) {
    check(ours.ok() && ours->is_object());
    (void)body->opt_string("email");
    (void)body->string("password");
    (void)body->string_list("memberIds");
    (void)body->opt_bool("ok");
    (void)body->opt_int("pageSize");
  }
  return 0;
}
