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

// Builds the DOM like nlohmann's own parser, but refuses to open a container
// past max_depth: returning false from a SAX event stops the parse at once
// (the parser itself is iterative; only the DOM's users recurse).
class BoundedDomBuilder final : public nlohmann::json_sax<nlohmann::json> {
 public:
  BoundedDomBuilder(nlohmann::json& root, std::size_t max_depth)
      : root_(root), max_depth_(max_depth) {}
  bool too_deep() const { return too_deep_; }

  bool null() override { return add(nullptr) != nullptr; }
  bool boolean(bool v) override { return add(v) != nullptr; }
  bool number_integer(number_integer_t v) override { return add(v) != nullptr; }
  bool number_unsigned(number_unsigned_t v) override { return add(v) != nullptr; }
  bool number_float(number_float_t v, const string_t&) override { return add(v) != nullptr; }
  bool string(string_t& v) override { return add(std::move(v)) != nullptr; }
  bool binary(binary_t&) override { return false; }  // not produced by JSON text
  bool start_object(std::size_t) override { return open(nlohmann::json::object()); }
  bool key(string_t& k) override {
    slot_ = &(*stack_.back())[k];  // std::map nodes do not move: the pointer stays valid
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(nlohmann::json::array()); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  // Places a value where the parser is (top level, array element or the
  // value of the last key) and returns where it went.
  template <class V>
  nlohmann::json* add(V&& v) {
    if (stack_.empty()) {
      root_ = nlohmann::json(std::forward<V>(v));
      return &root_;
    }
    nlohmann::json* parent = stack_.back();
    if (parent->is_array()) {
      // Only the innermost open container grows, so no pointer on stack_
      // points into an array that can reallocate.
      parent->emplace_back(std::forward<V>(v));
      return &parent->back();
    }
    *slot_ = nlohmann::json(std::forward<V>(v));
    return slot_;
  }
  bool open(nlohmann::json&& container) {
    if (stack_.size() >= max_depth_) {
      too_deep_ = true;
      return false;
    }
    stack_.push_back(add(std::move(container)));
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }

  nlohmann::json& root_;
  std::size_t max_depth_;
  std::vector<nlohmann::json*> stack_;
  nlohmann::json* slot_ = nullptr;
  bool too_deep_ = false;
};

}  // namespace

Result<nlohmann::json> parse_json(std::string_view text, std::size_t max_depth) {
  // nlohmann's lexer takes a NUL byte for the end of input and ignores the
  // rest; JSON has no raw NUL anywhere (inside strings it must be escaped).
  if (text.find('\0') != std::string_view::npos) return Error::invalid("not valid JSON");
  nlohmann::json root;
  BoundedDomBuilder builder(root, max_depth);
  if (nlohmann::json::sax_parse(text.begin(), text.end(), &builder)) return root;
  if (builder.too_deep())
    return Error::invalid("JSON is nested more than " + std::to_string(max_depth) + " levels deep");
  return Error::invalid("not valid JSON");
}

JsonBody::JsonBody() : json_(std::make_unique<nlohmann::json>()) {}
JsonBody::~JsonBody() = default;
JsonBody::JsonBody(JsonBody&&) noexcept = default;
JsonBody& JsonBody::operator=(JsonBody&&) noexcept = default;

Result<JsonBody> JsonBody::parse(std::string_view body,
                                 std::initializer_list<std::string_view> fields) {
  auto parsed = parse_json(body);
  if (!parsed) return Error::invalid("request body: " + parsed.error().message);
  JsonBody out;
  *out.json_ = std::move(*parsed);
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
