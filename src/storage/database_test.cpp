#include "storage/database.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <thread>

#include "storage/test_util.hpp"
#include "storage/transact.hpp"

namespace office::storage {
namespace {

using testing::count_rows;
using testing::exec_ok;
using testing::open_or_die;
using testing::TempDir;

class DatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = open_or_die(dir_.file("test.db"));
    exec_ok(*db_, "CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, f REAL, s TEXT, b BLOB)");
    exec_ok(*db_, "CREATE TABLE u (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE)");
  }
  TempDir dir_;
  std::unique_ptr<Database> db_;
};

TEST_F(DatabaseTest, AllValueTypesAndNullRoundTrip) {
  const std::string with_nul("a\0b", 3);
  const std::int64_t big = std::numeric_limits<std::int64_t>::max();
  const std::int64_t small = std::numeric_limits<std::int64_t>::min();
  Status st = db_->write([&](Tx& tx) -> Status {
    const char* ins = "INSERT INTO t (id, i, f, s, b) VALUES (?1, ?2, ?3, ?4, ?5)";
    for (auto r : {tx.exec(ins, {std::int64_t{1}, big, 1.5, std::string("héllo ✓"), with_nul}),
                   tx.exec(ins, {std::int64_t{2}, small, -0.25, std::string(), Value()}),
                   tx.exec(ins, {std::int64_t{3}, Value(), Value(), Value(), Value()})}) {
      if (!r) return r.error();
      EXPECT_EQ(*r, 1);
    }
    return {};
  });
  ASSERT_TRUE(st.ok()) << st.error().message;

  st = db_->read([&](Tx& tx) -> Status {
    auto rows = tx.query("SELECT id, i, f, s, b FROM t ORDER BY id");
    if (!rows) return rows.error();
    EXPECT_EQ(rows->size(), 3u);
    const Row& a = (*rows)[0];
    EXPECT_EQ(a.size(), 5u);
    EXPECT_EQ(a.i64(1), big);
    EXPECT_DOUBLE_EQ(a.f64(2), 1.5);
    EXPECT_EQ(a.text(3), "héllo ✓");
    EXPECT_EQ(a.text(4), with_nul);
    EXPECT_TRUE(std::holds_alternative<std::int64_t>(a.value(1)));
    EXPECT_TRUE(std::holds_alternative<double>(a.value(2)));
    EXPECT_TRUE(std::holds_alternative<std::string>(a.value(3)));
    EXPECT_FALSE(a.is_null(3));
    EXPECT_TRUE(a.boolean(1));

    const Row& b = (*rows)[1];
    EXPECT_EQ(b.i64(1), small);
    EXPECT_DOUBLE_EQ(b.f64(2), -0.25);
    EXPECT_EQ(b.text(3), "");
    EXPECT_FALSE(b.is_null(3));  // empty string is not NULL
    EXPECT_EQ(b.opt_text(3), std::optional<std::string>(""));
    EXPECT_TRUE(b.is_null(4));

    const Row& c = (*rows)[2];
    for (std::size_t i = 1; i < 5; ++i) EXPECT_TRUE(c.is_null(i)) << i;
    EXPECT_EQ(c.i64(1), 0);
    EXPECT_EQ(c.opt_i64(1), std::nullopt);
    EXPECT_DOUBLE_EQ(c.f64(2), 0.0);
    EXPECT_EQ(c.text(3), "");
    EXPECT_EQ(c.opt_text(3), std::nullopt);
    EXPECT_FALSE(c.boolean(1));
    return {};
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
}

TEST_F(DatabaseTest, NullParameterMatchesIsNull) {
  exec_ok(*db_, "INSERT INTO t (id, s) VALUES (1, NULL)");
  Status st = db_->read([&](Tx& tx) -> Status {
    auto row = tx.query_one("SELECT count(*) FROM t WHERE s IS ?1", {Value()});
    if (!row) return row.error();
    EXPECT_EQ((*row)->i64(0), 1);
    return {};
  });
  ASSERT_TRUE(st.ok());
}

TEST_F(DatabaseTest, ExecReturnsChangedRowsAndQueryOneReturnsFirstOrNothing) {
  Status st = db_->write([&](Tx& tx) -> Status {
    for (std::int64_t i = 1; i <= 5; ++i) {
      if (auto r = tx.exec("INSERT INTO t (id, i) VALUES (?1, ?2)", {i, i * 10}); !r)
        return r.error();
    }
    auto changed = tx.exec("UPDATE t SET i = i + 1 WHERE id > ?1", {std::int64_t{2}});
    if (!changed) return changed.error();
    EXPECT_EQ(*changed, 3);
    auto none = tx.exec("DELETE FROM t WHERE id = ?1", {std::int64_t{99}});
    EXPECT_TRUE(none.ok());
    EXPECT_EQ(*none, 0);
    return {};
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
  st = db_->read([&](Tx& tx) -> Status {
    auto first = tx.query_one("SELECT id, i FROM t ORDER BY id DESC");
    EXPECT_TRUE(first.ok() && first->has_value());
    EXPECT_EQ((*first)->i64(0), 5);
    EXPECT_EQ((*first)->i64(1), 51);
    auto missing = tx.query_one("SELECT id FROM t WHERE id = ?1", {std::int64_t{42}});
    EXPECT_TRUE(missing.ok());
    EXPECT_FALSE(missing->has_value());
    auto empty = tx.query("SELECT id FROM t WHERE id > ?1", {std::int64_t{100}});
    EXPECT_TRUE(empty.ok() && empty->empty());
    return {};
  });
  ASSERT_TRUE(st.ok());
}

TEST_F(DatabaseTest, UniqueAndPrimaryKeyViolationsAreAlreadyExists) {
  exec_ok(*db_, "INSERT INTO u (id, email) VALUES (1, 'a@x')");
  Status st = db_->write([](Tx& tx) -> Status {
    auto dup_email =
        tx.exec("INSERT INTO u (id, email) VALUES (?1, ?2)", {std::int64_t{2}, std::string("a@x")});
    EXPECT_FALSE(dup_email.ok());
    EXPECT_EQ(dup_email.error().code, ErrorCode::kAlreadyExists);
    auto dup_pk =
        tx.exec("INSERT INTO u (id, email) VALUES (?1, ?2)", {std::int64_t{1}, std::string("b@x")});
    EXPECT_FALSE(dup_pk.ok());
    EXPECT_EQ(dup_pk.error().code, ErrorCode::kAlreadyExists);
    // Statement-level rollback only: the transaction stays usable.
    auto ok =
        tx.exec("INSERT INTO u (id, email) VALUES (?1, ?2)", {std::int64_t{3}, std::string("c@x")});
    EXPECT_TRUE(ok.ok());
    return {};
  });
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(count_rows(*db_, "u"), 2);

  // Propagated out of write() as is.
  st = db_->write([](Tx& tx) -> Status {
    auto r = tx.exec("INSERT INTO u (id, email) VALUES (9, 'a@x')");
    if (!r) return r.error();
    return {};
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kAlreadyExists);
}

TEST_F(DatabaseTest, ErrorFromCallbackRollsBack) {
  exec_ok(*db_, "INSERT INTO u (id, email) VALUES (1, 'keep@x')");
  Status st = db_->write([](Tx& tx) -> Status {
    EXPECT_TRUE(tx.exec("INSERT INTO u (id, email) VALUES (2, 'gone@x')").ok());
    EXPECT_TRUE(tx.exec("DELETE FROM u WHERE id = 1").ok());
    return Error::invalid("changed my mind");
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(st.error().message, "changed my mind");
  Status check = db_->read([](Tx& tx) -> Status {
    auto rows = tx.query("SELECT email FROM u");
    EXPECT_TRUE(rows.ok());
    EXPECT_EQ(rows->size(), 1u);
    EXPECT_EQ((*rows)[0].text(0), "keep@x");
    return {};
  });
  EXPECT_TRUE(check.ok());
}

TEST_F(DatabaseTest, ExceptionFromCallbackRollsBackAndBecomesInternal) {
  Status st = db_->write([](Tx& tx) -> Status {
    EXPECT_TRUE(tx.exec("INSERT INTO u (id, email) VALUES (2, 'gone@x')").ok());
    throw std::runtime_error("boom");
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInternal);
  EXPECT_EQ(count_rows(*db_, "u"), 0);
  Status r = db_->read([](Tx&) -> Status { throw 42; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInternal);
  // Both connections are still usable.
  exec_ok(*db_, "INSERT INTO u (id, email) VALUES (3, 'ok@x')");
  EXPECT_EQ(count_rows(*db_, "u"), 1);
}

TEST_F(DatabaseTest, BadSqlIsInternalWithoutLeakingSql) {
  Status st = db_->write([](Tx& tx) -> Status {
    auto r = tx.exec("INSERT INTO no_such_table VALUES (1)");
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kInternal);
    EXPECT_EQ(r.error().message.find("no_such_table"), std::string::npos);
    auto syntax = tx.query("SELEKT 1");
    EXPECT_EQ(syntax.error().code, ErrorCode::kInternal);
    auto empty = tx.exec("   ");
    EXPECT_EQ(empty.error().code, ErrorCode::kInternal);
    auto two = tx.exec("INSERT INTO u VALUES (1, 'a'); INSERT INTO u VALUES (2, 'b')");
    EXPECT_EQ(two.error().code, ErrorCode::kInternal);
    auto params = tx.exec("INSERT INTO u (id, email) VALUES (?1, ?2)", {std::int64_t{1}});
    EXPECT_EQ(params.error().code, ErrorCode::kInternal);
    auto not_null =
        tx.exec("INSERT INTO u (id, email) VALUES (?1, ?2)", {std::int64_t{1}, Value()});
    EXPECT_EQ(not_null.error().code, ErrorCode::kInternal);
    return {};
  });
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(count_rows(*db_, "u"), 0);
  EXPECT_TRUE(db_->healthy());
}

TEST_F(DatabaseTest, TrailingSemicolonAndWhitespaceAreAccepted) {
  Status st = db_->write([](Tx& tx) -> Status {
    auto r = tx.exec("INSERT INTO u (id, email) VALUES (1, 'a');  \n");
    if (!r) return r.error();
    return {};
  });
  EXPECT_TRUE(st.ok());
}

TEST_F(DatabaseTest, ForeignKeysAreEnforced) {
  exec_ok(*db_,
          "CREATE TABLE child (id INTEGER PRIMARY KEY, u_id INTEGER NOT NULL REFERENCES u(id))");
  Status st = db_->write([](Tx& tx) -> Status {
    auto r = tx.exec("INSERT INTO child (id, u_id) VALUES (1, 404)");
    if (!r) return r.error();
    return {};
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInternal);
}

TEST_F(DatabaseTest, ReadsCannotWrite) {
  Status st = db_->read([](Tx& tx) -> Status {
    auto r = tx.exec("INSERT INTO u (id, email) VALUES (1, 'a')");
    if (!r) return r.error();
    return {};
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInternal);
  EXPECT_EQ(count_rows(*db_, "u"), 0);
}

TEST_F(DatabaseTest, NestedWriteIsAnErrorNotADeadlock) {
  Status st =
      db_->write([&](Tx&) -> Status { return db_->write([](Tx&) -> Status { return {}; }); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInternal);
}

TEST_F(DatabaseTest, ReadSeesOneSnapshot) {
  exec_ok(*db_, "INSERT INTO u (id, email) VALUES (1, 'a')");
  Status st = db_->read([&](Tx& tx) -> Status {
    auto before = tx.query_one("SELECT count(*) FROM u");
    EXPECT_EQ((*before)->i64(0), 1);
    // A concurrent commit (WAL: the writer does not wait for this reader).
    std::thread writer([&] { exec_ok(*db_, "INSERT INTO u (id, email) VALUES (2, 'b')"); });
    writer.join();
    auto after = tx.query_one("SELECT count(*) FROM u");
    EXPECT_EQ((*after)->i64(0), 1);
    return {};
  });
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(count_rows(*db_, "u"), 2);
}

TEST_F(DatabaseTest, PragmasAndHealth) {
  EXPECT_TRUE(db_->healthy());
  EXPECT_EQ(db_->backend(), "sqlite");
  Status st = db_->write([](Tx& tx) -> Status {
    EXPECT_EQ((*tx.query_one("PRAGMA journal_mode"))->text(0), "wal");
    EXPECT_EQ((*tx.query_one("PRAGMA foreign_keys"))->i64(0), 1);
    EXPECT_EQ((*tx.query_one("PRAGMA synchronous"))->i64(0), 2);  // FULL
    EXPECT_EQ((*tx.query_one("PRAGMA busy_timeout"))->i64(0), 5000);
    return {};
  });
  EXPECT_TRUE(st.ok());
}

TEST_F(DatabaseTest, TransactHelpersReturnValuesAndErrors) {
  auto id = write_value<std::int64_t>(*db_, [](Tx& tx) -> Result<std::int64_t> {
    if (auto r = tx.exec("INSERT INTO u (id, email) VALUES (7, 'h@x')"); !r) return r.error();
    return std::int64_t{7};
  });
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 7);
  auto email = read_value<std::string>(*db_, [](Tx& tx) -> Result<std::string> {
    auto row = tx.query_one("SELECT email FROM u WHERE id = ?1", {std::int64_t{7}});
    if (!row) return row.error();
    if (!*row) return Error::not_found("no user");
    return (*row)->text(0);
  });
  ASSERT_TRUE(email.ok());
  EXPECT_EQ(*email, "h@x");
  auto dup = write_value<std::int64_t>(*db_, [](Tx& tx) -> Result<std::int64_t> {
    auto r = tx.exec("INSERT INTO u (id, email) VALUES (8, 'h@x')");
    if (!r) return r.error();
    return *r;
  });
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
}

TEST(SqliteOpenTest, SynchronousNormalIsOptional) {
  TempDir dir;
  SqliteOptions options;
  options.path = dir.file("n.db");
  options.synchronous_full = false;
  options.busy_timeout_ms = 250;
  auto db = open_sqlite(options);
  ASSERT_TRUE(db.ok());
  Status st = (*db)->write([](Tx& tx) -> Status {
    EXPECT_EQ((*tx.query_one("PRAGMA synchronous"))->i64(0), 1);  // NORMAL
    EXPECT_EQ((*tx.query_one("PRAGMA busy_timeout"))->i64(0), 250);
    return {};
  });
  EXPECT_TRUE(st.ok());
}

TEST(SqliteOpenTest, DataSurvivesReopen) {
  TempDir dir;
  {
    auto db = open_or_die(dir.file("p.db"));
    exec_ok(*db, "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)");
    exec_ok(*db, "INSERT INTO kv VALUES ('a', 'b')");
  }
  auto db = open_or_die(dir.file("p.db"));
  EXPECT_EQ(count_rows(*db, "kv"), 1);
}

TEST(SqliteOpenTest, NonDatabaseFileIsUnavailable) {
  TempDir dir;
  std::string path = dir.file("garbage.db");
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 1000; ++i) out << "this is definitely not a sqlite database\n";
  }
  SqliteOptions options;
  options.path = path;
  auto db = open_sqlite(options);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.error().code, ErrorCode::kUnavailable);
}

TEST(SqliteOpenTest, MissingDirectoryIsUnavailable) {
  TempDir dir;
  SqliteOptions options;
  options.path = dir.file("no/such/dir/x.db");
  auto db = open_sqlite(options);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.error().code, ErrorCode::kUnavailable);
}

TEST(SqliteOpenTest, MemoryAndEmptyPathsAreRejected) {
  for (const char* p : {"", ":memory:", "file::memory:"}) {
    SqliteOptions options;
    options.path = p;
    auto db = open_sqlite(options);
    ASSERT_FALSE(db.ok()) << p;
    EXPECT_EQ(db.error().code, ErrorCode::kInvalidArgument) << p;
  }
}

}  // namespace
}  // namespace office::storage
