#include "storage/migrations.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "storage/test_util.hpp"

namespace office::storage {
namespace {

using testing::Backend;
using testing::BackendParamName;
using testing::count_rows;
using testing::exec_ok;
using testing::TestDb;

std::vector<Migration> identity_v1_v2() {
  return {
      {"identity", 1, "users",
       "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE);\n"
       "CREATE INDEX users_email ON users (email);\n"
       "INSERT INTO users (id, email) VALUES ('root', 'root@localhost');"},
      {"identity", 2, "sessions",
       "CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id))"},
  };
}

// On SQLite and PostgreSQL alike.
class MigrationsTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    test_db_ = std::make_unique<TestDb>(GetParam());
    db_ = &test_db_->db();
  }
  std::vector<Row> applied() {
    std::vector<Row> rows;
    Status st = db_->read([&](Tx& tx) -> Status {
      auto r = tx.query(
          "SELECT module, version, name, checksum, applied_at FROM schema_migrations"
          " ORDER BY module, version");
      if (!r) return r.error();
      rows = std::move(*r);
      return {};
    });
    EXPECT_TRUE(st.ok());
    return rows;
  }
  std::unique_ptr<TestDb> test_db_;
  Database* db_ = nullptr;
};

INSTANTIATE_TEST_SUITE_P(Backends, MigrationsTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendParamName);

TEST(MigrationChecksumTest, IsHexSha256) {
  EXPECT_EQ(migration_checksum(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_NE(migration_checksum("CREATE TABLE a (x)"), migration_checksum("CREATE TABLE a (y)"));
}

TEST_P(MigrationsTest, AppliesMultiStatementMigrationsAndRecordsThem) {
  auto ms = identity_v1_v2();
  ms.push_back({"chat", 1, "channels", "CREATE TABLE channels (id TEXT PRIMARY KEY)"});
  Status st = db_->migrate(ms);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(count_rows(*db_, "users"), 1);
  EXPECT_EQ(count_rows(*db_, "sessions"), 0);
  EXPECT_EQ(count_rows(*db_, "channels"), 0);
  auto rows = applied();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].text(0), "chat");
  EXPECT_EQ(rows[1].text(0), "identity");
  EXPECT_EQ(rows[1].i64(1), 1);
  EXPECT_EQ(rows[1].text(2), "users");
  EXPECT_EQ(rows[1].text(3), migration_checksum(ms[0].sql));
  EXPECT_GT(rows[1].i64(4), 1'600'000'000);
  EXPECT_EQ(rows[2].i64(1), 2);
}

TEST_P(MigrationsTest, RerunIsIdempotentAndAppliesOnlyNewOnes) {
  auto ms = identity_v1_v2();
  ASSERT_TRUE(db_->migrate(ms).ok());
  ASSERT_TRUE(db_->migrate(ms).ok());  // the INSERT in v1 must not run twice
  EXPECT_EQ(count_rows(*db_, "users"), 1);

  // Reopen (a restart) with one more migration.
  test_db_->reopen();
  db_ = &test_db_->db();
  ms.push_back(
      {"identity", 3, "more users", "INSERT INTO users (id, email) VALUES ('u2', 'u2@localhost')"});
  ASSERT_TRUE(db_->migrate(ms).ok());
  EXPECT_EQ(count_rows(*db_, "users"), 2);
  EXPECT_EQ(applied().size(), 3u);
}

TEST_P(MigrationsTest, ChangedAppliedMigrationIsRefusedNamingModuleAndVersion) {
  auto ms = identity_v1_v2();
  ASSERT_TRUE(db_->migrate(ms).ok());
  ms[1].sql += ";\nCREATE INDEX sessions_user ON sessions (user_id)";
  ms.push_back({"identity", 3, "never", "CREATE TABLE never_applied (x INTEGER)"});
  Status st = db_->migrate(ms);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(st.error().message.find("identity v2"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("checksum"), std::string::npos);
  // Nothing after the check ran.
  EXPECT_EQ(count_rows(*db_, "never_applied"), -1);
  EXPECT_EQ(applied().size(), 2u);
}

TEST_P(MigrationsTest, VersionsMustBeInOrderWithoutGaps) {
  auto ms = identity_v1_v2();
  std::swap(ms[0], ms[1]);
  Status st = db_->migrate(ms);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(st.error().message.find("identity"), std::string::npos);

  ms = identity_v1_v2();
  ms[1].version = 3;
  st = db_->migrate(ms);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);

  ms = identity_v1_v2();
  ms.push_back(ms[1]);  // duplicate v2
  EXPECT_FALSE(db_->migrate(ms).ok());
  EXPECT_EQ(count_rows(*db_, "users"), -1);  // validated before anything ran

  ms = {{"", 1, "x", "SELECT 1"}};
  EXPECT_EQ(db_->migrate(ms).error().code, ErrorCode::kInvalidArgument);
}

TEST_P(MigrationsTest, PendingVersionOlderThanAnAppliedOneIsRefused) {
  auto ms = identity_v1_v2();
  ASSERT_TRUE(db_->migrate(std::span(ms).first(1)).ok());
  // Simulate a database where v3 got applied without v2.
  exec_ok(*db_,
          "INSERT INTO schema_migrations (module, version, name, checksum, applied_at)"
          " VALUES ('identity', 3, 'x', 'x', 0)");
  Status st = db_->migrate(ms);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(st.error().message.find("identity v2"), std::string::npos) << st.error().message;
  EXPECT_EQ(count_rows(*db_, "sessions"), -1);
}

TEST_P(MigrationsTest, FailingMigrationRollsBackItselfOnly) {
  std::vector<Migration> ms = {
      {"docs", 1, "ok", "CREATE TABLE docs (id TEXT PRIMARY KEY)"},
      {"docs", 2, "broken",
       "CREATE TABLE half (id INTEGER);\nINSERT INTO half VALUES (1);\nCREATE TABLE oops (;"},
  };
  Status st = db_->migrate(ms);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInternal);
  EXPECT_NE(st.error().message.find("docs v2"), std::string::npos) << st.error().message;
  EXPECT_EQ(count_rows(*db_, "docs"), 0);   // v1 committed
  EXPECT_EQ(count_rows(*db_, "half"), -1);  // v2 rolled back entirely
  auto rows = applied();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].i64(1), 1);

  // Fixing the migration lets start-up continue.
  ms[1].sql = "CREATE TABLE half (id INTEGER);\nINSERT INTO half VALUES (1);";
  ASSERT_TRUE(db_->migrate(ms).ok());
  EXPECT_EQ(count_rows(*db_, "half"), 1);
}

TEST_P(MigrationsTest, EachBackendRunsItsOwnVersionOfAStep) {
  std::vector<Migration> ms = {
      {"m", 1, "table", "CREATE TABLE w (id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL)"},
      {"m", 2, "64-bit times", "-- SQLite's INTEGER holds 64 bits already",
       "ALTER TABLE w ALTER COLUMN at_ms TYPE BIGINT"},
  };
  Status st = db_->migrate(ms);
  ASSERT_TRUE(st.ok()) << st.error().message;
  // A millisecond time of today does not fit 32 bits.
  exec_ok(*db_, "INSERT INTO w (id, at_ms) VALUES ('a', 1767225600000)");
  auto rows = applied();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].text(3), migration_checksum(ms[1].sql_for(db_->backend())));
  // Checked against the same text on the next start.
  EXPECT_TRUE(db_->migrate(ms).ok());
}

TEST_P(MigrationsTest, EmptyListCreatesOnlyTheTable) {
  ASSERT_TRUE(db_->migrate({}).ok());
  EXPECT_EQ(count_rows(*db_, "schema_migrations"), 0);
}

}  // namespace
}  // namespace office::storage
