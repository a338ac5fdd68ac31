// Concurrency and crash-durability tests of the SQLite Database.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "storage/database.hpp"
#include "storage/test_util.hpp"

namespace office::storage {
namespace {

using testing::count_rows;
using testing::exec_ok;
using testing::open_or_die;
using testing::TempDir;

constexpr std::int64_t kAccounts = 20;
constexpr std::int64_t kInitial = 1000;

class ConcurrencyTest : public ::testing::TestWithParam<testing::Backend> {};
INSTANTIATE_TEST_SUITE_P(Backends, ConcurrencyTest,
                         ::testing::Values(testing::Backend::kSqlite, testing::Backend::kPostgres),
                         testing::BackendParamName);

// Writers move money between accounts and append to a log in the same
// transaction; readers check in one snapshot that the total never changes and
// that the log length matches the counter.
TEST_P(ConcurrencyTest, ReadersNeverSeePartialTransactions) {
  testing::TestDb test_db(GetParam());
  Database* db = &test_db.db();
  exec_ok(*db, "CREATE TABLE account (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL)");
  exec_ok(*db, "CREATE TABLE transfer_log (id BIGINT PRIMARY KEY, amount BIGINT)");
  exec_ok(*db, "CREATE TABLE counter (n BIGINT NOT NULL)");
  exec_ok(*db, "INSERT INTO counter VALUES (0)");
  ASSERT_TRUE(db->write([](Tx& tx) -> Status {
                  for (std::int64_t i = 0; i < kAccounts; ++i) {
                    auto r = tx.exec("INSERT INTO account VALUES (?1, ?2)", {i, kInitial});
                    if (!r) return r.error();
                  }
                  return {};
                }).ok());

  constexpr int kWriters = 2;
  constexpr int kTransfersPerWriter = 150;
  constexpr int kReaders = 4;
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::atomic<int> violations{0};
  std::atomic<int> errors{0};

  std::vector<std::thread> threads;
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&] {
      while (!done.load()) {
        Status st = db->read([&](Tx& tx) -> Status {
          auto sum = tx.query_one("SELECT sum(balance) FROM account");
          if (!sum) return sum.error();
          auto logged = tx.query_one("SELECT count(*) FROM transfer_log");
          if (!logged) return logged.error();
          auto n = tx.query_one("SELECT n FROM counter");
          if (!n) return n.error();
          if ((*sum)->i64(0) != kAccounts * kInitial || (*logged)->i64(0) != (*n)->i64(0)) {
            violations.fetch_add(1);
          }
          return {};
        });
        if (!st) errors.fetch_add(1);
        reads.fetch_add(1);
      }
    });
  }
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kTransfersPerWriter; ++i) {
        std::int64_t from = (i + w) % kAccounts;
        std::int64_t to = (i * 7 + 3 + w) % kAccounts;
        std::int64_t amount = 1 + i % 13;
        Status st = db->write([&](Tx& tx) -> Status {
          if (auto r = tx.exec("UPDATE account SET balance = balance - ?2 WHERE id = ?1",
                               {from, amount});
              !r) {
            return r.error();
          }
          std::this_thread::yield();  // widen the window a torn read would need
          if (auto r = tx.exec(
                  "INSERT INTO transfer_log (id, amount) SELECT n + 1, ?1 FROM counter", {amount});
              !r) {
            return r.error();
          }
          if (auto r = tx.exec("UPDATE counter SET n = n + 1"); !r) return r.error();
          if (auto r =
                  tx.exec("UPDATE account SET balance = balance + ?2 WHERE id = ?1", {to, amount});
              !r) {
            return r.error();
          }
          // Every 10th transfer is abandoned: it must leave no trace.
          if (i % 10 == 9) return Error::invalid("abandoned");
          return {};
        });
        if (!st && st.error().code != ErrorCode::kInvalidArgument) errors.fetch_add(1);
      }
    });
  }
  for (auto& t : writers) t.join();
  done.store(true);
  for (auto& t : threads) t.join();

  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(reads.load(), 0);
  const int committed = kWriters * (kTransfersPerWriter - kTransfersPerWriter / 10);
  EXPECT_EQ(count_rows(*db, "transfer_log"), committed);
}

TEST(SqliteConcurrencyTest, SeveralDatabasesAndThreadsThenDestroy) {
  TempDir dir;
  for (int round = 0; round < 3; ++round) {
    auto a = open_or_die(dir.file("a.db"));
    auto b = open_or_die(dir.file("b.db"));
    exec_ok(*a, "CREATE TABLE IF NOT EXISTS x (v INTEGER)");
    exec_ok(*b, "CREATE TABLE IF NOT EXISTS y (v INTEGER)");
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < 6; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 30; ++i) {
          Database& db = (t + i) % 2 ? *a : *b;
          const char* table = (t + i) % 2 ? "x" : "y";
          if (count_rows(db, table) < 0) failures.fetch_add(1);
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures.load(), 0);
    // a and b (and their pooled readers) are destroyed here; ASan checks for leaks.
  }
}

// ---- crash durability: the child dies with _exit(), skipping every destructor ----

int wait_child(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(SqliteDurabilityTest, KilledMidTransactionLeavesNothingPartial) {
  TempDir dir;
  const std::string path = dir.file("crash.db");
  {
    auto db = open_or_die(path);
    exec_ok(*db, "CREATE TABLE big (id INTEGER PRIMARY KEY, payload TEXT)");
    exec_ok(*db, "INSERT INTO big (id, payload) VALUES (0, 'committed before')");
  }
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    SqliteOptions options;
    options.path = path;
    auto db = open_sqlite(options);
    if (!db) _exit(10);
    (void)(*db)->write([](Tx& tx) -> Status {
      // ~8 MB, more than the page cache (brought back to SQLite's default 2
      // MiB for this): SQLite spills uncommitted pages to the WAL.
      if (!tx.query("PRAGMA cache_size=-2000")) _exit(13);
      const std::string payload(4096, 'x');
      for (std::int64_t i = 1; i <= 2000; ++i) {
        if (!tx.exec("INSERT INTO big (id, payload) VALUES (?1, ?2)", {i, payload})) _exit(11);
      }
      _exit(0);  // dies inside the transaction, never commits
    });
    _exit(12);
  }
  ASSERT_EQ(wait_child(pid), 0);
  // The uncommitted pages really reached the WAL file; recovery must ignore them.
  EXPECT_GT(std::filesystem::file_size(path + "-wal"), 4u << 20);

  auto db = open_or_die(path);
  EXPECT_EQ(count_rows(*db, "big"), 1);
  Status st = db->read([](Tx& tx) -> Status {
    auto ok = tx.query_one("PRAGMA integrity_check");
    if (!ok) return ok.error();
    EXPECT_EQ((*ok)->text(0), "ok");
    return {};
  });
  EXPECT_TRUE(st.ok());
  exec_ok(*db, "INSERT INTO big (id, payload) VALUES (1, 'after recovery')");
  EXPECT_EQ(count_rows(*db, "big"), 2);
}

// A process killed right after write() returned must find its rows on restart.
// That only proves the commit reached the operating system; surviving a power
// loss also needs the fsync that synchronous=FULL (with WAL) does on every
// COMMIT, and a test cannot cut the power. So the child also asserts those
// settings on the live writing connection: with synchronous=OFF or NORMAL, or
// without WAL, this test fails.
TEST(SqliteDurabilityTest, AcknowledgedWriteSurvivesExitAndIsFsynced) {
  TempDir dir;
  const std::string path = dir.file("commit.db");
  {
    auto db = open_or_die(path);
    exec_ok(*db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  }
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    SqliteOptions options;  // the defaults the server uses
    options.path = path;
    auto db = open_sqlite(options);
    if (!db) _exit(10);
    std::int64_t sync = -1;
    std::string journal;
    Status st = (*db)->write([&](Tx& tx) -> Status {
      auto s = tx.query_one("PRAGMA synchronous");  // on the connection that commits
      auto j = tx.query_one("PRAGMA journal_mode");
      if (!s || !j) return Error::internal("pragma");
      sync = (*s)->i64(0);
      journal = (*j)->text(0);
      for (std::int64_t i = 1; i <= 100; ++i) {
        auto r = tx.exec("INSERT INTO t (id, v) VALUES (?1, ?2)", {i, std::string("durable")});
        if (!r) return r.error();
      }
      return {};
    });
    if (sync != 2) _exit(20);  // FULL: fsync of the WAL at every COMMIT
    if (journal != "wal") _exit(21);
    _exit(st.ok() ? 0 : 11);  // acknowledged: must be there after the exit
  }
  ASSERT_EQ(wait_child(pid), 0) << "20: synchronous is not FULL; 21: not in WAL mode";
  auto db = open_or_die(path);
  EXPECT_EQ(count_rows(*db, "t"), 100);
}

// Continuous commits: the WAL is copied into the database file off the
// committer's thread, and still starts over, so it stays a few times the
// checkpoint size instead of growing with everything written.
TEST(SqliteCheckpointTest, WalStaysBoundedUnderContinuousCommits) {
  TempDir dir;
  const std::string path = dir.file("wal.db");
  SqliteOptions options;
  options.path = path;
  options.synchronous_full = false;  // no fsync per commit: the test is about the WAL's length
  options.checkpoint_pages = 200;
  auto db = open_sqlite(options);
  ASSERT_TRUE(db.ok()) << db.error().message;
  exec_ok(**db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  constexpr int kThreads = 4;
  constexpr int kRowsEach = 2500;
  const std::string value(2000, 'w');
  std::atomic<int> failures{0};
  std::atomic<bool> stop_reading{false};
  // Short reads now and then, as the server's are. (Readers that always have
  // a transaction open keep any WAL from starting over, SQLite's own
  // automatic checkpoint included.)
  std::thread reader([&] {
    while (!stop_reading.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      Status st = (*db)->read([](Tx& tx) -> Status {
        auto r = tx.query_one("SELECT length(v) FROM t WHERE id = 1");
        if (!r) return r.error();
        return {};
      });
      if (!st.ok()) ++failures;
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kThreads; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kRowsEach; ++i) {
        const std::int64_t id = static_cast<std::int64_t>(w) * kRowsEach + i + 1;
        Status st = (*db)->write([&](Tx& tx) -> Status {
          auto r = tx.exec("INSERT INTO t (id, v) VALUES (?1, ?2)", {id, value});
          if (!r) return r.error();
          return {};
        });
        if (!st.ok()) ++failures;
      }
    });
  }
  for (auto& t : writers) t.join();
  stop_reading = true;
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(count_rows(**db, "t"), kThreads * kRowsEach);
  // About 20 MB went through the WAL (5,000+ pages); a WAL that never started
  // over would be that long.
  const auto wal_bytes = std::filesystem::file_size(path + "-wal");
  // The bound is wide: under sanitizers and a loaded machine the background
  // passes lag (7.3 MB seen once in CI); a WAL that never starts over is 167 MB.
  EXPECT_LT(wal_bytes, 30u * 200 * 4200) << "WAL of " << wal_bytes << " bytes";
  EXPECT_GE((*db)->write_stats().checkpoints, 5u);
}

}  // namespace
}  // namespace office::storage
