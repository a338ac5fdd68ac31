#pragma once
// Test-only helpers for tests that use a Database (not part of the library):
// temporary directories, and fresh databases on SQLite or PostgreSQL.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>

#include "storage/database.hpp"

#ifndef OFFICE_SOURCE_DIR
#error "tests are compiled with OFFICE_SOURCE_DIR (cmake/OfficeModule.cmake)"
#endif

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

/// What tests use unless they say otherwise: group commit on, and every write
/// callback rehearsed (run twice), which enforces the retry rule of
/// Database::write in every test that writes.
inline WriteOptions test_write_options() {
  WriteOptions w;
  w.rehearse = true;
  return w;
}

inline std::unique_ptr<Database> open_or_die(const std::string& path, std::size_t cache = 128,
                                             WriteOptions writes = test_write_options()) {
  SqliteOptions options;
  options.path = path;
  options.statement_cache_size = cache;
  options.writes = writes;
  auto db = open_sqlite(options);
  if (!db) throw std::runtime_error("open_sqlite failed: " + db.error().message);
  return std::move(db).value();
}

namespace detail {
// A PostgreSQL server started by this process (when ctest's fixture did not
// provide one), stopped when the process exits.
class PrivatePgServer {
 public:
  PrivatePgServer() {
    std::string cmd = script() + " start " + dir_.path().string() + " >&2";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("cannot start PostgreSQL: " + cmd);
    std::ifstream in(dir_.file("url"));
    std::getline(in, url_);
  }
  ~PrivatePgServer() {
    std::string cmd = script() + " stop " + dir_.path().string();
    (void)std::system(cmd.c_str());
  }
  const std::string& url() const { return url_; }

 private:
  static std::string script() { return std::string(OFFICE_SOURCE_DIR) + "/tests/pg/pg_server.sh"; }
  TempDir dir_;
  std::string url_;
};
}  // namespace detail

/// The test PostgreSQL server's URL: the ctest fixture's (OFFICE_TEST_PG_URL_FILE),
/// OFFICE_TEST_PG_URL, or else a server this process starts (tests/pg/pg_server.sh).
/// Throws if none can be had: a missing server fails the tests, never skips them.
inline const std::string& pg_test_url() {
  static const std::string url = [] {
    if (const char* f = std::getenv("OFFICE_TEST_PG_URL_FILE")) {
      std::ifstream in(f);
      std::string u;
      if (!std::getline(in, u) || u.empty())
        throw std::runtime_error(std::string("no PostgreSQL URL in ") + f +
                                 " (did the pg.start fixture run?)");
      return u;
    }
    if (const char* u = std::getenv("OFFICE_TEST_PG_URL")) return std::string(u);
    static detail::PrivatePgServer server;
    return server.url();
  }();
  return url;
}

enum class Backend { kSqlite, kPostgres };

inline std::string backend_name(Backend b) { return b == Backend::kSqlite ? "sqlite" : "postgres"; }

/// For INSTANTIATE_TEST_SUITE_P(..., ::testing::Values(Backend::kSqlite, Backend::kPostgres),
/// BackendParamName).
inline std::string BackendParamName(const ::testing::TestParamInfo<Backend>& info) {
  return backend_name(info.param);
}

/// A fresh, empty database: a SQLite file in a temporary directory, or a
/// schema of its own on the test PostgreSQL server (dropped afterwards).
class TestDb {
 public:
  /// pg_write_connections: PostgresOptions::write_connections (0: the default).
  explicit TestDb(Backend backend, WriteOptions writes = test_write_options(),
                  std::size_t pg_write_connections = 0)
      : backend_(backend), writes_(writes), pg_lanes_(pg_write_connections) {
    if (backend_ == Backend::kPostgres) {
      std::random_device rd;
      schema_ = "t_" + std::to_string(::getpid()) + "_" + std::to_string(rd()) +
                std::to_string(rd() % 100000);
      admin_ = open_pg(pg_test_url());
      run_admin("CREATE SCHEMA " + schema_);
    }
    db_ = open();
  }
  ~TestDb() {
    db_.reset();
    if (admin_) run_admin("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
  }
  TestDb(const TestDb&) = delete;
  TestDb& operator=(const TestDb&) = delete;

  Database& operator*() { return *db_; }
  Database* operator->() { return db_.get(); }
  Database& db() { return *db_; }
  Backend backend() const { return backend_; }

  /// Another handle on the same database (as a second process would open it).
  std::unique_ptr<Database> open(WriteOptions writes) const {
    if (backend_ == Backend::kSqlite) return open_or_die(dir_.file("test.db"), 128, writes);
    std::string url = pg_test_url();
    url += url.find('?') == std::string::npos ? "?" : "&";
    url += "options=-c%20search_path%3D" + schema_;
    return open_pg(url, writes, pg_lanes_);
  }
  std::unique_ptr<Database> open() const { return open(writes_); }
  /// Closes and reopens the database (durability across restarts).
  void reopen() {
    db_.reset();
    db_ = open();
  }
  /// The type of a binary column in this backend's DDL.
  const char* bytes_type() const { return backend_ == Backend::kSqlite ? "BLOB" : "BYTEA"; }

 private:
  static std::unique_ptr<Database> open_pg(const std::string& url,
                                           WriteOptions writes = test_write_options(),
                                           std::size_t lanes = 0) {
    PostgresOptions o;
    o.url = url;
    o.writes = writes;
    if (lanes != 0) o.write_connections = lanes;
    auto db = open_postgres(o);
    if (!db) throw std::runtime_error("open_postgres failed: " + db.error().message);
    return std::move(db).value();
  }
  void run_admin(const std::string& sql) {
    auto st = admin_->write([&](Tx& tx) -> Status {
      auto r = tx.exec(sql);
      if (!r) return r.error();
      return {};
    });
    if (!st) throw std::runtime_error(sql + ": " + st.error().message);
  }

  Backend backend_;
  WriteOptions writes_;
  std::size_t pg_lanes_;
  TempDir dir_;
  std::string schema_;
  std::unique_ptr<Database> admin_;
  std::unique_ptr<Database> db_;
};

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
