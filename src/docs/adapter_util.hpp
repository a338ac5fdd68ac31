#pragma once
// What the sync adapters (ShareDB WebSocket, gRPC DocSync) share: the per-
// connection op rate limit and which SyncService errors mean "reconnect".

#include <algorithm>
#include <chrono>

#include "core/error.hpp"

namespace office::docs {

/// An error after which the client should reconnect and resubmit (the
/// document went away for a moment), rather than roll its edit back.
inline bool transient(const Error& e) {
  return e.code == ErrorCode::kUnavailable || e.code == ErrorCode::kDeadlineExceeded;
}

/// A token bucket: `burst` tokens, refilled at `per_second`. Not thread-safe
/// (one per connection, used by its reader).
class OpBucket {
 public:
  OpBucket(double burst, std::chrono::steady_clock::time_point now)
      : tokens_(burst), refilled_(now) {}
  bool take(std::chrono::steady_clock::time_point now, double per_second, double burst) {
    double elapsed = std::chrono::duration<double>(now - refilled_).count();
    refilled_ = now;
    tokens_ = std::min(burst, tokens_ + elapsed * per_second);
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

 private:
  double tokens_;
  std::chrono::steady_clock::time_point refilled_;
};

}  // namespace office::docs
