// Group commit and the retry rule, on SQLite and PostgreSQL.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "storage/database.hpp"
#include "storage/test_util.hpp"
#include "storage/transact.hpp"

namespace office::storage {
namespace {

using testing::Backend;
using testing::BackendParamName;
using testing::count_rows;
using testing::exec_ok;
using testing::TestDb;

using namespace std::chrono_literals;

class GroupCommitTest : public ::testing::TestWithParam<Backend> {};

INSTANTIATE_TEST_SUITE_P(Backends, GroupCommitTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendParamName);

// Polls until cond holds (10 s at most; the caller asserts on the outcome).
template <class F>
bool eventually(F cond) {
  for (int i = 0; i < 2000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return cond();
}

Status insert(Database& db, std::int64_t id) {
  return db.write([id](Tx& tx) -> Status {
    auto r = tx.exec("INSERT INTO g (id) VALUES (?1)", {id});
    if (!r) return r.error();
    return {};
  });
}

// The first writer's callback holds the committer until every other writer
// is queued behind it; they then all run in the next transaction together.
struct HeldBatch {
  static constexpr int kWriters = 12;
  std::vector<Status> results = std::vector<Status>(kWriters);

  template <class UnitFn>
  void run(Database& db, UnitFn unit) {
    std::atomic<bool> first_inside{false};
    std::vector<std::thread> threads;
    threads.emplace_back([&] {
      results[0] = db.write([&](Tx& tx) -> Status {
        auto r = tx.exec("INSERT INTO g (id) VALUES (0)");
        if (!r) return r.error();
        first_inside = true;
        EXPECT_TRUE(eventually([&] { return db.write_stats().waiting >= kWriters - 1; }));
        return {};
      });
    });
    ASSERT_TRUE(eventually([&] { return first_inside.load(); }));
    for (int i = 1; i < kWriters; ++i)
      threads.emplace_back(
          [&, i] { results[i] = db.write([&, i](Tx& tx) { return unit(tx, i); }); });
    for (auto& t : threads) t.join();
  }
};

TEST_P(GroupCommitTest, ConcurrentWritesShareOneTransaction) {
  TestDb db(GetParam(), testing::test_write_options(), /*pg_write_connections=*/1);
  exec_ok(*db, "CREATE TABLE g (id BIGINT PRIMARY KEY)");
  auto before = db->write_stats();
  HeldBatch batch;
  batch.run(*db, [](Tx& tx, int i) -> Status {
    auto r = tx.exec("INSERT INTO g (id) VALUES (?1)", {std::int64_t{i}});
    if (!r) return r.error();
    return {};
  });
  for (int i = 0; i < HeldBatch::kWriters; ++i) EXPECT_TRUE(batch.results[i].ok()) << i;
  auto after = db->write_stats();
  EXPECT_EQ(after.units - before.units, static_cast<std::uint64_t>(HeldBatch::kWriters));
  // The first unit's transaction, then one COMMIT (one fsync) for all the others.
  EXPECT_EQ(after.batches - before.batches, 2u);
  EXPECT_EQ(count_rows(*db, "g"), HeldBatch::kWriters);
}

TEST_P(GroupCommitTest, AFailingUnitIsRolledBackAloneAndTheOthersCommit) {
  TestDb db(GetParam(), testing::test_write_options(), 1);
  exec_ok(*db, "CREATE TABLE g (id BIGINT PRIMARY KEY)");
  HeldBatch batch;
  batch.run(*db, [](Tx& tx, int i) -> Status {
    if (i == 5) {  // a constraint violation in the middle of the batch
      auto r = tx.exec("INSERT INTO g (id) VALUES (0)");
      if (!r) return r.error();
      return {};
    }
    auto r = tx.exec("INSERT INTO g (id) VALUES (?1)", {std::int64_t{i}});
    if (!r) return r.error();
    if (i == 7) return Error::invalid("unit 7 changed its mind");  // after writing
    return {};
  });
  for (int i = 0; i < HeldBatch::kWriters; ++i) {
    if (i == 5) {
      ASSERT_FALSE(batch.results[i].ok());
      EXPECT_EQ(batch.results[i].error().code, ErrorCode::kAlreadyExists);
    } else if (i == 7) {
      ASSERT_FALSE(batch.results[i].ok());
      EXPECT_EQ(batch.results[i].error().code, ErrorCode::kInvalidArgument);
    } else {
      EXPECT_TRUE(batch.results[i].ok()) << i << ": " << batch.results[i].error().message;
    }
  }
  EXPECT_EQ(count_rows(*db, "g"), HeldBatch::kWriters - 2);
  Status st = db->read([](Tx& tx) -> Status {
    auto r = tx.query_one("SELECT count(*) FROM g WHERE id = 7");
    if (!r) return r.error();
    EXPECT_EQ((*r)->i64(0), 0);
    return {};
  });
  EXPECT_TRUE(st.ok());
}

TEST_P(GroupCommitTest, MaxBatchOneCommitsEveryWriteAlone) {
  WriteOptions w;
  w.max_batch = 1;
  TestDb db(GetParam(), w, 1);
  exec_ok(*db, "CREATE TABLE g (id BIGINT PRIMARY KEY)");
  auto before = db->write_stats();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) EXPECT_TRUE(insert(*db, t * 100 + i).ok());
    });
  for (auto& t : threads) t.join();
  auto after = db->write_stats();
  EXPECT_EQ(after.units - before.units, 100u);
  EXPECT_EQ(after.batches - before.batches, 100u);
  EXPECT_EQ(count_rows(*db, "g"), 100);
  EXPECT_EQ(insert(*db, 0).error().code, ErrorCode::kAlreadyExists);  // alone, without a savepoint
  EXPECT_TRUE(insert(*db, 1000).ok());
}

TEST_P(GroupCommitTest, ManyConcurrentWritersWithFailuresLoseNothing) {
  TestDb db(GetParam());
  exec_ok(*db, "CREATE TABLE g (id BIGINT PRIMARY KEY)");
  constexpr int kThreads = 16;
  constexpr int kEach = 40;
  std::atomic<int> ok{0};
  std::atomic<int> dup{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // Every fourth id is shared by two threads: exactly one insert of it wins.
        std::int64_t id = (i % 4 == 0) ? 100000 + (t / 2) * kEach + i : t * kEach + i;
        Status st = insert(*db, id);
        if (st) {
          ++ok;
        } else if (st.error().code == ErrorCode::kAlreadyExists) {
          ++dup;
        } else {
          ADD_FAILURE() << st.error().message;
        }
      }
    });
  for (auto& t : threads) t.join();
  const int shared = kThreads / 2 * (kEach / 4);
  EXPECT_EQ(dup.load(), shared);
  EXPECT_EQ(ok.load(), kThreads * kEach - shared);
  EXPECT_EQ(count_rows(*db, "g"), ok.load());
  auto stats = db->write_stats();
  EXPECT_GE(stats.units, static_cast<std::uint64_t>(ok.load()));
}

TEST_P(GroupCommitTest, RehearsalRunsTheCallbackTwiceAndKeepsOneEffect) {
  // The rehearsal is how tests enforce the retry rule: a callback that keeps
  // state from a run that was rolled back gives a visibly wrong answer.
  TestDb db(GetParam());  // rehearse = true
  exec_ok(*db, "CREATE TABLE g (id BIGINT PRIMARY KEY)");
  int runs = 0;
  std::vector<std::int64_t> accumulated;  // breaks the rule
  std::int64_t assigned = 0;              // follows it
  Status st = db->write([&](Tx& tx) -> Status {
    ++runs;
    auto r = tx.exec("INSERT INTO g (id) VALUES (42)");
    if (!r) return r.error();
    auto n = tx.query_one("SELECT count(*) FROM g");
    if (!n) return n.error();
    accumulated.push_back((*n)->i64(0));
    assigned = (*n)->i64(0);
    return {};
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(accumulated, (std::vector<std::int64_t>{1, 1}));  // the bug the rehearsal exposes
  EXPECT_EQ(assigned, 1);
  EXPECT_EQ(count_rows(*db, "g"), 1);  // the rehearsal's insert was rolled back
  auto v = write_value<std::int64_t>(*db, [](Tx& tx) -> Result<std::int64_t> {
    auto r = tx.exec("INSERT INTO g (id) VALUES (43)");
    if (!r) return r.error();
    return *r;
  });
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 1);

  WriteOptions plain;
  auto once = db.open(plain);
  runs = 0;
  ASSERT_TRUE(once->write([&](Tx&) -> Status {
                    ++runs;
                    return {};
                  })
                  .ok());
  EXPECT_EQ(runs, 1);
}

// Two writers read the same row and then update it, concurrently. On
// PostgreSQL (SERIALIZABLE) the second UPDATE fails with a serialization
// failure; write() must run that callback again from scratch and commit, so
// both increments count. On SQLite the single writer serialises them instead.
TEST_P(GroupCommitTest, ConflictingWritersAreRetriedAndBothCount) {
  TestDb db(GetParam(), WriteOptions{});
  exec_ok(*db, "CREATE TABLE counter (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)");
  exec_ok(*db, "INSERT INTO counter VALUES (1, 0)");
  auto other = db.open(WriteOptions{});  // a second connection, as another replica would have

  std::mutex mu;
  std::condition_variable cv;
  int read_first = 0;
  auto increment = [&](Database& d, std::atomic<int>& runs) {
    return d.write([&](Tx& tx) -> Status {
      int run = ++runs;
      auto v = tx.query_one("SELECT v FROM counter WHERE id = 1");
      if (!v) return v.error();
      std::int64_t seen = (*v)->i64(0);
      if (run == 1 && GetParam() == Backend::kPostgres) {
        // Both read before either writes (bounded wait: SQLite never gets here).
        std::unique_lock lock(mu);
        ++read_first;
        cv.notify_all();
        cv.wait_for(lock, 5s, [&] { return read_first >= 2; });
      }
      auto r = tx.exec("UPDATE counter SET v = ?1 WHERE id = 1", {seen + 1});
      if (!r) return r.error();
      return {};
    });
  };
  std::atomic<int> runs_a{0};
  std::atomic<int> runs_b{0};
  Status a;
  Status b;
  std::thread ta([&] { a = increment(*db, runs_a); });
  std::thread tb([&] { b = increment(*other, runs_b); });
  ta.join();
  tb.join();
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_TRUE(b.ok()) << b.error().message;
  Status st = db->read([](Tx& tx) -> Status {
    auto v = tx.query_one("SELECT v FROM counter WHERE id = 1");
    if (!v) return v.error();
    EXPECT_EQ((*v)->i64(0), 2);  // neither increment was lost
    return {};
  });
  EXPECT_TRUE(st.ok());
  if (GetParam() == Backend::kPostgres) {
    EXPECT_EQ(runs_a + runs_b, 3);  // exactly one callback ran again
    EXPECT_EQ(db->write_stats().retries + other->write_stats().retries, 1u);
  }
}

}  // namespace
}  // namespace office::storage
