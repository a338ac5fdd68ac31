// Arbitrary bytes as a YAML configuration file (apply_config_yaml), then the
// checks the server runs on it. Errors must be values with a message, never
// a crash or an escaped exception.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/config.hpp"

namespace {
void check(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  office::Config config;
  auto st = office::apply_config_yaml(config, text, "fuzz.yaml");
  if (!st) {
    check(!st.error().message.empty());
    check(st.error().code == office::ErrorCode::kInvalidArgument);
    return 0;
  }
  auto valid = office::validate_config(config);
  check(valid.ok() || !valid.error().message.empty());
  (void)office::public_origins(config, 8080);
  (void)office::parse_listen_address(config.server.listen);
  return 0;
}
