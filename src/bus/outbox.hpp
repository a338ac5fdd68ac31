#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "bus/event_bus.hpp"
#include "storage/database.hpp"

// The transactional outbox (docs/bus.md): a domain change and the events it
// publishes commit in one transaction; a relay publishes the rows in order
// and marks them sent; consumers de-duplicate by event id (inbox.hpp).
namespace office::bus {

/// Adds the event to the outbox inside the caller's write transaction (the
/// one that makes the change the event announces). It is published after the
/// commit; if the transaction rolls back, it never is.
/// Errors: kInvalidArgument (validate_event), or the database's.
Status append_outbox(storage::Tx& tx, const Event& event);

/// Rows committed and not yet relayed.
Result<std::uint64_t> outbox_pending(const storage::Database& db);

struct RelayOptions {
  std::size_t batch = 512;    ///< rows read per query
  std::size_t window = 8192;  ///< rows published and not yet marked sent
  /// How often the outbox is read when nobody calls notify().
  std::chrono::milliseconds poll{100};
  /// Wait after a failed publish before publishing again from the first row
  /// not yet marked.
  std::chrono::milliseconds retry{500};
  /// Where the relay is in its work, for tracing and tests (called on the
  /// relay's thread; must be quick): kRead after rows were read, before they
  /// are published; kPublished after a row's publish was confirmed, before
  /// it is marked; kMarked after rows were marked sent (seq: the highest).
  enum class Stage { kRead, kPublished, kMarked };
  std::function<void(Stage stage, std::uint64_t seq)> observer;
};

/// Publishes the outbox to the bus, in seq order, and marks rows sent
/// (deletes them) once the bus confirmed them: a durable bus once it stored
/// them, the in-process bus once every consumer handled them. A crash
/// before the mark publishes them again (consumers de-duplicate). On a
/// publish error it waits `retry` and starts again from the first row not
/// marked. Order: rows are published in seq order; a publish refused at once
/// (bus full) stops the batch, so order holds; only a publish that fails
/// later (a JetStream timeout) can let rows published after it arrive
/// before its retry. One relay per database (SQLite: rows commit in seq
/// order). One thread. Thread-safe.
class OutboxRelay {
 public:
  OutboxRelay(storage::Database& db, EventBus& bus, RelayOptions options = {});
  ~OutboxRelay();
  OutboxRelay(const OutboxRelay&) = delete;
  OutboxRelay& operator=(const OutboxRelay&) = delete;

  void start();
  /// Stops after the publishes in progress were confirmed or failed.
  void stop();
  /// New rows were committed: read them now instead of at the next poll.
  void notify();

  struct Stats {
    std::uint64_t published = 0;  ///< confirmed publishes
    std::uint64_t marked = 0;     ///< rows marked sent
    std::uint64_t failures = 0;   ///< failed publishes (each followed by a retry)
    std::uint64_t in_window = 0;  ///< published, not yet marked
  };
  Stats stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace office::bus
