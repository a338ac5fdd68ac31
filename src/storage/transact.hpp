#pragma once

#include <optional>
#include <utility>

#include "storage/database.hpp"

namespace office::storage {

/// Runs fn(Tx&) -> Result<T> in a write transaction and returns its value;
/// commits only when fn succeeds.
template <class T, class F>
Result<T> write_value(Database& db, F&& fn) {
  std::optional<T> out;
  Status st = db.write([&](Tx& tx) -> Status {
    Result<T> r = fn(tx);
    if (!r) return std::move(r).error();
    out.emplace(std::move(r).value());
    return {};
  });
  if (!st) return std::move(st).error();
  return std::move(*out);
}

/// Runs fn(Tx&) -> Result<T> in a read transaction and returns its value.
template <class T, class F>
Result<T> read_value(const Database& db, F&& fn) {
  std::optional<T> out;
  Status st = db.read([&](Tx& tx) -> Status {
    Result<T> r = fn(tx);
    if (!r) return std::move(r).error();
    out.emplace(std::move(r).value());
    return {};
  });
  if (!st) return std::move(st).error();
  return std::move(*out);
}

}  // namespace office::storage
