#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "bus/event_bus.hpp"
#include "core/result.hpp"

// The EventBus on NATS JetStream (libnats), for the split deployment
// (`--bus nats://...`). Free of NATS headers: the libnats code lives in the
// nats_*.cpp files. See docs/bus.md.
namespace office::bus {

/// Where and how the JetStream bus keeps its events and dead letters. The
/// defaults are the documented ones (docs/configuration.md).
struct NatsBusOptions {
  /// Server URL(s): "nats://host:4222", several separated by commas.
  std::string url;
  /// The events stream (created when missing) and the subject prefix it
  /// captures: an event on subject S is the JetStream message
  /// `<subject_prefix>.S`, its Nats-Msg-Id the event id.
  std::string stream = "OFFICE_EVENTS";
  std::string subject_prefix = "office.events";
  /// The dead-letter stream: one message per dead letter on
  /// `<dead_letter_prefix>.<consumer>`, body office.events.v1.DeadLetter.
  std::string dead_letter_stream = "OFFICE_DEAD_LETTERS";
  std::string dead_letter_prefix = "office.dead";
  /// Events older than this leave the events stream (0: kept forever).
  /// Dead letters are never aged out: they stay until replayed or purged.
  std::chrono::milliseconds max_age{std::chrono::hours(24 * 7)};
  /// Bytes the events stream may hold; the oldest go first (-1: no limit).
  std::int64_t max_bytes = -1;
  /// Broker de-duplication by event id: a second publish of the same id
  /// within this window is stored once (publish_async reports it ok).
  std::chrono::milliseconds duplicate_window{std::chrono::minutes(2)};
  /// The first connection attempt (open fails with kUnavailable after it).
  std::chrono::milliseconds connect_timeout{2000};
  /// JetStream API requests, and how long a publish waits for its
  /// acknowledgement before done(kUnavailable).
  std::chrono::milliseconds request_timeout{5000};
  /// After a lost connection the client reconnects forever, this often.
  std::chrono::milliseconds reconnect_wait{250};
  /// Bytes published while disconnected that are kept to be sent on
  /// reconnection; beyond it publishes fail with kUnavailable.
  int reconnect_buffer_bytes = 8 * 1024 * 1024;
  /// Publishes sent and not yet acknowledged by the broker, at most. A
  /// publish_async() above it waits up to publish_stall for room, then
  /// reports kResourceExhausted.
  std::size_t max_outstanding_publishes = 4096;
  std::chrono::milliseconds publish_stall{200};
  /// JetStream MaxAckPending of every consumer: deliveries not yet
  /// acknowledged, over every process sharing the consumer (raised to the
  /// consumer's max_in_flight if that is larger).
  std::int64_t max_ack_pending = 10000;
  /// The connection's name, as the server's monitoring shows it.
  std::string connection_name = "office-suite";
};

/// Connects, creates the two streams when missing (file storage, limits
/// retention) and checks them when present; the returned bus reconnects by
/// itself after that. backend() "nats", durable() true. Thread-safe, as the
/// EventBus contract says; Consumers it returns may outlive it. Destroying it
/// waits up to request_timeout for publishes not yet acknowledged (their done
/// then runs with kUnavailable). publish() must not be called from a done
/// callback (that thread delivers the acknowledgement it would wait for).
///
/// Dead letters: add_dead_letter() publishes with Nats-Msg-Id = the letter's
/// id (so a retried add is stored once). Lookups by id go through an index
/// (id -> stream sequence) the bus fills as it lists letters and, on a miss,
/// by reading the letters it has not seen yet (one direct get each): the
/// first lookup in a process reads every letter once, later ones only the new
/// ones. A replay publishes the event again with the same event id and
/// Nats-Msg-Id "replay-<letter id>" (so replaying twice stores it once).
///
/// A stream message that is not an event envelope (or whose envelope names
/// another subject than the one it was published on) becomes a dead letter
/// (reason "rejected") when a consumer fetches it, and is terminated: its
/// event has id = the message's Nats-Msg-Id when that is a UUID (else a new
/// one), type "office.events.v1.Envelope", the subject after the prefix (or
/// "invalid"), the message's time, and payload = the raw bytes (cut to
/// kMaxPayloadBytes; detail says why it was rejected and whether it was cut).
///
/// Errors: kInvalidArgument (options), kUnavailable (cannot connect),
/// kFailedPrecondition (a stream exists with other subjects or retention).
Result<std::unique_ptr<EventBus>> open_nats_bus(const NatsBusOptions& options);

}  // namespace office::bus
