#include "bus/limits.hpp"

#include <charconv>
#include <cstdint>

namespace office::bus {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// Applies "key=value,key=value" to o.
Status apply(std::string_view name, std::string_view pairs, ConsumerOptions& o) {
  while (!pairs.empty()) {
    std::size_t comma = pairs.find(',');
    std::string_view pair = trim(pairs.substr(0, comma));
    pairs = comma == std::string_view::npos ? std::string_view() : pairs.substr(comma + 1);
    std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos) {
      return Error::invalid("bus.consumer_limits: expected key=value for consumer " +
                            std::string(name));
    }
    std::string_view key = trim(pair.substr(0, eq));
    std::string_view text = trim(pair.substr(eq + 1));
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v == 0 || v > 100'000'000) {
      return Error::invalid("bus.consumer_limits: " + std::string(name) + ": " + std::string(key) +
                            " needs a positive whole number");
    }
    if (key == "max_in_flight") {
      o.max_in_flight = v;
    } else if (key == "pause_at_percent") {
      if (v > 100) return Error::invalid("bus.consumer_limits: pause_at_percent is 1..100");
      o.pause_at = static_cast<double>(v) / 100.0;
    } else if (key == "nak_delay_ms") {
      o.nak_delay = std::chrono::milliseconds(v);
    } else if (key == "max_deliver") {
      o.max_deliver = static_cast<std::uint32_t>(v);
    } else if (key == "drop_after_ms") {
      o.drop_after = std::chrono::milliseconds(v);
    } else if (key == "lanes") {
      if (v > 256) return Error::invalid("bus.consumer_limits: lanes is at most 256");
      o.lanes = v;
    } else {
      return Error::invalid("bus.consumer_limits: unknown key '" + std::string(key.substr(0, 40)) +
                            "' (max_in_flight, pause_at_percent, nak_delay_ms, max_deliver, "
                            "drop_after_ms, lanes)");
    }
  }
  return {};
}

// Calls fn(name, pairs) for each "name:pairs" of spec.
template <class F>
Status each(std::string_view spec, F&& fn) {
  while (!spec.empty()) {
    std::size_t semi = spec.find(';');
    std::string_view part = trim(spec.substr(0, semi));
    spec = semi == std::string_view::npos ? std::string_view() : spec.substr(semi + 1);
    if (part.empty()) continue;
    std::size_t colon = part.find(':');
    if (colon == std::string_view::npos) {
      return Error::invalid("bus.consumer_limits: expected name:key=value,...");
    }
    std::string_view name = trim(part.substr(0, colon));
    if (auto st = validate_consumer_name(name); !st) {
      return Error::invalid("bus.consumer_limits: " + st.error().message);
    }
    if (auto st = fn(name, part.substr(colon + 1)); !st) return st;
  }
  return {};
}

}  // namespace

Result<ConsumerOptions> consumer_options(const std::string& name, const std::string& filter,
                                         const ConsumerOptions& defaults, std::string_view spec) {
  ConsumerOptions o = defaults;
  o.name = name;
  o.filter = filter;
  Status st = each(spec, [&](std::string_view n, std::string_view pairs) -> Status {
    if (n != name) return {};
    return apply(n, pairs, o);
  });
  if (!st) return std::move(st).error();
  return o;
}

Status validate_consumer_limits(std::string_view spec) {
  return each(spec, [](std::string_view n, std::string_view pairs) {
    ConsumerOptions o;
    return apply(n, pairs, o);
  });
}

}  // namespace office::bus
