// The bus administration routes as the server runs them (router match, the
// I/O thread's part, then the executor's) over an in-memory bus. Every body
// is parsed, unknown fields refused, into its message of
// api/office/events/v1/events.proto.
#include "bus/http_routes.hpp"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "bus/test_bus.hpp"
#include "core/ids.hpp"
#include "office/events/v1/events.pb.h"

namespace office::bus {
namespace {

namespace pb = office::events::v1;
using net::Method;
using nlohmann::json;

constexpr const char* kAdmin = "platform-admin-token";
constexpr const char* kTenantAdmin = "tenant-admin-token";

class BusRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Stands in for identity's authenticator: two known tokens.
    router_.set_authenticator([](const net::Request& req) -> Result<Principal> {
      auto h = req.header("authorization");
      if (h && *h == std::string("Bearer ") + kAdmin)
        return Principal{"t1", "u1", "s1", "admin", true};
      if (h && *h == std::string("Bearer ") + kTenantAdmin)
        return Principal{"t1", "u2", "s2", "admin", false};
      return Error::unauthenticated("missing access token");
    });
    bus_.consumer_stats = {{"chat-fanout", "chat.>", 3, 2, 1, 1},
                           {"notify", "*.*.created", 0, 0, 0, 2}};
  }

  DeadLetter letter(const std::string& consumer, const std::string& payload = "\x08\x01") {
    DeadLetter d;
    d.id = new_id();
    d.event = make_event("office.docs.v1.DocumentCreated", "t1", "docs.t1.created", payload,
                         "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    d.consumer = consumer;
    d.reason = std::string(kReasonMaxDeliver);
    d.detail = "handler failed";
    d.deliveries = 5;
    d.time_ms = 1'700'000'000'123;
    return d;
  }

  net::Response call(const std::string& token, Method m, const std::string& target,
                     const std::string& body = {}) {
    net::Request req;
    req.method = m;
    req.target = target;
    auto q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) req.query = target.substr(q + 1);
    req.body = body;
    if (!token.empty()) req.headers.emplace_back("authorization", "Bearer " + token);
    auto match = router_.match(req);
    if (match.error) return *match.error;
    if (auto fast = router_.serve_nonblocking(req, match)) return *fast;
    return router_.serve(req, match);
  }

  // Parses with unknown fields refused. An event's payload is the bytes of a
  // type the bus does not know, so it is checked apart (see register_routes).
  template <class Msg>
  Msg parse(const net::Response& r, int status) {
    EXPECT_EQ(r.status, status) << r.body;
    json j = json::parse(r.body);
    strip_payloads(j);
    Msg msg;
    google::protobuf::util::JsonParseOptions opts;
    opts.ignore_unknown_fields = false;
    auto st = google::protobuf::util::JsonStringToMessage(j.dump(), &msg, opts);
    EXPECT_TRUE(st.ok()) << st.ToString() << "\nbody: " << r.body;
    return msg;
  }
  static void strip_payloads(json& j) {
    if (j.is_object()) {
      if (auto p = j.find("payload"); p != j.end() && j.contains("subject")) {
        EXPECT_EQ(p->size(), 2u) << p->dump();
        EXPECT_TRUE(p->at("@type").is_string());
        EXPECT_TRUE(p->at("value").is_string());
        j.erase("payload");
      }
      for (auto& [k, v] : j.items()) strip_payloads(v);
    } else if (j.is_array()) {
      for (auto& v : j) strip_payloads(v);
    }
  }
  std::string error(const net::Response& r, int status) {
    EXPECT_EQ(r.status, status) << r.body;
    auto j = json::parse(r.body, nullptr, false);
    if (!j.is_object() || !j.contains("error")) return "(not an error body: " + r.body + ")";
    return j["error"].value("code", "") + ": " + j["error"].value("message", "");
  }

  testing::FakeBus bus_;
  net::Router router_;
};

TEST_F(BusRoutesTest, OnlyPlatformAdminsGetIn) {
  register_routes(router_, bus_);
  const std::pair<Method, std::string> routes[] = {
      {Method::kGet, "/api/v1/admin/bus/stats"},
      {Method::kGet, "/api/v1/admin/bus/dead-letters"},
      {Method::kGet, "/api/v1/admin/bus/dead-letters/" + new_id()},
      {Method::kPost, "/api/v1/admin/bus/dead-letters/" + new_id() + "/replay"},
      {Method::kDelete, "/api/v1/admin/bus/dead-letters/" + new_id()},
      {Method::kDelete, "/api/v1/admin/bus/dead-letters?all=true"},
  };
  bus_.letters.push_back(letter("notify"));
  for (const auto& [m, target] : routes) {
    EXPECT_EQ(call("", m, target).status, 401) << target;
    EXPECT_EQ(call("forged", m, target).status, 401) << target;
    EXPECT_EQ(error(call(kTenantAdmin, m, target), 403),
              "PERMISSION_DENIED: the bus administration API is for platform administrators")
        << target;
  }
  EXPECT_EQ(bus_.letters.size(), 1u);  // nobody got to purge
  EXPECT_EQ(bus_.calls.purge, 0);
  EXPECT_EQ(call(kAdmin, Method::kGet, "/api/v1/admin/bus/stats").status, 200);
}

TEST_F(BusRoutesTest, StatsAreProto3Json) {
  int asked = 0;
  register_routes(router_, bus_, {.outbox_pending = [&asked]() -> Result<std::uint64_t> {
                    ++asked;
                    return 7;
                  }});
  auto stats = parse<pb::BusStats>(call(kAdmin, Method::kGet, "/api/v1/admin/bus/stats"), 200);
  EXPECT_EQ(asked, 1);
  EXPECT_EQ(stats.backend(), "fake");
  EXPECT_EQ(stats.outbox_pending(), 7u);
  ASSERT_EQ(stats.consumers_size(), 2);
  EXPECT_EQ(stats.consumers(0).name(), "chat-fanout");
  EXPECT_EQ(stats.consumers(0).filter(), "chat.>");
  EXPECT_EQ(stats.consumers(0).pending(), 3u);
  EXPECT_EQ(stats.consumers(0).in_flight(), 2u);
  EXPECT_EQ(stats.consumers(0).redelivered(), 1u);
  EXPECT_EQ(stats.consumers(0).dead_lettered(), 1u);
  EXPECT_EQ(stats.consumers(1).dead_lettered(), 2u);
}

TEST_F(BusRoutesTest, StatsWithoutAnOutboxAndWhenItFails) {
  register_routes(router_, bus_, {.outbox_pending = []() -> Result<std::uint64_t> {
                    return Error::unavailable("database unavailable");
                  }});
  EXPECT_EQ(error(call(kAdmin, Method::kGet, "/api/v1/admin/bus/stats"), 503),
            "UNAVAILABLE: database unavailable");
  net::Router plain;
  plain.set_authenticator([](const net::Request&) -> Result<Principal> {
    return Principal{"t1", "u1", "s1", "admin", true};
  });
  register_routes(plain, bus_);
  net::Request req;
  req.method = Method::kGet;
  req.path = req.target = "/api/v1/admin/bus/stats";
  auto m = plain.match(req);
  auto r = plain.serve(req, m);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["outboxPending"], 0);
}

TEST_F(BusRoutesTest, DeadLettersPageAndFilterByConsumer) {
  register_routes(router_, bus_);
  for (int i = 0; i < 5; ++i) bus_.letters.push_back(letter(i % 2 == 0 ? "notify" : "chat"));
  auto page1 = parse<pb::ListDeadLettersResponse>(
      call(kAdmin, Method::kGet, "/api/v1/admin/bus/dead-letters?pageSize=2"), 200);
  ASSERT_EQ(page1.dead_letters_size(), 2);
  EXPECT_EQ(page1.dead_letters(0).id(), bus_.letters[0].id);
  EXPECT_FALSE(page1.next_page_token().empty());
  auto page2 = parse<pb::ListDeadLettersResponse>(
      call(kAdmin, Method::kGet,
           "/api/v1/admin/bus/dead-letters?pageSize=2&pageToken=" + page1.next_page_token()),
      200);
  ASSERT_EQ(page2.dead_letters_size(), 2);
  EXPECT_EQ(page2.dead_letters(0).id(), bus_.letters[2].id);
  auto page3 = parse<pb::ListDeadLettersResponse>(
      call(kAdmin, Method::kGet,
           "/api/v1/admin/bus/dead-letters?pageSize=2&pageToken=" + page2.next_page_token()),
      200);
  ASSERT_EQ(page3.dead_letters_size(), 1);
  EXPECT_TRUE(page3.next_page_token().empty());

  auto chat = parse<pb::ListDeadLettersResponse>(
      call(kAdmin, Method::kGet, "/api/v1/admin/bus/dead-letters?consumer=chat"), 200);
  ASSERT_EQ(chat.dead_letters_size(), 2);
  for (const auto& d : chat.dead_letters()) EXPECT_EQ(d.consumer(), "chat");
  EXPECT_TRUE(chat.next_page_token().empty());
}

TEST_F(BusRoutesTest, OneDeadLetterWithEveryField) {
  register_routes(router_, bus_);
  auto d = letter("notify", std::string("\x00\xfb\xff", 3));
  bus_.letters.push_back(d);
  auto r = call(kAdmin, Method::kGet, "/api/v1/admin/bus/dead-letters/" + d.id);
  auto got = parse<pb::DeadLetter>(r, 200);
  EXPECT_EQ(got.id(), d.id);
  EXPECT_EQ(got.consumer(), "notify");
  EXPECT_EQ(got.reason(), "max_deliver");
  EXPECT_EQ(got.detail(), "handler failed");
  EXPECT_EQ(got.deliveries(), 5u);
  EXPECT_EQ(got.dead_letter_time().seconds(), 1'700'000'000);
  EXPECT_EQ(got.dead_letter_time().nanos(), 123'000'000);
  EXPECT_EQ(got.event().id(), d.event.id);
  EXPECT_EQ(got.event().type(), d.event.type);
  EXPECT_EQ(got.event().tenant(), "t1");
  EXPECT_EQ(got.event().subject(), "docs.t1.created");
  EXPECT_EQ(got.event().traceparent(), d.event.traceparent);
  EXPECT_EQ(got.event().occurred_at().seconds(), d.event.occurred_ms / 1000);
  auto payload = json::parse(r.body)["event"]["payload"];
  EXPECT_EQ(payload["@type"], "type.googleapis.com/office.docs.v1.DocumentCreated");
  EXPECT_EQ(payload["value"], "APv/");  // standard base64, as proto3 JSON writes bytes

  EXPECT_EQ(error(call(kAdmin, Method::kGet, "/api/v1/admin/bus/dead-letters/" + new_id()), 404),
            "NOT_FOUND: dead letter not found");
}

TEST_F(BusRoutesTest, InvalidUtf8InADetailIsReplacedNotThrown) {
  register_routes(router_, bus_);
  auto d = letter("notify");
  d.detail = "bad \xff\xfe bytes";
  bus_.letters.push_back(d);
  auto got = parse<pb::DeadLetter>(
      call(kAdmin, Method::kGet, "/api/v1/admin/bus/dead-letters/" + d.id), 200);
  EXPECT_EQ(got.detail(), "bad \xef\xbf\xbd\xef\xbf\xbd bytes");
}

TEST_F(BusRoutesTest, ReplayPublishesTheEventAgainAndRemovesTheLetter) {
  register_routes(router_, bus_);
  auto d = letter("notify");
  bus_.letters.push_back(d);
  auto replayed = parse<pb::ReplayDeadLetterResponse>(
      call(kAdmin, Method::kPost, "/api/v1/admin/bus/dead-letters/" + d.id + "/replay"), 200);
  EXPECT_EQ(replayed.event_id(), d.event.id);
  ASSERT_EQ(bus_.published.size(), 1u);
  EXPECT_EQ(bus_.published[0], d.event);
  EXPECT_TRUE(bus_.letters.empty());
  EXPECT_EQ(
      error(call(kAdmin, Method::kPost, "/api/v1/admin/bus/dead-letters/" + d.id + "/replay", "{}"),
            404),
      "NOT_FOUND: dead letter not found");

  // A bus that cannot publish keeps the dead letter and says so.
  auto e = letter("notify");
  bus_.letters.push_back(e);
  bus_.publish_error = Error::exhausted("the bus is full", 1);
  EXPECT_EQ(
      error(call(kAdmin, Method::kPost, "/api/v1/admin/bus/dead-letters/" + e.id + "/replay"), 429),
      "RESOURCE_EXHAUSTED: the bus is full");
  EXPECT_EQ(bus_.letters.size(), 1u);
  EXPECT_EQ(error(call(kAdmin, Method::kPost, "/api/v1/admin/bus/dead-letters/" + e.id + "/replay",
                       R"({"x":1})"),
                  400),
            "INVALID_ARGUMENT: unknown field 'x'");
}

TEST_F(BusRoutesTest, RemoveOne) {
  register_routes(router_, bus_);
  auto d = letter("notify");
  bus_.letters.push_back(d);
  bus_.letters.push_back(letter("notify"));
  auto r = call(kAdmin, Method::kDelete, "/api/v1/admin/bus/dead-letters/" + d.id);
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(bus_.letters.size(), 1u);
  EXPECT_EQ(error(call(kAdmin, Method::kDelete, "/api/v1/admin/bus/dead-letters/" + d.id), 404),
            "NOT_FOUND: dead letter not found");
}

TEST_F(BusRoutesTest, PurgeNeedsAConsumerOrAllTrue) {
  register_routes(router_, bus_);
  for (int i = 0; i < 5; ++i) bus_.letters.push_back(letter(i < 2 ? "chat" : "notify"));
  const std::string purge = "/api/v1/admin/bus/dead-letters";
  EXPECT_EQ(
      error(call(kAdmin, Method::kDelete, purge), 400),
      "INVALID_ARGUMENT: give consumer=NAME, or all=true to purge every consumer's dead letters");
  EXPECT_EQ(error(call(kAdmin, Method::kDelete, purge + "?all=false"), 400),
            "INVALID_ARGUMENT: give consumer=NAME, or all=true to purge every consumer's dead "
            "letters");
  EXPECT_EQ(error(call(kAdmin, Method::kDelete, purge + "?all=yes"), 400),
            "INVALID_ARGUMENT: all must be true or false");
  EXPECT_EQ(error(call(kAdmin, Method::kDelete, purge + "?consumer=chat&all=true"), 400),
            "INVALID_ARGUMENT: give either consumer or all=true, not both");
  EXPECT_EQ(error(call(kAdmin, Method::kDelete, purge + "?consumer="), 400),
            "INVALID_ARGUMENT: consumer name must be 1 to 64 characters");
  EXPECT_EQ(bus_.calls.purge, 0);
  EXPECT_EQ(bus_.letters.size(), 5u);

  auto chat = parse<pb::PurgeDeadLettersResponse>(
      call(kAdmin, Method::kDelete, purge + "?consumer=chat"), 200);
  EXPECT_EQ(chat.purged(), 2u);
  EXPECT_EQ(bus_.letters.size(), 3u);
  auto all =
      parse<pb::PurgeDeadLettersResponse>(call(kAdmin, Method::kDelete, purge + "?all=true"), 200);
  EXPECT_EQ(all.purged(), 3u);
  EXPECT_TRUE(bus_.letters.empty());
}

TEST_F(BusRoutesTest, BadParametersAre400WithoutEchoingThem) {
  register_routes(router_, bus_);
  const std::string list = "/api/v1/admin/bus/dead-letters";
  const std::pair<std::string, std::string> cases[] = {
      {list + "?pageSize=0", "INVALID_ARGUMENT: pageSize must be between 1 and 1000"},
      {list + "?pageSize=1001", "INVALID_ARGUMENT: pageSize must be between 1 and 1000"},
      {list + "?pageSize=", "INVALID_ARGUMENT: pageSize must be between 1 and 1000"},
      {list + "?pageSize=10abc", "INVALID_ARGUMENT: pageSize must be between 1 and 1000"},
      {list + "?pageSize=-1", "INVALID_ARGUMENT: pageSize must be between 1 and 1000"},
      {list + "?pageSize=99999999999999999999999",
       "INVALID_ARGUMENT: pageSize must be between 1 and 1000"},
      {list + "?consumer=%3Cscript%3E",
       "INVALID_ARGUMENT: consumer name may contain only [A-Za-z0-9_-]"},
      {list + "?consumer=" + std::string(65, 'a'),
       "INVALID_ARGUMENT: consumer name must be 1 to 64 characters"},
      {list + "?pageToken=" + std::string(257, 'a'),
       "INVALID_ARGUMENT: pageToken is not one this server gave"},
      {list + "?pageToken=a%0Ab", "INVALID_ARGUMENT: pageToken is not one this server gave"},
      {list + "/not-a-uuid", "INVALID_ARGUMENT: dead letter id must be a UUID"},
      {list + "/%3Cscript%3E", "INVALID_ARGUMENT: dead letter id must be a UUID"},
  };
  for (const auto& [target, message] : cases) {
    auto r = call(kAdmin, Method::kGet, target);
    EXPECT_EQ(error(r, 400), message) << target;
    EXPECT_EQ(r.body.find("script"), std::string::npos) << r.body;
  }
  EXPECT_EQ(bus_.calls.list, 0);
  EXPECT_EQ(error(call(kAdmin, Method::kPost, list + "/nope/replay"), 400),
            "INVALID_ARGUMENT: dead letter id must be a UUID");
  EXPECT_EQ(error(call(kAdmin, Method::kDelete, list + "/nope"), 400),
            "INVALID_ARGUMENT: dead letter id must be a UUID");
  // The bus's own check of an opaque token it did not make.
  EXPECT_EQ(error(call(kAdmin, Method::kGet, list + "?pageToken=xyz"), 400),
            "INVALID_ARGUMENT: bad page token");
}

}  // namespace
}  // namespace office::bus
