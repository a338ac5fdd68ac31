#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/result.hpp"

// The event as the bus carries it, in plain C++ (no protobuf in callers'
// headers). Its wire form is office.events.v1.Envelope (api/office/events/v1).
namespace office::bus {

/// Limits on every event, checked by publish() and by decode_event() (so a
/// malformed message from the broker or an outbox row cannot exhaust memory).
inline constexpr std::size_t kMaxSubjectBytes = 256;
inline constexpr std::size_t kMaxSubjectTokens = 16;
inline constexpr std::size_t kMaxTypeBytes = 200;
inline constexpr std::size_t kMaxTenantBytes = 64;
inline constexpr std::size_t kMaxPayloadBytes = 256 * 1024;
/// Largest encoded envelope decode_event() accepts.
inline constexpr std::size_t kMaxEnvelopeBytes = kMaxPayloadBytes + 4096;

struct Event {
  std::string id;       ///< UUIDv7; the de-duplication key (consumers' inbox, Nats-Msg-Id)
  std::string type;     ///< full name of the payload message, e.g. "office.docs.v1.DocumentCreated"
  std::string tenant;   ///< tenant id
  std::string subject;  ///< e.g. "docs.t1.created": tokens of [A-Za-z0-9_-] joined by '.'
  std::int64_t occurred_ms = 0;  ///< Unix milliseconds
  std::string traceparent;       ///< W3C trace context, or empty
  std::string payload;           ///< the payload message's bytes (protobuf wire format)
  bool operator==(const Event&) const = default;
};

/// An event with a new UUIDv7 id and occurred_ms = now.
Event make_event(std::string type, std::string tenant, std::string subject, std::string payload,
                 std::string traceparent = {}, const Clock& clock = SystemClock::instance());

/// Checks an event before it is published: id a UUID, type a dotted proto
/// name, subject valid without wildcards, sizes within the limits above.
/// Errors: kInvalidArgument naming the field.
Status validate_event(const Event& event);

/// Checks a subject (wildcards allowed when pattern: `*` one token, `>` the
/// rest, last token only). Errors: kInvalidArgument.
Status validate_subject(std::string_view subject, bool pattern);

/// True when subject matches pattern (NATS rules: `*` matches one token,
/// `>` one or more trailing tokens).
bool subject_matches(std::string_view pattern, std::string_view subject);

/// The envelope's protobuf wire bytes.
std::string encode_event(const Event& event);
/// Parses and validates an envelope. Errors: kInvalidArgument (not an
/// envelope, over kMaxEnvelopeBytes, or failing validate_event).
Result<Event> decode_event(std::string_view bytes);

/// A durable consumer's name: 1..64 of [A-Za-z0-9_-]. Errors: kInvalidArgument.
Status validate_consumer_name(std::string_view name);

}  // namespace office::bus
