#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/error.hpp"

// What officectl prints: tables, --json, error lines, exit codes.
namespace office::ctl {

/// officectl's exit codes (--help epilog, docs/officectl.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;    ///< the server refused or failed; network
inline constexpr int kExitUsage = 2;     ///< bad arguments (ours, or HTTP 400)
inline constexpr int kExitDenied = 3;    ///< not logged in, bad token, not allowed
inline constexpr int kExitNotFound = 4;  ///< no such object

/// The exit-code section of --help.
extern const char* const kExitCodesHelp;

/// The exit code of an error: kInvalidArgument 2, kUnauthenticated and
/// kPermissionDenied 3, kNotFound 4, anything else 1.
int exit_code(const Error& e);

/// Prints "officectl: <message>" (one line, control characters escaped) on
/// stderr and returns exit_code(e).
int report(const Error& e);
/// Prints a usage error the same way and returns kExitUsage.
int usage_error(std::string_view message);

/// Text from the server made safe for a terminal: control characters and
/// DEL escaped as \xNN (no escape sequences reach the terminal), at most
/// max_bytes (then "...").
std::string printable(std::string_view text, std::size_t max_bytes = 4096);

/// Pretty-prints JSON (2-space indent) on stdout.
void print_json(const nlohmann::json& j);

/// Columns padded to their widest cell; numeric columns right-aligned.
class Table {
 public:
  explicit Table(std::vector<std::string> headers, std::vector<bool> right_aligned = {});
  /// Cells are passed through printable().
  void add_row(std::vector<std::string> cells);
  void print(std::ostream& out) const;
  bool empty() const { return rows_.empty(); }

 private:
  std::vector<std::string> headers_;
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
};

/// A uint64 field of a proto3 JSON object: a number or a decimal string
/// (both are proto3 JSON); 0 when absent or malformed.
std::uint64_t json_u64(const nlohmann::json& object, const char* field);
/// A string field; empty when absent or not a string.
std::string json_string(const nlohmann::json& object, const char* field);

}  // namespace office::ctl
