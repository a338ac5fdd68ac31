#pragma once

#include <optional>
#include <utility>

#include "storage/database.hpp"

namespace office::storage {

namespace detail {
// Runs fn(Tx&) -> Result<T> through run(callback) (Database::write or ::read)
// and hands back the value fn produced.
template <class T, class Run, class F>
Result<T> run_value(Run&& run, F&& fn) {
  std::optional<T> out;
  Status st = run([&](Tx& tx) -> Status {
    Result<T> r = fn(tx);
    if (!r) return std::move(r).error();
    out.emplace(std::move(r).value());
    return {};
  });
  if (!st) return std::move(st).error();
  return std::move(*out);
}
}  // namespace detail

/// Runs fn(Tx&) -> Result<T> in a write transaction and returns its value;
/// commits only when fn succeeds.
template <class T, class F>
Result<T> write_value(Database& db, F&& fn) {
  return detail::run_value<T>([&db](const auto& cb) { return db.write(cb); }, std::forward<F>(fn));
}

/// Runs fn(Tx&) -> Result<T> in a read transaction and returns its value.
template <class T, class F>
Result<T> read_value(const Database& db, F&& fn) {
  return detail::run_value<T>([&db](const auto& cb) { return db.read(cb); }, std::forward<F>(fn));
}

}  // namespace office::storage
