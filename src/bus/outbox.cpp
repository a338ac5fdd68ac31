#include "bus/outbox.hpp"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bus/inbox.hpp"
#include "core/clock.hpp"

namespace office::bus {

using storage::Row;
using storage::Tx;

Status append_outbox(Tx& tx, const Event& event) {
  if (auto st = validate_event(event); !st) return st;
  auto r =
      tx.exec("INSERT INTO bus_outbox (event_id, envelope, created_ms) VALUES (?1, ?2, ?3)",
              {event.id, storage::Bytes{encode_event(event)}, SystemClock::instance().now_ms()});
  if (!r) return r.error();
  return {};
}

Result<std::uint64_t> outbox_pending(const storage::Database& db) {
  std::int64_t n = 0;
  Status st = db.read([&](Tx& tx) -> Status {
    auto r = tx.query_one("SELECT COUNT(*) FROM bus_outbox");
    if (!r) return r.error();
    n = *r ? (*r)->i64(0) : 0;
    return {};
  });
  if (!st) return st.error();
  return static_cast<std::uint64_t>(n);
}

Result<bool> inbox_claim(Tx& tx, std::string_view consumer, std::string_view event_id,
                         std::int64_t now_ms) {
  auto r = tx.exec(
      "INSERT INTO bus_inbox (consumer, event_id, handled_ms) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (consumer, event_id) DO NOTHING",
      {std::string(consumer), std::string(event_id), now_ms});
  if (!r) return r.error();
  return *r == 1;
}

Result<std::uint64_t> inbox_prune(storage::Database& db, std::int64_t before_ms) {
  std::int64_t n = 0;
  Status st = db.write([&](Tx& tx) -> Status {
    auto r = tx.exec("DELETE FROM bus_inbox WHERE handled_ms < ?1", {before_ms});
    if (!r) return r.error();
    n = *r;
    return {};
  });
  if (!st) return st.error();
  return static_cast<std::uint64_t>(n);
}

struct OutboxRelay::Impl : std::enable_shared_from_this<OutboxRelay::Impl> {
  Impl(storage::Database& d, EventBus& b, RelayOptions o) : db(d), bus(b), opts(std::move(o)) {}

  enum class State { kWaiting, kOk, kFailed };

  storage::Database& db;
  EventBus& bus;
  const RelayOptions opts;
  std::thread thread;

  mutable std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  bool notified = false;
  std::map<std::uint64_t, State> window;  // published, not yet marked, by seq
  std::uint64_t last_read = 0;            // highest seq handed to the bus
  std::uint64_t generation = 0;           // bumped on a restart: older callbacks are ignored
  std::uint64_t unmarked_upto = 0;        // confirmed prefix whose mark failed
  Stats counters;

  void observe(RelayOptions::Stage stage, std::uint64_t seq) const {
    if (opts.observer) opts.observer(stage, seq);
  }

  void run() {
    bool stop_seen = false;
    auto stop_deadline = std::chrono::steady_clock::now();
    while (true) {
      // 1. The confirmed prefix of the window, and whether a publish failed.
      std::vector<std::uint64_t> confirmed;
      bool failed = false;
      {
        std::lock_guard lock(mu);
        while (!window.empty() && window.begin()->second == State::kOk) {
          confirmed.push_back(window.begin()->first);
          window.erase(window.begin());
        }
        for (auto& [seq, state] : window) {
          if (state == State::kFailed) {
            failed = true;
            break;
          }
        }
        counters.published += confirmed.size();
        if (stopping && !stop_seen) {
          stop_seen = true;
          stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        }
      }
      for (std::uint64_t seq : confirmed) observe(RelayOptions::Stage::kPublished, seq);
      // 2. Mark them sent.
      if (!confirmed.empty()) unmarked_upto = confirmed.back();
      if (unmarked_upto != 0) mark();
      // 3. After a failure: start again from the first row not confirmed.
      if (failed) {
        restart();
        continue;
      }
      {
        std::unique_lock lock(mu);
        if (stopping && (window.empty() || std::chrono::steady_clock::now() >= stop_deadline)) {
          break;
        }
      }
      // 4. Read and publish more.
      std::size_t read = stopping_now() ? 0 : read_and_publish();
      // 5. Wait for confirmations, new rows or the poll.
      std::unique_lock lock(mu);
      if (read == opts.batch && window.size() < opts.window) continue;  // more rows wait
      bool idle = window.empty();
      cv.wait_for(lock, idle ? opts.poll : std::chrono::milliseconds(20), [&] {
        return stopping || notified ||
               (!window.empty() && window.begin()->second != State::kWaiting);
      });
      notified = false;
    }
  }

  bool stopping_now() const {
    std::lock_guard lock(mu);
    return stopping;
  }

  void mark() {
    const std::int64_t upto = static_cast<std::int64_t>(unmarked_upto);
    std::int64_t n = 0;
    Status st = db.write([&](Tx& tx) -> Status {
      auto r = tx.exec("DELETE FROM bus_outbox WHERE seq <= ?1", {upto});
      if (!r) return r.error();
      n = *r;
      return {};
    });
    if (!st) {
      spdlog::warn("outbox relay: cannot mark rows up to {} sent: {} (retrying)", upto,
                   st.error().message);
      return;
    }
    {
      std::lock_guard lock(mu);
      counters.marked += static_cast<std::uint64_t>(n);
    }
    unmarked_upto = 0;
    observe(RelayOptions::Stage::kMarked, static_cast<std::uint64_t>(upto));
  }

  void restart() {
    {
      std::lock_guard lock(mu);
      ++generation;
      ++counters.failures;
      // Everything after the confirmed prefix is published again.
      std::uint64_t first = window.empty() ? last_read + 1 : window.begin()->first;
      last_read = first - 1;
      window.clear();
    }
    spdlog::warn("outbox relay: a publish failed; publishing again from row {} in {} ms",
                 last_read + 1, opts.retry.count());
    std::unique_lock lock(mu);
    cv.wait_for(lock, opts.retry, [&] { return stopping; });
  }

  std::size_t read_and_publish() {
    std::size_t room = 0;
    std::uint64_t after = 0;
    std::uint64_t gen = 0;
    {
      std::lock_guard lock(mu);
      if (window.size() >= opts.window) return 0;
      room = std::min(opts.batch, opts.window - window.size());
      after = last_read;
      gen = generation;
    }
    std::vector<std::pair<std::uint64_t, std::string>> rows;
    Status st = db.read([&](Tx& tx) -> Status {
      rows.clear();
      auto r = tx.query("SELECT seq, envelope FROM bus_outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                        {static_cast<std::int64_t>(after), static_cast<std::int64_t>(room)});
      if (!r) return r.error();
      for (const Row& row : *r)
        rows.emplace_back(static_cast<std::uint64_t>(row.i64(0)), row.bytes(1));
      return {};
    });
    if (!st) {
      spdlog::warn("outbox relay: cannot read the outbox: {}", st.error().message);
      return 0;
    }
    if (rows.empty()) return 0;
    observe(RelayOptions::Stage::kRead, rows.back().first);
    auto self = shared_from_this();
    std::vector<EventBus::Outgoing> batch;
    batch.reserve(rows.size());
    std::vector<std::pair<std::uint64_t, bool>> states;  // seq, is a valid event
    states.reserve(rows.size());
    for (auto& row : rows) {
      const std::uint64_t seq = row.first;
      auto event = decode_event(row.second);
      states.emplace_back(seq, event.ok());
      if (!event) {
        // Written by append_outbox, so this is corruption: say so loudly and
        // move on rather than block every later event.
        spdlog::error("outbox relay: row {} is not a valid event ({}); skipped", seq,
                      event.error().message);
        continue;
      }
      batch.push_back(EventBus::Outgoing{std::move(*event), [self, seq, gen](const Status& result) {
                                           std::lock_guard lock(self->mu);
                                           if (gen != self->generation) return;
                                           auto it = self->window.find(seq);
                                           if (it == self->window.end()) return;
                                           it->second = result.ok() ? State::kOk : State::kFailed;
                                           if (!result.ok()) {
                                             spdlog::warn(
                                                 "outbox relay: publishing row {} failed: {}", seq,
                                                 result.error().message);
                                           }
                                           self->cv.notify_all();
                                         }});
    }
    {
      std::lock_guard lock(mu);
      last_read = rows.back().first;
      for (auto [seq, valid] : states) window[seq] = valid ? State::kWaiting : State::kOk;
    }
    // In one step (the in-process bus takes its lock once). A row the bus
    // refuses at once (full, down) is marked failed by its callback and
    // nothing after it is published, so no later row overtakes it; the
    // failure path then starts again from the first row not confirmed.
    bus.publish_async_many(batch);
    return rows.size();
  }
};

OutboxRelay::OutboxRelay(storage::Database& db, EventBus& bus, RelayOptions options)
    : impl_(std::make_shared<Impl>(db, bus, std::move(options))) {}

OutboxRelay::~OutboxRelay() { stop(); }

void OutboxRelay::start() {
  if (impl_->thread.joinable()) return;
  impl_->thread = std::thread([impl = impl_] { impl->run(); });
}

void OutboxRelay::stop() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void OutboxRelay::notify() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->notified = true;
  }
  impl_->cv.notify_all();
}

OutboxRelay::Stats OutboxRelay::stats() const {
  std::lock_guard lock(impl_->mu);
  Stats s = impl_->counters;
  s.in_window = impl_->window.size();
  return s;
}

}  // namespace office::bus
