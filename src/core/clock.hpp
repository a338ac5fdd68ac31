#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace office {

/// Wall-clock time source. Inject it wherever time matters (token expiry,
/// timestamps) so tests can use FakeClock. Implementations are thread-safe.
class Clock {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  /// Milliseconds since the Unix epoch.
  std::int64_t now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(now().time_since_epoch()).count();
  }
  /// Seconds since the Unix epoch.
  std::int64_t now_s() const { return now_ms() / 1000; }
};

/// The real clock (std::chrono::system_clock).
class SystemClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::system_clock::now(); }
  /// A process-wide instance.
  static const SystemClock& instance();
};

/// A clock that only moves when told. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(std::int64_t start_ms = 1'767'225'600'000)  // 2026-01-01T00:00:00Z
      : ms_(start_ms) {}
  TimePoint now() const override {
    return TimePoint(std::chrono::milliseconds(ms_.load(std::memory_order_relaxed)));
  }
  void advance(std::chrono::milliseconds d) { ms_.fetch_add(d.count()); }
  void set_ms(std::int64_t ms) { ms_.store(ms); }

 private:
  std::atomic<std::int64_t> ms_;
};

}  // namespace office
