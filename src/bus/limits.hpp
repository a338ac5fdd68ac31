#pragma once

#include <string>
#include <string_view>

#include "bus/event_bus.hpp"

namespace office::bus {

/// The options of durable consumer `name` (receiving `filter`): `defaults`
/// (the bus.* configuration), then the overrides `spec` gives for `name`.
/// spec: "name:key=value,key=value;name2:key=value" with keys max_in_flight,
/// pause_at_percent, nak_delay_ms, max_deliver, drop_after_ms, lanes.
/// Errors: kInvalidArgument naming the bad part (unknown key, bad number,
/// bad consumer name, a value out of range).
Result<ConsumerOptions> consumer_options(const std::string& name, const std::string& filter,
                                         const ConsumerOptions& defaults, std::string_view spec);

/// Checks a spec as consumer_options() would, for every consumer it names.
Status validate_consumer_limits(std::string_view spec);

}  // namespace office::bus
