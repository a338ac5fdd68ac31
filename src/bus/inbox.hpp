#pragma once

#include <cstdint>
#include <string_view>

#include "core/result.hpp"
#include "storage/database.hpp"

// The inbox: how a consumer makes its effect happen once per event although
// the bus delivers at least once (docs/bus.md).
namespace office::bus {

/// Records, inside the transaction of the handler's effect, that `consumer`
/// handled `event_id`. Returns true the first time; false when it was
/// recorded before (skip the effect: it committed already). Either way the
/// handler then returns ok and the delivery is acknowledged.
///
///   db.write([&](Tx& tx) -> Status {
///     auto first = inbox_claim(tx, "notify-mail", event.id, clock.now_ms());
///     if (!first) return first.error();
///     if (!*first) return {};
///     return apply_effect(tx, event);
///   });
Result<bool> inbox_claim(storage::Tx& tx, std::string_view consumer, std::string_view event_id,
                         std::int64_t now_ms);

/// Deletes inbox rows recorded before `before_ms` (older than any event the
/// bus could still redeliver). Returns how many.
Result<std::uint64_t> inbox_prune(storage::Database& db, std::int64_t before_ms);

}  // namespace office::bus
