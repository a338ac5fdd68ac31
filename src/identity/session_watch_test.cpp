#include "identity/session_watch.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace office::identity {
namespace {

Principal principal(std::string tenant, std::string user, std::string session,
                    std::int64_t expires_at_s) {
  Principal p;
  p.tenant_id = std::move(tenant);
  p.user_id = std::move(user);
  p.session_id = std::move(session);
  p.role = "member";
  p.expires_at_s = expires_at_s;
  return p;
}

class SessionWatchTest : public ::testing::Test {
 protected:
  // Each watched connection records how it ended.
  SessionWatch::EndFn recorder(std::vector<SessionEnd>& log) {
    return [&log](SessionEnd why) { log.push_back(why); };
  }
  FakeClock clock_;
  SessionWatch watch_{clock_};
  std::int64_t now() const { return clock_.now_s(); }
};

TEST_F(SessionWatchTest, EndingASessionEndsItsConnectionsOnly) {
  std::vector<SessionEnd> a1, a2, b, other_tenant;
  auto l1 = watch_.add(principal("t1", "u1", "s1", now() + 900), recorder(a1));
  auto l2 = watch_.add(principal("t1", "u1", "s1", now() + 900), recorder(a2));
  auto l3 = watch_.add(principal("t1", "u1", "s2", now() + 900), recorder(b));
  auto l4 = watch_.add(principal("t2", "u1", "s1", now() + 900), recorder(other_tenant));
  EXPECT_EQ(watch_.size(), 4u);
  watch_.end_session("t1", "s1");
  EXPECT_EQ(a1, std::vector<SessionEnd>{SessionEnd::kEnded});
  EXPECT_EQ(a2, std::vector<SessionEnd>{SessionEnd::kEnded});
  EXPECT_TRUE(b.empty());
  EXPECT_TRUE(other_tenant.empty());  // same ids, another tenant
  watch_.end_session("t1", "s1");     // at most once
  EXPECT_EQ(a1.size(), 1u);
  EXPECT_EQ(watch_.size(), 2u);
}

TEST_F(SessionWatchTest, EndingAUserEndsEverySessionOfTheUser) {
  std::vector<SessionEnd> s1, s2, other_user;
  auto l1 = watch_.add(principal("t", "u", "s1", now() + 900), recorder(s1));
  auto l2 = watch_.add(principal("t", "u", "s2", now() + 900), recorder(s2));
  auto l3 = watch_.add(principal("t", "v", "s3", now() + 900), recorder(other_user));
  watch_.end_user("t", "u");
  EXPECT_EQ(s1.size(), 1u);
  EXPECT_EQ(s2.size(), 1u);
  EXPECT_TRUE(other_user.empty());
}

TEST_F(SessionWatchTest, ExpiryEndsUnlessRenewed) {
  std::vector<SessionEnd> kept, lapsed;
  auto keep = watch_.add(principal("t", "u", "s", now() + 60), recorder(kept));
  auto lapse = watch_.add(principal("t", "u", "s", now() + 60), recorder(lapsed));
  clock_.advance(std::chrono::seconds(59));
  EXPECT_EQ(watch_.sweep(), 0u);
  EXPECT_TRUE(keep->renew(now() + 900));
  clock_.advance(std::chrono::seconds(1));  // exactly at exp: no longer valid
  EXPECT_EQ(watch_.sweep(), 1u);
  EXPECT_EQ(lapsed, std::vector<SessionEnd>{SessionEnd::kExpired});
  EXPECT_TRUE(kept.empty());
  EXPECT_FALSE(lapse->renew(now() + 900));    // too late: it ended
  EXPECT_TRUE(keep->renew(now() - 10));       // never shortens
  clock_.advance(std::chrono::seconds(898));  // renewed to t0+59+900: one second left
  EXPECT_EQ(watch_.sweep(), 0u);
  clock_.advance(std::chrono::seconds(1));
  EXPECT_EQ(watch_.sweep(), 1u);
  EXPECT_EQ(kept, std::vector<SessionEnd>{SessionEnd::kExpired});
}

TEST_F(SessionWatchTest, AClosedConnectionIsForgottenAndAnExpiredOneEndsAtOnce) {
  std::vector<SessionEnd> log;
  {
    auto lease = watch_.add(principal("t", "u", "s", now() + 60), recorder(log));
    EXPECT_EQ(watch_.size(), 1u);
  }
  EXPECT_EQ(watch_.size(), 0u);
  watch_.end_session("t", "s");
  EXPECT_TRUE(log.empty());
  auto late = watch_.add(principal("t", "u", "s", now()), recorder(log));
  EXPECT_EQ(log, std::vector<SessionEnd>{SessionEnd::kExpired});
  EXPECT_EQ(watch_.size(), 0u);
}

TEST_F(SessionWatchTest, EndMayDropItsOwnLease) {
  // A connection closing because it was ended drops its lease from inside
  // `end` (the socket's close handler): no deadlock, no double end.
  std::unique_ptr<SessionWatch::Lease> lease;
  int ended = 0;
  lease = watch_.add(principal("t", "u", "s", now() + 60), [&](SessionEnd) {
    ++ended;
    lease.reset();
  });
  watch_.end_user("t", "u");
  EXPECT_EQ(ended, 1);
  EXPECT_EQ(lease, nullptr);
  EXPECT_EQ(watch_.size(), 0u);
}

}  // namespace
}  // namespace office::identity
