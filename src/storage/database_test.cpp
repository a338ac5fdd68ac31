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

using testing::Backend;
using testing::BackendParamName;
using testing::count_rows;
using testing::exec_ok;
using testing::open_or_die;
using testing::TempDir;
using testing::TestDb;

// Every test here runs on SQLite and on PostgreSQL: same SQL, same results.
class DatabaseTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    test_db_ = std::make_unique<TestDb>(GetParam());
    db_ = &test_db_->db();
    exec_ok(*db_, std::string("CREATE TABLE t (id BIGINT PRIMARY KEY, i BIGINT, "
                              "f DOUBLE PRECISION, s TEXT, b ") +
                      test_db_->bytes_type() + ")");
    exec_ok(*db_, "CREATE TABLE u (id BIGINT PRIMARY KEY, email TEXT NOT NULL UNIQUE)");
  }
  std::unique_ptr<TestDb> test_db_;
  Database* db_ = nullptr;
};

INSTANTIATE_TEST_SUITE_P(Backends, DatabaseTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendParamName);

TEST_P(DatabaseTest, AllValueTypesAndNullRoundTrip) {
  const std::string with_nul("a\0b\xff", 4);
  const std::int64_t big = std::numeric_limits<std::int64_t>::max();
  const std::int64_t small = std::numeric_limits<std::int64_t>::min();
  Status st = db_->write([&](Tx& tx) -> Status {
    const char* ins = "INSERT INTO t (id, i, f, s, b) VALUES (?1, ?2, ?3, ?4, ?5)";
    for (auto r :
         {tx.exec(ins, {std::int64_t{1}, big, 1.5, std::string("héllo ✓"), Bytes{with_nul}}),
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
    EXPECT_EQ(a.bytes(4), with_nul);
    EXPECT_TRUE(std::holds_alternative<std::int64_t>(a.value(1)));
    EXPECT_TRUE(std::holds_alternative<double>(a.value(2)));
    EXPECT_TRUE(std::holds_alternative<std::string>(a.value(3)));
    EXPECT_TRUE(std::holds_alternative<Bytes>(a.value(4)));
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

TEST_P(DatabaseTest, RuntimeSizedParameterLists) {
  // An IN list and a multi-row insert built at run time.
  std::vector<Value> rows;
  std::string sql = "INSERT INTO u (id, email) VALUES ";
  for (int i = 0; i < 40; ++i) {
    if (i > 0) sql += ", ";
    sql += "(?" + std::to_string(2 * i + 1) + ", ?" + std::to_string(2 * i + 2) + ")";
    rows.emplace_back(std::int64_t{i});
    rows.emplace_back("user" + std::to_string(i) + "@x");
  }
  Status st = db_->write([&](Tx& tx) -> Status {
    auto r = tx.exec(sql, rows);
    if (!r) return r.error();
    EXPECT_EQ(*r, 40);
    return {};
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
  std::vector<Value> ids = {std::int64_t{3}, std::int64_t{5}, std::int64_t{39}, std::int64_t{99}};
  st = db_->read([&](Tx& tx) -> Status {
    auto r = tx.query("SELECT email FROM u WHERE id IN (?1, ?2, ?3, ?4) ORDER BY id", ids);
    if (!r) return r.error();
    EXPECT_EQ(r->size(), 3u);
    if (r->size() == 3) EXPECT_EQ((*r)[2].text(0), "user39@x");
    return {};
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
}

TEST_P(DatabaseTest, NullParameterMatchesIsNotDistinctFrom) {
  exec_ok(*db_, "INSERT INTO t (id, s) VALUES (1, NULL)");
  Status st = db_->read([&](Tx& tx) -> Status {
    auto row = tx.query_one("SELECT count(*) FROM t WHERE s IS NOT DISTINCT FROM ?1", {Value()});
    if (!row) return row.error();
    EXPECT_EQ((*row)->i64(0), 1);
    return {};
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
}

TEST_P(DatabaseTest, ExecReturnsChangedRowsAndQueryOneReturnsFirstOrNothing) {
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

// Runs one statement in its own write and returns what write() returned.
Status write_one(Database& db, std::string_view sql, std::initializer_list<Value> params = {}) {
  std::vector<Value> p(params);
  return db.write([&](Tx& tx) -> Status {
    auto r = tx.exec(sql, p);
    if (!r) return r.error();
    return {};
  });
}

TEST_P(DatabaseTest, UniqueAndPrimaryKeyViolationsAreAlreadyExists) {
  exec_ok(*db_, "INSERT INTO u (id, email) VALUES (1, 'a@x')");
  Status dup_email = write_one(*db_, "INSERT INTO u (id, email) VALUES (?1, ?2)",
                               {std::int64_t{2}, std::string("a@x")});
  ASSERT_FALSE(dup_email.ok());
  EXPECT_EQ(dup_email.error().code, ErrorCode::kAlreadyExists);
  Status dup_pk = write_one(*db_, "INSERT INTO u (id, email) VALUES (?1, ?2)",
                            {std::int64_t{1}, std::string("b@x")});
  ASSERT_FALSE(dup_pk.ok());
  EXPECT_EQ(dup_pk.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(count_rows(*db_, "u"), 1);
}

TEST_P(DatabaseTest, StatementsAfterAFailedStatementAreRefused) {
  // PostgreSQL aborts a transaction at its first error; SQLite would go on.
  // Both refuse, so that code tested on one behaves the same on the other.
  exec_ok(*db_, "INSERT INTO u (id, email) VALUES (1, 'a@x')");
  Status st = db_->write([](Tx& tx) -> Status {
    EXPECT_TRUE(tx.exec("INSERT INTO u (id, email) VALUES (2, 'b@x')").ok());
    auto dup = tx.exec("INSERT INTO u (id, email) VALUES (3, 'a@x')");
    EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
    auto after = tx.exec("INSERT INTO u (id, email) VALUES (4, 'c@x')");
    EXPECT_FALSE(after.ok());
    EXPECT_EQ(after.error().code, ErrorCode::kInternal);
    return {};  // ignores the failure: the unit must be rolled back all the same
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInternal);
  EXPECT_EQ(count_rows(*db_, "u"), 1);  // row 2 went with the unit
  exec_ok(*db_, "INSERT INTO u (id, email) VALUES (5, 'e@x')");
  EXPECT_EQ(count_rows(*db_, "u"), 2);
}

TEST_P(DatabaseTest, ErrorFromCallbackRollsBack) {
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

TEST_P(DatabaseTest, ExceptionFromCallbackRollsBackAndBecomesInternal) {
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

TEST_P(DatabaseTest, BadSqlIsInternalWithoutLeakingSql) {
  auto expect_internal = [&](std::string_view sql, std::initializer_list<Value> params = {}) {
    Status st = write_one(*db_, sql, params);
    ASSERT_FALSE(st.ok()) << sql;
    EXPECT_EQ(st.error().code, ErrorCode::kInternal) << sql;
    EXPECT_EQ(st.error().message, "database error") << sql;
  };
  expect_internal("INSERT INTO no_such_table VALUES (1)");
  expect_internal("SELEKT 1");
  expect_internal("   ");
  expect_internal("INSERT INTO u VALUES (1, 'a'); INSERT INTO u VALUES (2, 'b')");
  expect_internal("INSERT INTO u (id, email) VALUES (?1, ?2)", {std::int64_t{1}});
  expect_internal("INSERT INTO u (id, email) VALUES (?1, ?2)", {std::int64_t{1}, Value()});
  EXPECT_EQ(count_rows(*db_, "u"), 0);
  EXPECT_TRUE(db_->healthy());
}

TEST_P(DatabaseTest, TrailingSemicolonAndWhitespaceAreAccepted) {
  EXPECT_TRUE(write_one(*db_, "INSERT INTO u (id, email) VALUES (1, 'a');  \n").ok());
  EXPECT_EQ(count_rows(*db_, "u"), 1);
}

TEST_P(DatabaseTest, PlaceholdersInsideQuotesAndCommentsAreLeftAlone) {
  Status st = db_->write([](Tx& tx) -> Status {
    auto r =
        tx.exec("INSERT INTO u (id, email) VALUES (?1, /* ?9 */ ?2 || '?3' || 'it''s ?4') -- ?5",
                {std::int64_t{1}, std::string("x")});
    if (!r) return r.error();
    return {};
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
  st = db_->read([](Tx& tx) -> Status {
    auto r = tx.query_one("SELECT email FROM u WHERE id = 1");
    if (!r) return r.error();
    EXPECT_EQ((*r)->text(0), "x?3it's ?4");
    return {};
  });
  EXPECT_TRUE(st.ok());
}

TEST_P(DatabaseTest, ForeignKeysAreEnforced) {
  exec_ok(*db_,
          "CREATE TABLE child (id BIGINT PRIMARY KEY, u_id BIGINT NOT NULL REFERENCES u(id))");
  Status st = write_one(*db_, "INSERT INTO child (id, u_id) VALUES (1, 404)");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInternal);
}

TEST_P(DatabaseTest, ReadsCannotWrite) {
  Status st = db_->read([](Tx& tx) -> Status {
    auto r = tx.exec("INSERT INTO u (id, email) VALUES (1, 'a')");
    if (!r) return r.error();
    return {};
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInternal);
  EXPECT_EQ(count_rows(*db_, "u"), 0);
}

TEST_P(DatabaseTest, NestedWriteIsAnErrorNotADeadlock) {
  Status st =
      db_->write([&](Tx&) -> Status { return db_->write([](Tx&) -> Status { return {}; }); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInternal);
}

TEST_P(DatabaseTest, ReadSeesOneSnapshot) {
  exec_ok(*db_, "INSERT INTO u (id, email) VALUES (1, 'a')");
  Status st = db_->read([&](Tx& tx) -> Status {
    auto before = tx.query_one("SELECT count(*) FROM u");
    EXPECT_EQ((*before)->i64(0), 1);
    // A concurrent commit (the writer does not wait for this reader).
    std::thread writer([&] { exec_ok(*db_, "INSERT INTO u (id, email) VALUES (2, 'b')"); });
    writer.join();
    auto after = tx.query_one("SELECT count(*) FROM u");
    EXPECT_EQ((*after)->i64(0), 1);
    return {};
  });
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(count_rows(*db_, "u"), 2);
}

TEST_P(DatabaseTest, DataSurvivesReopen) {
  exec_ok(*db_, "INSERT INTO u (id, email) VALUES (1, 'a')");
  test_db_->reopen();
  db_ = &test_db_->db();
  EXPECT_EQ(count_rows(*db_, "u"), 1);
}

TEST_P(DatabaseTest, TransactHelpersReturnValuesAndErrors) {
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

TEST(SqliteOpenTest, PragmasAndHealth) {
  TempDir dir;
  auto db = open_or_die(dir.file("p.db"));
  EXPECT_TRUE(db->healthy());
  EXPECT_EQ(db->backend(), "sqlite");
  Status st = db->write([](Tx& tx) -> Status {
    EXPECT_EQ((*tx.query_one("PRAGMA journal_mode"))->text(0), "wal");
    EXPECT_EQ((*tx.query_one("PRAGMA foreign_keys"))->i64(0), 1);
    EXPECT_EQ((*tx.query_one("PRAGMA synchronous"))->i64(0), 2);  // FULL
    EXPECT_EQ((*tx.query_one("PRAGMA busy_timeout"))->i64(0), 5000);
    return {};
  });
  EXPECT_TRUE(st.ok());
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

TEST(PostgresOpenTest, UnreachableServerIsUnavailableAndBadUrlIsInvalid) {
  PostgresOptions o;
  o.url = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2";
  auto db = open_postgres(o);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.error().code, ErrorCode::kUnavailable);
  o.url = "postgresql://x/y?no_such_option=1";
  db = open_postgres(o);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.error().code, ErrorCode::kInvalidArgument);
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
