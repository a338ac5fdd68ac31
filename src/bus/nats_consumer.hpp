#pragma once
// Internal to the NATS bus: durable pull consumers and their counts.

#include <memory>
#include <vector>

#include "bus/event_bus.hpp"
#include "bus/nats_conn.hpp"
#include "bus/nats_dead_letters.hpp"
#include "core/result.hpp"

namespace office::bus {

/// The durable JetStream pull consumer `options.name` on the events stream:
/// created when missing (AckExplicit, DeliverPolicy New, FilterSubject
/// `<prefix>.<filter>`, AckWait drop_after + 10 s, MaxDeliver unlimited:
/// dead-lettering is the bridge's), its AckWait and MaxAckPending brought up
/// to date when present. Errors: kInvalidArgument, kUnavailable,
/// kFailedPrecondition (it exists with another filter).
Result<std::shared_ptr<Consumer>> open_nats_consumer(std::shared_ptr<NatsConn> conn,
                                                     std::shared_ptr<NatsDeadLetters> letters,
                                                     const ConsumerOptions& options);

/// Counts of every durable consumer of the events stream, by name.
Result<std::vector<ConsumerStats>> nats_consumer_stats(NatsConn& conn, NatsDeadLetters& letters);

}  // namespace office::bus
