#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bus/event.hpp"
#include "core/result.hpp"

// The event bus: one interface, two implementations with the same semantics
// (in-process: inproc_bus.hpp; NATS JetStream: nats_bus.hpp), proven by one
// conformance suite (conformance_test.cpp). Free of NATS headers. Modules do
// not use Consumer directly: they run a Bridge (bridge.hpp), which adds the
// back-pressure and dead-letter rules. See docs/bus.md.
namespace office::bus {

/// A durable consumer's settings. The bridge limits are read by Bridge; the
/// rest by the bus. Defaults are the documented ones (docs/configuration.md).
struct ConsumerOptions {
  std::string name;          ///< durable name, 1..64 of [A-Za-z0-9_-]
  std::string filter = ">";  ///< subject pattern it receives
  /// Bridge: most deliveries handed out and not yet acknowledged.
  std::size_t max_in_flight = 100;
  /// Bridge: above this share of max_in_flight it stops pulling and naks new
  /// deliveries with nak_delay.
  double pause_at = 0.8;
  /// Delay of a nak when the handler asks to retry without saying when, and
  /// of the naks of deliveries that arrive above pause_at.
  std::chrono::milliseconds nak_delay{1000};
  /// Deliveries after which a failing event goes to the dead letters.
  std::uint32_t max_deliver = 5;
  /// A delivery not acknowledged this long after it was handed to the
  /// handler goes to the dead letters (the handler hangs).
  std::chrono::milliseconds drop_after{30000};
  /// Handler threads of the bridge; a subject's events always go to the same
  /// one, so they are handled one at a time, in order.
  std::size_t lanes = 4;
};

/// One delivery of an event to a consumer. Acknowledge it, nak it or
/// terminate it through the Consumer that fetched it.
struct Delivery {
  std::shared_ptr<const Event> event;  ///< shared with the bus (no copy per delivery)
  std::uint64_t seq = 0;               ///< the event's position in the stream (publish order)
  std::uint32_t attempt = 1;           ///< 1 on the first delivery, 2 on the first redelivery ...
  std::shared_ptr<void> handle;        ///< the implementation's (e.g. the NATS message)
};

/// A durable pull consumer (broker-facing). Thread-safe; several Consumer
/// objects with the same name share its deliveries (a work queue).
/// Unacknowledged deliveries are redelivered after ack_wait (the broker's;
/// longer than drop_after) when nobody naks or terminates them, e.g. after a
/// crash.
class Consumer {
 public:
  virtual ~Consumer() = default;
  virtual const ConsumerOptions& options() const = 0;
  /// Up to max deliveries, in stream order, waiting up to `wait` for the
  /// first; empty when none came. Errors: kUnavailable (broker unreachable).
  virtual Result<std::vector<Delivery>> fetch(std::size_t max, std::chrono::milliseconds wait) = 0;
  /// Done: never delivered again.
  virtual Status ack(const Delivery& delivery) = 0;
  /// ack() of each, in one lock or round trip where the bus can.
  virtual Status ack_many(std::span<const Delivery> deliveries) {
    for (const Delivery& d : deliveries) {
      if (auto st = ack(d); !st) return st;
    }
    return {};
  }
  /// Deliver again, not before delay.
  virtual Status nak(const Delivery& delivery, std::chrono::milliseconds delay) = 0;
  /// Never deliver again, without success (after dead-lettering it).
  virtual Status term(const Delivery& delivery) = 0;
};

/// Why an event became a dead letter (DeadLetter.reason on the wire).
inline constexpr std::string_view kReasonMaxDeliver = "max_deliver";
inline constexpr std::string_view kReasonDropAfter = "drop_after";
inline constexpr std::string_view kReasonRejected = "rejected";

struct DeadLetter {
  std::string id;  ///< UUIDv7 of the dead letter
  Event event;
  std::string consumer;
  std::string reason;  ///< kReasonMaxDeliver, kReasonDropAfter or kReasonRejected
  std::string detail;  ///< the handler's last error message, if any
  std::uint32_t deliveries = 0;
  std::int64_t time_ms = 0;  ///< when it was dead-lettered (Unix ms)
};

struct DeadLetterQuery {
  std::string consumer;    ///< only this consumer's; empty: all
  std::size_t limit = 50;  ///< page size (1..1000)
  std::string page_token;  ///< DeadLetterPage::next_page_token of the previous page; empty: first
};

struct DeadLetterPage {
  std::vector<DeadLetter> items;  ///< oldest first
  std::string next_page_token;    ///< opaque; empty on the last page
};

struct ConsumerStats {
  std::string name;
  std::string filter;
  std::uint64_t pending = 0;        ///< published, not yet delivered
  std::uint64_t in_flight = 0;      ///< delivered, not yet acknowledged
  std::uint64_t redelivered = 0;    ///< see ConsumerStats in events.proto
  std::uint64_t dead_lettered = 0;  ///< dead letters kept for it
};

class EventBus {
 public:
  virtual ~EventBus() = default;
  /// "inproc" or "nats".
  virtual std::string_view backend() const = 0;
  /// True when a published event survives a crash of this process
  /// (JetStream). The in-process bus is not: the outbox relay then marks an
  /// event sent only once publish_async() reported it settled.
  virtual bool durable() const = 0;

  /// Publishes: returns once the bus holds the event (JetStream: stored on
  /// the broker; in-process: in its buffer, so a crash would lose it: domain
  /// code publishes through the outbox instead).
  /// Errors: kInvalidArgument (validate_event), kResourceExhausted (the bus's
  /// buffer is full: retry later), kUnavailable (broker unreachable).
  virtual Status publish(const Event& event) = 0;
  /// Publishes without waiting; done(status) runs later on a bus thread (it
  /// must be quick and must not call the bus) once the event can no longer
  /// be lost: for a durable bus when the broker stored it, for the in-process
  /// bus when every consumer whose filter matched it at publish time
  /// acknowledged or dead-lettered it. Events published by one thread are
  /// stored in that order. An event whose id was published before (within
  /// the bus's de-duplication window) is stored once and reported with it.
  virtual void publish_async(Event event, std::function<void(Status)> done) = 0;
  /// One event of publish_async_many().
  struct Outgoing {
    Event event;
    std::function<void(Status)> done;
  };
  /// publish_async() of each event, in order, in one step where the bus can
  /// (the in-process bus takes its lock once for the batch; the outbox relay
  /// publishes this way). Returns how many it accepted. When it refuses one
  /// at once (invalid, full, closing) that event's done has run with the
  /// reason before it returns, and the events after it are not published
  /// and their done is never called, so none overtakes it.
  virtual std::size_t publish_async_many(std::span<Outgoing> batch) = 0;

  /// The durable consumer `options.name`, created when missing (receiving
  /// events published from then on). Errors: kInvalidArgument (name, filter),
  /// kUnavailable, kFailedPrecondition (it exists with another filter).
  virtual Result<std::shared_ptr<Consumer>> consumer(const ConsumerOptions& options) = 0;
  /// Counts of every durable consumer, by name.
  virtual Result<std::vector<ConsumerStats>> stats() = 0;

  /// Keeps a dead letter (the bridge calls this before terminating the
  /// delivery; an error means it must not terminate it).
  virtual Status add_dead_letter(const DeadLetter& letter) = 0;
  virtual Result<DeadLetterPage> dead_letters(const DeadLetterQuery& query) = 0;
  /// Errors: kNotFound.
  virtual Result<DeadLetter> dead_letter(std::string_view id) = 0;
  /// Removes one dead letter. Errors: kNotFound.
  virtual Status remove_dead_letter(std::string_view id) = 0;
  /// Removes all (of one consumer when consumer is not empty); returns how many.
  virtual Result<std::uint64_t> purge_dead_letters(std::string_view consumer) = 0;
  /// Publishes the dead letter's event again on its subject, with the same
  /// event id (consumers that handled it already de-duplicate it; the bus's
  /// own de-duplication window does not swallow it), then removes the dead
  /// letter. Returns the event id. Errors: kNotFound, or publish()'s.
  virtual Result<std::string> replay_dead_letter(std::string_view id) = 0;
};

}  // namespace office::bus
