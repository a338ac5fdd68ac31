#include "ot/json_codec.hpp"

#include <cmath>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "ot/utf8.hpp"

namespace office::ot {
namespace {

constexpr std::uint64_t kMaxSafeInteger = (std::uint64_t{1} << 53) - 1;

// A JSON number as a count: integral, finite, 0..2^53-1.
Result<std::uint64_t> count_from_json(const nlohmann::json& j, const char* what) {
  if (j.is_number_unsigned()) {
    const auto v = j.get<std::uint64_t>();
    if (v > kMaxSafeInteger) return Error::invalid(std::string(what) + " is too large");
    return v;
  }
  if (j.is_number_integer()) {
    const auto v = j.get<std::int64_t>();
    if (v < 0) return Error::invalid(std::string(what) + " must be >0");
    return static_cast<std::uint64_t>(v);
  }
  const double d = j.get<double>();
  if (!std::isfinite(d) || d != std::floor(d)) {
    return Error::invalid(std::string(what) + " must be an integer");
  }
  if (d < 0) return Error::invalid(std::string(what) + " must be >0");
  if (d > static_cast<double>(kMaxSafeInteger))
    return Error::invalid(std::string(what) + " is too large");
  return static_cast<std::uint64_t>(d);
}

Result<std::string_view> text_from_json(const nlohmann::json& j) {
  const auto& s = j.get_ref<const std::string&>();
  if (!utf8::valid(s)) return Error::invalid("Strings must be valid UTF-8");
  return std::string_view(s);
}

}  // namespace

Result<Op> op_from_json(const nlohmann::json& j) {
  if (!j.is_array()) return Error::invalid("Op must be an array of components");
  Op op;
  op.reserve(j.size());
  for (const nlohmann::json& c : j) {
    if (c.is_number()) {
      auto n = count_from_json(c, "Skip components");
      if (!n) return std::move(n).error();
      op.push_back(Component::skip(*n));
    } else if (c.is_string()) {
      auto s = text_from_json(c);
      if (!s) return std::move(s).error();
      op.push_back(Component::insert(*s));
    } else if (c.is_object()) {
      const auto it = c.find("d");
      if (it == c.end() || c.size() != 1) {
        return Error::invalid("Delete must be number or string");
      }
      if (it->is_number()) {
        auto n = count_from_json(*it, "Deletes");
        if (!n) return std::move(n).error();
        op.push_back(Component::del(*n));
      } else if (it->is_string()) {
        auto s = text_from_json(*it);
        if (!s) return std::move(s).error();
        op.push_back(Component::del_text(*s));
      } else {
        return Error::invalid("Delete must be number or string");
      }
    } else {
      return Error::invalid("Invalid op component: " + std::string(c.type_name()));
    }
  }
  return op;
}

Result<Op> parse_op(std::string_view json_text) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error::invalid("Op is not valid JSON");
  return op_from_json(j);
}

nlohmann::json op_to_json(const Op& op) {
  nlohmann::json out = nlohmann::json::array();
  for (const Component& c : op) {
    switch (c.kind) {
      case Kind::kSkip:
        out.push_back(c.len);
        break;
      case Kind::kInsert:
        out.push_back(c.text);
        break;
      case Kind::kDelete:
        if (c.has_text) {
          out.push_back({{"d", c.text}});
        } else {
          out.push_back({{"d", c.len}});
        }
        break;
    }
  }
  return out;
}

std::string dump_op(const Op& op) { return op_to_json(op).dump(); }

}  // namespace office::ot
