#include "core/json_body.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdlib>
#include <ctime>

namespace office {

namespace {
std::string snake(std::string_view camel) {
  std::string out;
  for (char c : camel) {
    if (c >= 'A' && c <= 'Z') {
      out += '_';
      out += static_cast<char>(c - 'A' + 'a');
    } else {
      out += c;
    }
  }
  return out;
}
}  // namespace

JsonBody::JsonBody() : json_(std::make_unique<nlohmann::json>()) {}
JsonBody::~JsonBody() = default;
JsonBody::JsonBody(JsonBody&&) noexcept = default;
JsonBody& JsonBody::operator=(JsonBody&&) noexcept = default;

Result<JsonBody> JsonBody::parse(std::string_view body,
                                 std::initializer_list<std::string_view> fields) {
  JsonBody out;
  *out.json_ = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (out.json_->is_discarded()) return Error::invalid("request body is not valid JSON");
  if (!out.json_->is_object()) return Error::invalid("request body must be a JSON object");
  for (const auto& [key, value] : out.json_->items()) {
    bool known = false;
    for (auto f : fields) known = known || key == f || key == snake(f);
    if (!known) return Error::invalid("unknown field '" + key + "'");
  }
  return out;
}

const nlohmann::json* JsonBody::find(std::string_view field) const {
  auto it = json_->find(std::string(field));
  if (it == json_->end()) it = json_->find(snake(field));
  if (it == json_->end() || it->is_null()) return nullptr;
  return &*it;
}

Result<std::optional<std::string>> JsonBody::opt_string(std::string_view field) const {
  const auto* v = find(field);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string()) return Error::invalid("field '" + std::string(field) + "' must be a string");
  return std::optional<std::string>(v->get<std::string>());
}

Result<std::string> JsonBody::string(std::string_view field) const {
  auto v = opt_string(field);
  if (!v) return v.error();
  if (!*v) return Error::invalid("field '" + std::string(field) + "' is required");
  return std::move(**v);
}

Result<std::optional<bool>> JsonBody::opt_bool(std::string_view field) const {
  const auto* v = find(field);
  if (v == nullptr) return std::optional<bool>();
  if (!v->is_boolean())
    return Error::invalid("field '" + std::string(field) + "' must be true or false");
  return std::optional<bool>(v->get<bool>());
}

Result<std::optional<std::int64_t>> JsonBody::opt_int(std::string_view field) const {
  const auto* v = find(field);
  if (v == nullptr) return std::optional<std::int64_t>();
  // proto3 JSON allows integers as numbers or decimal strings.
  if (v->is_number_integer()) return std::optional<std::int64_t>(v->get<std::int64_t>());
  if (v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    char* end = nullptr;
    errno = 0;
    long long n = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && end == s.c_str() + s.size() && errno == 0)
      return std::optional<std::int64_t>(n);
  }
  return Error::invalid("field '" + std::string(field) + "' must be an integer");
}

Result<std::vector<std::string>> JsonBody::string_list(std::string_view field) const {
  const auto* v = find(field);
  std::vector<std::string> out;
  if (v == nullptr) return out;
  if (!v->is_array())
    return Error::invalid("field '" + std::string(field) + "' must be a list of strings");
  for (const auto& e : *v) {
    if (!e.is_string())
      return Error::invalid("field '" + std::string(field) + "' must be a list of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::string rfc3339_ms(std::int64_t unix_ms) {
  std::string out;
  append_rfc3339_ms(out, unix_ms);
  return out;
}

void append_rfc3339_ms(std::string& to, std::int64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  // "YYYY-MM-DDTHH:MM:SS.mmmZ", digits written directly (snprintf showed in profiles).
  char out[] = "0000-00-00T00:00:00.000Z";
  auto put = [&out](std::size_t pos, int value, int width) {
    for (int i = width - 1; i >= 0; --i) {
      out[pos + static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
  };
  put(0, tm.tm_year + 1900, 4);
  put(5, tm.tm_mon + 1, 2);
  put(8, tm.tm_mday, 2);
  put(11, tm.tm_hour, 2);
  put(14, tm.tm_min, 2);
  put(17, tm.tm_sec, 2);
  put(20, static_cast<int>(unix_ms % 1000), 3);
  to.append(out, sizeof out - 1);
}

}  // namespace office
