#include "storage/sqlite_connection.hpp"

#include <gtest/gtest.h>

#include <string>

#include "storage/test_util.hpp"

namespace office::storage {
namespace {

using testing::exec_ok;
using testing::open_or_die;
using testing::TempDir;

std::unique_ptr<SqliteConnection> open_conn(const std::string& path, std::size_t cache) {
  SqliteConnectionOptions options;
  options.path = path;
  options.statement_cache_size = cache;
  auto conn = SqliteConnection::open(options);
  if (!conn) throw std::runtime_error(conn.error().message);
  return std::move(conn).value();
}

// Each distinct SQL text must give its own answer, however often statements are
// evicted and re-prepared.
void check_distinct_statements(SqliteConnection& conn, int distinct, int rounds) {
  for (int round = 0; round < rounds; ++round) {
    for (int k = 0; k < distinct; ++k) {
      std::string sql =
          "SELECT v FROM kv WHERE k = ?1 AND " + std::to_string(k) + " = " + std::to_string(k);
      auto row = conn.query_one(sql, std::vector<Value>{std::int64_t{k}});
      ASSERT_TRUE(row.ok()) << row.error().message;
      ASSERT_TRUE(row->has_value());
      EXPECT_EQ((*row)->text(0), "v" + std::to_string(k));
    }
  }
}

class StatementCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto conn = open_conn(dir_.file("c.db"), 4);
    ASSERT_TRUE(conn->exec("CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)", {}).ok());
    for (std::int64_t k = 0; k < 20; ++k) {
      ASSERT_TRUE(conn->exec("INSERT INTO kv VALUES (?1, ?2)",
                             std::vector<Value>{k, "v" + std::to_string(k)})
                      .ok());
    }
  }
  TempDir dir_;
};

TEST_F(StatementCacheTest, EvictsLeastRecentlyUsedAndStaysCorrect) {
  auto conn = open_conn(dir_.file("c.db"), 4);
  check_distinct_statements(*conn, 20, 3);
  EXPECT_EQ(conn->cache().size(), 4u);
  EXPECT_EQ(conn->cache().hits(), 0u);  // cycling 20 > 4: every lookup misses
  EXPECT_EQ(conn->cache().misses(), 60u);

  // A working set that fits is served from the cache.
  check_distinct_statements(*conn, 4, 5);
  EXPECT_EQ(conn->cache().size(), 4u);
  EXPECT_EQ(conn->cache().misses(), 64u);
  EXPECT_EQ(conn->cache().hits(), 16u);
}

TEST_F(StatementCacheTest, RecentlyUsedEntrySurvivesEviction) {
  auto conn = open_conn(dir_.file("c.db"), 2);
  auto q = [&](const char* sql) { return conn->query_one(sql, {}).ok(); };
  ASSERT_TRUE(q("SELECT 1"));
  ASSERT_TRUE(q("SELECT 2"));
  ASSERT_TRUE(q("SELECT 1"));  // 1 is now the most recent
  ASSERT_TRUE(q("SELECT 3"));  // evicts 2
  auto misses = conn->cache().misses();
  ASSERT_TRUE(q("SELECT 1"));
  EXPECT_EQ(conn->cache().misses(), misses);
  ASSERT_TRUE(q("SELECT 2"));
  EXPECT_EQ(conn->cache().misses(), misses + 1);
}

TEST_F(StatementCacheTest, CapacityZeroStillWorks) {
  auto conn = open_conn(dir_.file("c.db"), 0);
  check_distinct_statements(*conn, 5, 2);
  EXPECT_LE(conn->cache().size(), 1u);
}

TEST_F(StatementCacheTest, FailedPrepareIsNotCached) {
  auto conn = open_conn(dir_.file("c.db"), 4);
  EXPECT_FALSE(conn->query("SELECT nope FROM kv", {}).ok());
  EXPECT_EQ(conn->cache().size(), 0u);
  // A schema change makes SQLite re-prepare cached statements transparently.
  ASSERT_TRUE(conn->query("SELECT * FROM kv", {}).ok());
  ASSERT_TRUE(conn->exec("ALTER TABLE kv ADD COLUMN extra INTEGER DEFAULT 7", {}).ok());
  auto rows = conn->query("SELECT * FROM kv", {});
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ((*rows)[0].size(), 3u);
  EXPECT_EQ((*rows)[0].i64(2), 7);
}

TEST(StatementCacheDatabaseTest, ManyDistinctStatementsThroughDatabase) {
  TempDir dir;
  auto db = open_or_die(dir.file("d.db"), /*cache=*/3);
  exec_ok(*db, "CREATE TABLE n (x INTEGER)");
  Status st = db->write([](Tx& tx) -> Status {
    for (int i = 0; i < 50; ++i) {
      std::string sql = "INSERT INTO n (x) VALUES (?1 + " + std::to_string(i) + ")";
      auto r = tx.exec(sql, {std::int64_t{1000}});
      if (!r) return r.error();
    }
    return {};
  });
  ASSERT_TRUE(st.ok());
  st = db->read([](Tx& tx) -> Status {
    for (int i = 0; i < 50; ++i) {
      std::string sql = "SELECT count(*) FROM n WHERE x = ?1 + " + std::to_string(i);
      auto row = tx.query_one(sql, {std::int64_t{1000}});
      if (!row) return row.error();
      EXPECT_EQ((*row)->i64(0), 1) << i;
    }
    return {};
  });
  ASSERT_TRUE(st.ok());
}

}  // namespace
}  // namespace office::storage
