#include "storage/database.hpp"

#include <cassert>

namespace office::storage {

namespace {
const std::string kEmpty;
}  // namespace

bool Row::is_null(std::size_t i) const {
  assert(i < values_.size());
  return std::holds_alternative<std::monostate>(values_[i]);
}

std::int64_t Row::i64(std::size_t i) const {
  assert(i < values_.size());
  const Value& v = values_[i];
  if (const auto* x = std::get_if<std::int64_t>(&v)) return *x;
  // A REAL column read as an integer (e.g. avg()) truncates, as a cast would.
  if (const auto* x = std::get_if<double>(&v)) return static_cast<std::int64_t>(*x);
  assert(std::holds_alternative<std::monostate>(v) && "i64() on a text column");
  return 0;
}

std::optional<std::int64_t> Row::opt_i64(std::size_t i) const {
  if (is_null(i)) return std::nullopt;
  return i64(i);
}

double Row::f64(std::size_t i) const {
  assert(i < values_.size());
  const Value& v = values_[i];
  if (const auto* x = std::get_if<double>(&v)) return *x;
  if (const auto* x = std::get_if<std::int64_t>(&v)) return static_cast<double>(*x);
  assert(std::holds_alternative<std::monostate>(v) && "f64() on a text column");
  return 0.0;
}

const std::string& Row::text(std::size_t i) const {
  assert(i < values_.size());
  if (const auto* x = std::get_if<std::string>(&values_[i])) return *x;
  assert(std::holds_alternative<std::monostate>(values_[i]) && "text() on a numeric column");
  return kEmpty;
}

const std::string& Row::bytes(std::size_t i) const {
  assert(i < values_.size());
  if (const auto* x = std::get_if<Bytes>(&values_[i])) return x->data;
  if (const auto* x = std::get_if<std::string>(&values_[i])) return *x;
  assert(std::holds_alternative<std::monostate>(values_[i]) && "bytes() on a numeric column");
  return kEmpty;
}

std::optional<std::string> Row::opt_text(std::size_t i) const {
  if (is_null(i)) return std::nullopt;
  return text(i);
}

}  // namespace office::storage
