#include "core/clock.hpp"

namespace office {
const SystemClock& SystemClock::instance() {
  static const SystemClock clock;
  return clock;
}
}  // namespace office
