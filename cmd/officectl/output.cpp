#include "cmd/officectl/output.hpp"

#include <algorithm>
#include <charconv>
#include <iostream>
#include <nlohmann/json.hpp>

namespace office::ctl {

const char* const kExitCodesHelp =
    "Exit codes:\n"
    "  0  success\n"
    "  1  the server failed or refused the request, or it could not be reached\n"
    "  2  usage error: bad arguments (found by officectl, or HTTP 400 from the server)\n"
    "  3  not logged in, token expired or revoked, or permission denied\n"
    "  4  not found\n"
    "Server and token: --server/OFFICE_SERVER and --token/OFFICE_TOKEN, else the login\n"
    "stored by `officectl login` (docs/officectl.md).";

int exit_code(const Error& e) {
  switch (e.code) {
    case ErrorCode::kInvalidArgument:
      return kExitUsage;
    case ErrorCode::kUnauthenticated:
    case ErrorCode::kPermissionDenied:
      return kExitDenied;
    case ErrorCode::kNotFound:
      return kExitNotFound;
    default:
      return kExitFailed;
  }
}

int report(const Error& e) {
  std::cerr << "officectl: " << printable(e.message) << "\n";
  return exit_code(e);
}

int usage_error(std::string_view message) {
  std::cerr << "officectl: " << printable(message) << "\n";
  return kExitUsage;
}

std::string printable(std::string_view text, std::size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 8);
  for (char ch : text) {
    if (out.size() >= max_bytes) {
      out += "...";
      break;
    }
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
  return out;
}

void print_json(const nlohmann::json& j) {
  std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

Table::Table(std::vector<std::string> headers, std::vector<bool> right_aligned)
    : headers_(std::move(headers)), right_(std::move(right_aligned)) {
  right_.resize(headers_.size(), false);
}

void Table::add_row(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  for (auto& c : cells) c = printable(c, 200);
  rows_.push_back(std::move(cells));
}

void Table::print(std::ostream& out) const {
  std::vector<std::size_t> width(headers_.size());
  for (std::size_t i = 0; i < headers_.size(); ++i) width[i] = headers_[i].size();
  for (const auto& row : rows_)
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      std::size_t pad = width[i] - cells[i].size();
      bool last = i + 1 == cells.size();
      if (right_[i]) s.append(pad, ' ');
      s += cells[i];
      if (!right_[i] && !last) s.append(pad, ' ');
      if (!last) s += "  ";
    }
    out << s << "\n";
  };
  line(headers_);
  for (const auto& row : rows_) line(row);
}

std::uint64_t json_u64(const nlohmann::json& object, const char* field) {
  auto it = object.find(field);
  if (it == object.end()) return 0;
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  if (it->is_number_integer()) return static_cast<std::uint64_t>(std::max<std::int64_t>(0, *it));
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && end == s.data() + s.size()) return v;
  }
  return 0;
}

std::string json_string(const nlohmann::json& object, const char* field) {
  auto it = object.find(field);
  if (it == object.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

}  // namespace office::ctl
