#include "identity/session_watch.hpp"

#include <utility>
#include <vector>

namespace office::identity {

SessionWatch::Lease::~Lease() {
  if (auto w = watch_.lock()) (*w)->remove(id_);
}

bool SessionWatch::Lease::renew(std::int64_t expires_at_s) {
  if (auto w = watch_.lock()) return (*w)->renew(id_, expires_at_s);
  return false;
}

SessionWatch::~SessionWatch() {
  // Leases that outlive the watch (a connection closing during shutdown) see
  // an expired weak reference; the map dies here without ending anyone.
  self_.reset();
}

std::unique_ptr<SessionWatch::Lease> SessionWatch::add(const Principal& p, EndFn end) {
  std::uint64_t id;
  if (p.expires_at_s <= clock_.now_s()) {
    {
      std::lock_guard lock(mu_);
      id = next_id_++;
    }
    if (end) end(SessionEnd::kExpired);
    return std::unique_ptr<Lease>(new Lease(self_, id, p));
  }
  {
    std::lock_guard lock(mu_);
    id = next_id_++;
    live_.emplace(id, Entry{p, p.expires_at_s, std::move(end)});
  }
  return std::unique_ptr<Lease>(new Lease(self_, id, p));
}

bool SessionWatch::renew(std::uint64_t id, std::int64_t expires_at_s) {
  std::lock_guard lock(mu_);
  auto it = live_.find(id);
  if (it == live_.end()) return false;
  if (expires_at_s > it->second.expires_at_s) it->second.expires_at_s = expires_at_s;
  return true;
}

void SessionWatch::remove(std::uint64_t id) {
  std::lock_guard lock(mu_);
  live_.erase(id);
}

template <class Pred>
void SessionWatch::end_where(Pred pred, SessionEnd why) {
  std::vector<EndFn> ended;
  {
    std::lock_guard lock(mu_);
    for (auto it = live_.begin(); it != live_.end();) {
      if (pred(it->second)) {
        ended.push_back(std::move(it->second.end));
        it = live_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& end : ended)  // outside the lock: ending a connection may take other locks
    if (end) end(why);
}

void SessionWatch::end_session(std::string_view tenant_id, std::string_view session_id) {
  end_where(
      [&](const Entry& e) {
        return e.principal.session_id == session_id && e.principal.tenant_id == tenant_id;
      },
      SessionEnd::kEnded);
}

void SessionWatch::end_user(std::string_view tenant_id, std::string_view user_id) {
  end_where(
      [&](const Entry& e) {
        return e.principal.user_id == user_id && e.principal.tenant_id == tenant_id;
      },
      SessionEnd::kEnded);
}

std::size_t SessionWatch::sweep() {
  const std::int64_t now_s = clock_.now_s();
  std::size_t n = 0;
  end_where(
      [&](const Entry& e) {
        bool expired = e.expires_at_s <= now_s;
        n += expired ? 1 : 0;
        return expired;
      },
      SessionEnd::kExpired);
  return n;
}

std::size_t SessionWatch::size() const {
  std::lock_guard lock(mu_);
  return live_.size();
}

}  // namespace office::identity
