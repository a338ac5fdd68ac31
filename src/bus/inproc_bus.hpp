#pragma once

#include <cstddef>
#include <memory>

#include "bus/event_bus.hpp"

namespace office::storage {
class Database;
}

namespace office::bus {

struct InprocBusOptions {
  /// Events held (published and not yet settled by every consumer that
  /// matched them). publish() waits up to publish_timeout for room, then
  /// fails with kResourceExhausted; publish_async() fails at once.
  std::size_t max_events = 100'000;
  std::chrono::milliseconds publish_timeout{5000};
  /// How many recent event ids de-duplicate publishes (0: none).
  std::size_t dedupe_window = 65'536;
  /// A delivery neither acknowledged, nak'd nor terminated this long after it
  /// was handed out is delivered again (the broker's ack wait). 0: the
  /// consumer's drop_after + 10 s.
  std::chrono::milliseconds ack_wait{0};
  /// Where dead letters are kept: this database's bus_dead_letters table
  /// (bus::migrations()), so they survive a restart. Null: in memory (tests,
  /// benchmarks).
  storage::Database* dead_letters = nullptr;
};

/// The in-process event bus (the monolith's default): bounded memory, no
/// other server. Not durable: an event lives in memory until every consumer
/// whose filter matched it at publish time has acknowledged or terminated
/// it, and only then does publish_async() report it done, so the outbox
/// relay keeps its row until then and a crash loses nothing committed.
/// Durable consumers live as long as the bus; a consumer that stops
/// fetching holds its events and, once max_events are held, stops
/// publishers (back-pressure reaches the outbox). Thread-safe.
std::unique_ptr<EventBus> open_inproc_bus(const InprocBusOptions& options = {});

}  // namespace office::bus
