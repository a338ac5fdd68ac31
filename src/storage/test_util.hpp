#pragma once
// Test-only helpers for the storage tests (not part of the library).

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "storage/database.hpp"

namespace office::storage::testing {

/// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "office-storage-XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    if (p == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::unique_ptr<Database> open_or_die(const std::string& path, std::size_t cache = 128) {
  SqliteOptions options;
  options.path = path;
  options.statement_cache_size = cache;
  auto db = open_sqlite(options);
  if (!db) throw std::runtime_error("open_sqlite failed: " + db.error().message);
  return std::move(db).value();
}

/// Runs one statement in its own write transaction; fails the test on error.
inline void exec_ok(Database& db, std::string_view sql) {
  Status st = db.write([&](Tx& tx) -> Status {
    auto r = tx.exec(sql);
    if (!r) return r.error();
    return {};
  });
  ASSERT_TRUE(st.ok()) << st.error().message << " for: " << sql;
}

/// SELECT count(*) of a table, in its own read transaction (-1 on error).
inline std::int64_t count_rows(const Database& db, const std::string& table) {
  std::int64_t n = -1;
  Status st = db.read([&](Tx& tx) -> Status {
    auto row = tx.query_one("SELECT count(*) FROM " + table);
    if (!row) return row.error();
    n = (*row)->i64(0);
    return {};
  });
  return st.ok() ? n : -1;
}

}  // namespace office::storage::testing
