#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.hpp"
#include "core/principal.hpp"

namespace office::identity {

/// Why a watched connection must end.
enum class SessionEnd {
  kEnded,    ///< logout, a replayed refresh token, the user disabled or their password changed
  kExpired,  ///< the access token it was opened (or last renewed) with expired
};

/// Live connections (WebSockets) that act for a session. Authentication is
/// checked when a connection opens; this keeps it true afterwards: a
/// connection's `end` callback is called once when its session ends in this
/// process (at once), or when its access token expires (by sweep(), which the
/// server runs every second) unless the client renewed it with a newer token
/// of the same session. Thread-safe.
class SessionWatch {
 public:
  using EndFn = std::function<void(SessionEnd)>;

  explicit SessionWatch(const Clock& clock) : clock_(clock) {}

  /// Stops watching when destroyed (the connection closed first). Not copyable.
  class Lease {
   public:
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    /// Extends the lease to a newer access token's expiry; false if it ended already.
    bool renew(std::int64_t expires_at_s);
    /// The principal the connection acts for.
    const Principal& principal() const { return principal_; }

   private:
    friend class SessionWatch;
    Lease(std::weak_ptr<SessionWatch*> watch, std::uint64_t id, Principal p)
        : watch_(std::move(watch)), id_(id), principal_(std::move(p)) {}
    std::weak_ptr<SessionWatch*> watch_;
    std::uint64_t id_;
    Principal principal_;
  };

  ~SessionWatch();

  /// Watches a connection of principal `p` (p.expires_at_s is when its access
  /// token expires). `end` is called at most once, from whichever thread ends
  /// the session or runs the sweep, never under a lock of the watch: it must
  /// not block (close the socket asynchronously). If p's token has expired
  /// already, `end(kExpired)` is called before add() returns.
  std::unique_ptr<Lease> add(const Principal& p, EndFn end);
  /// The session ended (logout, refresh-token replay): ends its connections.
  void end_session(std::string_view tenant_id, std::string_view session_id);
  /// Every session of the user ended (disabled, password changed).
  void end_user(std::string_view tenant_id, std::string_view user_id);
  /// Ends every connection whose token expired by now. Returns how many.
  std::size_t sweep();
  /// Connections watched now.
  std::size_t size() const;

 private:
  struct Entry {
    Principal principal;
    std::int64_t expires_at_s;
    EndFn end;
  };
  bool renew(std::uint64_t id, std::int64_t expires_at_s);
  void remove(std::uint64_t id);
  template <class Pred>
  void end_where(Pred pred, SessionEnd why);

  const Clock& clock_;
  mutable std::mutex mu_;
  std::unordered_map<std::uint64_t, Entry> live_;  // guarded by mu_
  std::uint64_t next_id_ = 1;                      // guarded by mu_
  // Leases hold a weak reference: one that outlives the watch does nothing.
  std::shared_ptr<SessionWatch*> self_ = std::make_shared<SessionWatch*>(this);
};

}  // namespace office::identity
