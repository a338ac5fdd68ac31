#pragma once

#include <cstdint>
#include <functional>

#include "bus/event_bus.hpp"
#include "core/result.hpp"
#include "net/router.hpp"

namespace office::bus {

struct AdminRoutesOptions {
  /// Outbox rows committed and not yet relayed (BusStats.outboxPending). May
  /// block (a database read): it runs on the worker pool. Unset: reported as 0.
  std::function<Result<std::uint64_t>()> outbox_pending;
};

/// Registers the bus administration routes under /api/v1/admin/bus: stats and
/// the dead letters (list, get, replay, remove, purge); docs/officectl.md.
/// The bus is installation-wide, so only platform administrators may use
/// them: 401 without valid credentials (the router's authenticator, set by
/// identity::register_routes), 403 for anyone else. Bodies are the proto3
/// JSON mapping of api/office/events/v1/events.proto, except that an event's
/// payload (an Any) is always written as {"@type", "value": base64 of its
/// bytes}: the bus does not decode payloads. Every parameter is checked
/// (400 naming it). Every route runs on the worker pool, since EventBus calls
/// may wait for a broker. `bus` must outlive the router.
void register_routes(net::Router& router, EventBus& bus, AdminRoutesOptions options = {});

}  // namespace office::bus
