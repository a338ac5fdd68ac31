#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "bus/event_bus.hpp"

namespace office::bus {

struct DeliveryInfo {
  std::uint64_t seq = 0;      ///< the event's stream position
  std::uint32_t attempt = 1;  ///< handler calls for this event so far, this one included
};

/// What a module's event handler returns:
///  - ok: the event is handled (acknowledged);
///  - kResourceExhausted ("busy, retry later": back-pressure): delivered
///    again after the error's retry_after_s, or the consumer's nak_delay;
///    this does not count toward max_deliver, but an event not handled
///    within drop_after of its first delivery becomes a dead letter with
///    reason "drop_after";
///  - another retryable error (kUnavailable, kDeadlineExceeded, kConflict,
///    kInternal): delivered again the same way, up to max_deliver handler
///    calls that failed, then a dead letter with reason "max_deliver";
///  - any other error (kInvalidArgument, kNotFound, ...): it can never
///    succeed: a dead letter with reason "rejected" at once.
/// Handlers must be idempotent (at-least-once delivery): use inbox.hpp.
using Handler = std::function<Status(const Event& event, const DeliveryInfo& info)>;

/// Runs a handler over a durable consumer with the bus's back-pressure and
/// dead-letter rules (docs/bus.md):
///  - at most max_in_flight deliveries are held (handed to the handler and
///    not yet finished); it pulls only while fewer than pause_at of that are
///    held, asks for no more than fit, and naks with nak_delay any delivery
///    that arrives when it is full;
///  - a subject's events go to one lane (a handler thread), so they are
///    handled one at a time, in stream order; while an event waits for its
///    redelivery, later events of its subject are nak'd too, so the order
///    holds across retries (not across a crash of the process);
///  - an event not handled within drop_after of its first delivery to this
///    bridge (one that stays busy, or whose handler hangs: a running handler
///    counts as hanging once it alone has run drop_after), one whose handler
///    failed max_deliver times, and one the handler rejected go to the dead
///    letters with the reason, then are terminated. If keeping the dead
///    letter fails, the delivery is nak'd instead: nothing is dropped.
///    Naks the bridge makes on its own (full, order) count toward neither.
/// One thread pulls; `lanes` threads run the handler. Thread-safe.
class Bridge {
 public:
  Bridge(EventBus& bus, std::shared_ptr<Consumer> consumer, Handler handler);
  ~Bridge();
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  /// Starts pulling. Once only.
  void start();
  /// Stops pulling; deliveries not yet started are nak'd at once (they come
  /// back to the next bridge), running handlers finish. Idempotent.
  void stop();

  struct Stats {
    std::uint64_t in_flight = 0;    ///< held now
    std::uint64_t delivered = 0;    ///< deliveries received
    std::uint64_t redelivered = 0;  ///< of which redeliveries (attempt > 1)
    std::uint64_t acked = 0;
    std::uint64_t nakd = 0;  ///< retries, full-bridge and ordering naks
    std::uint64_t dead_lettered = 0;
    std::uint64_t pauses = 0;  ///< times pulling stopped at pause_at
    std::uint64_t max_in_flight_seen = 0;
  };
  Stats stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace office::bus
