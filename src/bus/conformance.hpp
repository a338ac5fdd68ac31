#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "bus/event_bus.hpp"

// The conformance suite every EventBus implementation passes
// (conformance_test.cpp). An implementation instantiates it with its factory:
//   INSTANTIATE_TEST_SUITE_P(Nats, BusConformance, ::testing::Values(factory),
//                            [](const auto& info) { return info.param.name; });
namespace office::bus::testing {

struct BusFactory {
  std::string name;  ///< gtest parameter name: letters and digits only
  /// A bus for one test. `scope` is unique per test; opening the same scope
  /// again (after the previous bus was destroyed) gives the same durable
  /// state when the bus is durable (a NATS stream named after it).
  std::function<std::unique_ptr<EventBus>(const std::string& scope)> open;
};

/// gtest prints the factory by name (test names and failure messages).
inline void PrintTo(const BusFactory& factory, std::ostream* os) { *os << factory.name; }

class BusConformance : public ::testing::TestWithParam<BusFactory> {
 protected:
  /// A unique scope for this test (the test's name plus a counter).
  std::string scope() const;
  std::unique_ptr<EventBus> open(const std::string& scope) const {
    auto bus = GetParam().open(scope);
    EXPECT_NE(bus, nullptr);
    return bus;
  }
};

}  // namespace office::bus::testing
