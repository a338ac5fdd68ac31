#pragma once
// Internal to storage: one libpq connection with its prepared-statement cache.

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"
#include "storage/database.hpp"

struct pg_conn;
struct pg_result;

namespace office::storage {

/// Rewrites `?N` placeholders to PostgreSQL's `$N`, leaving string literals,
/// quoted identifiers and comments alone.
std::string rewrite_placeholders(std::string_view sql);

/// Maps a SQLSTATE to an Error: 23505 -> kAlreadyExists; 40001, 40P01, 55P03,
/// 57014 and class 08 -> kUnavailable; anything else -> kInternal. Logs the
/// server's message with the SQL (never the parameters), except for
/// kAlreadyExists.
Error map_postgres_error(std::string_view sqlstate, std::string_view message, std::string_view sql);

/// One connection. Not thread-safe: used by one thread at a time.
class PgConnection {
 public:
  /// Connects (blocking). Errors: kUnavailable when the server cannot be
  /// reached or refuses; kInvalidArgument for a malformed URL.
  static Result<std::unique_ptr<PgConnection>> open(const std::string& url,
                                                    std::size_t statement_cache_size);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  Result<std::int64_t> exec(std::string_view sql, std::span<const Value> params);
  Result<std::vector<Row>> query(std::string_view sql, std::span<const Value> params);
  Result<std::optional<Row>> query_one(std::string_view sql, std::span<const Value> params);
  /// Runs parameterless statements (several allowed) with the simple query
  /// protocol: transaction control and migrations. Error messages keep the
  /// server's text (they are for operators).
  Status exec_script(std::string_view sql);
  /// The same for transaction control (BEGIN, COMMIT, SAVEPOINT ...): errors
  /// carry only the generic message, since they may reach API clients.
  Status control(std::string_view sql);

  /// PQTRANS_* of the connection: idle, in a transaction, in a failed one.
  bool in_transaction() const;
  bool in_failed_transaction() const;
  /// The connection is gone (server restart, network): reset() may bring it back.
  bool broken() const;
  /// Reconnects (dropping cached statements). False if the server is unreachable.
  bool reset();
  /// The SQLSTATE of the last failed statement ("" after success).
  const std::string& last_sqlstate() const { return last_sqlstate_; }

 private:
  struct Entry {
    std::string sql;
    std::string name;
    int params = 0;
  };
  PgConnection(pg_conn* conn, std::size_t cache_size) : conn_(conn), cache_capacity_(cache_size) {}
  // The prepared statement for sql (preparing it on a miss), or an error.
  Result<const Entry*> prepared(std::string_view sql);
  // Executes a prepared statement; nullptr with the error mapped on failure.
  pg_result* run(std::string_view sql, std::span<const Value> params, std::optional<Error>* err);
  Error fail(pg_result* res, std::string_view sql);
  Status simple(std::string_view sql, bool detailed);

  pg_conn* conn_;
  std::size_t cache_capacity_;
  std::list<Entry> lru_;  // front = most recently used
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;
  std::uint64_t next_statement_ = 1;
  std::string last_sqlstate_;
};

}  // namespace office::storage
