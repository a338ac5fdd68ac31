#include "bus/event.hpp"

#include <gtest/gtest.h>

#include <string>

#include "office/events/v1/events.pb.h"

namespace office::bus {
namespace {

Event sample() {
  FakeClock clock;
  return make_event("office.test.v1.Thing", "t1", "test.t1.created", std::string("\x00\x01zz", 4),
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", clock);
}

TEST(Event, RoundTripsThroughTheEnvelope) {
  Event e = sample();
  ASSERT_TRUE(validate_event(e));
  auto back = decode_event(encode_event(e));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, e);
  EXPECT_EQ(back->occurred_ms, 1'767'225'600'000);
}

TEST(Event, TheEnvelopeCarriesATypedAnyPayload) {
  Event e = sample();
  office::events::v1::Envelope env;
  ASSERT_TRUE(env.ParseFromString(encode_event(e)));
  EXPECT_EQ(env.payload().type_url(), "type.googleapis.com/office.test.v1.Thing");
  EXPECT_EQ(env.payload().value(), e.payload);
  EXPECT_EQ(env.occurred_at().seconds(), 1'767'225'600);
}

TEST(Event, RejectsBadFields) {
  Event e = sample();
  e.id = "not-a-uuid";
  EXPECT_FALSE(validate_event(e));
  e = sample();
  e.type = "bad type";
  EXPECT_FALSE(validate_event(e));
  e = sample();
  e.subject = "a..b";
  EXPECT_FALSE(validate_event(e));
  e = sample();
  e.subject = "a.*";
  EXPECT_FALSE(validate_event(e)) << "no wildcards in a published subject";
  e = sample();
  e.subject = "a b";
  EXPECT_FALSE(validate_event(e));
  e = sample();
  e.tenant = "t.1";
  EXPECT_FALSE(validate_event(e));
  e = sample();
  e.traceparent = "00-zz";
  EXPECT_FALSE(validate_event(e));
  e = sample();
  e.payload.assign(kMaxPayloadBytes + 1, 'x');
  EXPECT_EQ(validate_event(e).error().code, ErrorCode::kInvalidArgument);
  e = sample();
  e.subject = std::string(kMaxSubjectBytes + 1, 'a');
  EXPECT_FALSE(validate_event(e));
  e = sample();
  e.subject = "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a";  // 17 tokens
  EXPECT_FALSE(validate_event(e));
}

TEST(Event, DecodeRejectsGarbageAndMismatchedTypes) {
  EXPECT_FALSE(decode_event("\xff\xff\xff"));
  EXPECT_FALSE(decode_event(""));  // empty envelope: no id
  EXPECT_FALSE(decode_event(std::string(kMaxEnvelopeBytes + 1, '\0')));
  office::events::v1::Envelope env;
  ASSERT_TRUE(env.ParseFromString(encode_event(sample())));
  env.mutable_payload()->set_type_url("type.googleapis.com/office.other.v1.Thing");
  auto r = decode_event(env.SerializeAsString());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("type URL"), std::string::npos);
}

TEST(Subject, PatternsFollowNatsRules) {
  EXPECT_TRUE(subject_matches(">", "a"));
  EXPECT_TRUE(subject_matches(">", "a.b.c"));
  EXPECT_TRUE(subject_matches("a.>", "a.b"));
  EXPECT_TRUE(subject_matches("a.>", "a.b.c"));
  EXPECT_FALSE(subject_matches("a.>", "a"));
  EXPECT_FALSE(subject_matches("a.>", "b.c"));
  EXPECT_TRUE(subject_matches("a.*.c", "a.b.c"));
  EXPECT_FALSE(subject_matches("a.*.c", "a.b.d"));
  EXPECT_FALSE(subject_matches("a.*", "a.b.c"));
  EXPECT_FALSE(subject_matches("a.*", "a"));
  EXPECT_TRUE(subject_matches("a.b", "a.b"));
  EXPECT_FALSE(subject_matches("a.b", "a.bc"));
  EXPECT_FALSE(subject_matches("a.bc", "a.b"));
  EXPECT_TRUE(validate_subject("a.*.>", true));
  EXPECT_FALSE(validate_subject("a.>.b", true));
  EXPECT_FALSE(validate_subject("a.*", false));
  EXPECT_FALSE(validate_subject("", true));
}

TEST(ConsumerName, IsATokenOfAtMost64) {
  EXPECT_TRUE(validate_consumer_name("notify-mail_1"));
  EXPECT_FALSE(validate_consumer_name(""));
  EXPECT_FALSE(validate_consumer_name("a.b"));
  EXPECT_FALSE(validate_consumer_name(std::string(65, 'a')));
}

}  // namespace
}  // namespace office::bus
