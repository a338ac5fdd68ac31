#include "storage/migrations.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "core/log.hpp"
#include "core/sha256.hpp"

namespace office::storage {

namespace {

// Portable DDL: the same text runs on SQLite and PostgreSQL.
constexpr std::string_view kCreateTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " module TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " name TEXT NOT NULL,"
    " checksum TEXT NOT NULL,"
    " applied_at BIGINT NOT NULL,"  // Unix seconds
    " PRIMARY KEY (module, version))";

std::string label(const Migration& m) {
  return "migration " + m.module + " v" + std::to_string(m.version) + " (" + m.name + ")";
}

std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

using Key = std::pair<std::string, std::int64_t>;

}  // namespace

std::string migration_checksum(std::string_view sql) { return sha256_hex(sql); }

Status validate_migrations(std::span<const Migration> migrations) {
  std::map<std::string, int, std::less<>> last;
  for (const Migration& m : migrations) {
    if (m.module.empty()) return Error::invalid("migration with an empty module name");
    int expected = last[m.module] + 1;
    if (m.version != expected) {
      return Error::invalid("migrations of module " + m.module + ": expected version " +
                            std::to_string(expected) + ", got " + std::to_string(m.version) +
                            " (versions must be 1, 2, 3 ... in order)");
    }
    last[m.module] = m.version;
  }
  return {};
}

Status apply_migrations(Database& db, std::span<const Migration> migrations,
                        const MigrationTransaction& transaction) {
  const std::string_view backend = db.backend();
  if (auto st = validate_migrations(migrations); !st) return st;
  if (auto st =
          transaction([](Tx&, const ScriptRunner& run_script) { return run_script(kCreateTable); });
      !st) {
    return Error{st.error().code, "cannot create schema_migrations: " + st.error().message};
  }

  std::map<Key, std::string> applied;
  std::map<std::string, std::int64_t, std::less<>> max_applied;
  if (auto st = db.read([&](Tx& tx) -> Status {
        auto rows = tx.query("SELECT module, version, checksum FROM schema_migrations");
        if (!rows) return rows.error();
        for (const Row& row : *rows) {
          applied.emplace(Key{row.text(0), row.i64(1)}, row.text(2));
          auto& mx = max_applied[row.text(0)];
          if (row.i64(1) > mx) mx = row.i64(1);
        }
        return {};
      });
      !st) {
    return st;
  }

  // Check everything before applying anything: an edited migration or a gap
  // stops start-up with the database untouched.
  std::map<std::string, int, std::less<>> listed_max;
  for (const Migration& m : migrations) {
    listed_max[m.module] = m.version;
    auto it = applied.find(Key{m.module, m.version});
    if (it != applied.end()) {
      if (it->second != migration_checksum(m.sql_for(backend))) {
        return Error{ErrorCode::kFailedPrecondition,
                     label(m) + " was changed after it was applied (checksum mismatch)"};
      }
    } else if (auto mx = max_applied.find(m.module);
               mx != max_applied.end() && m.version < mx->second) {
      return Error{ErrorCode::kFailedPrecondition, label(m) + " is not applied but version " +
                                                       std::to_string(mx->second) +
                                                       " is: migrations must be applied in order"};
    }
  }
  for (const auto& [module, mx] : max_applied) {
    auto it = listed_max.find(module);
    if (it != listed_max.end() && mx > it->second) {
      spdlog::warn("storage: schema of module {} is at version {}, newer than this binary ({})",
                   module, mx, it->second);
    }
  }

  int count = 0;
  for (const Migration& m : migrations) {
    if (applied.contains(Key{m.module, m.version})) continue;
    const std::string& sql = m.sql_for(backend);
    std::string checksum = migration_checksum(sql);
    bool skipped = false;
    Status st = transaction([&](Tx& tx, const ScriptRunner& run_script) -> Status {
      skipped = false;
      // Another process may have applied it since we looked.
      auto row =
          tx.query_one("SELECT checksum FROM schema_migrations WHERE module = ?1 AND version = ?2",
                       {m.module, std::int64_t{m.version}});
      if (!row) return row.error();
      if (*row) {
        if ((*row)->text(0) != checksum) {
          return Error{ErrorCode::kFailedPrecondition, "checksum mismatch"};
        }
        skipped = true;
        return {};
      }
      if (auto s = run_script(sql); !s) return s;
      auto ins = tx.exec(
          "INSERT INTO schema_migrations (module, version, name, checksum, applied_at)"
          " VALUES (?1, ?2, ?3, ?4, ?5)",
          {m.module, std::int64_t{m.version}, m.name, checksum, unix_seconds()});
      if (!ins) return ins.error();
      return {};
    });
    if (!st) return Error{st.error().code, label(m) + ": " + st.error().message};
    if (!skipped) {
      spdlog::info("storage: applied {}", label(m));
      ++count;
    }
  }
  if (count > 0) spdlog::info("storage: {} migration(s) applied", count);
  return {};
}

}  // namespace office::storage
