#include "docs/sharedb_protocol.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>

#include "ot/json_codec.hpp"

namespace office::docs::sharedb {
namespace {

using json = nlohmann::json;

Request ok(std::string_view text) {
  Parsed p = parse_request(text);
  EXPECT_FALSE(p.error) << text << ": " << (p.error ? p.error->message : "");
  return p.request;
}

ProtocolError err(std::string_view text) {
  Parsed p = parse_request(text);
  EXPECT_TRUE(p.error) << text;
  return p.error.value_or(ProtocolError{});
}

TEST(SharedbProtocol, ParsesHandshake) {
  Request r = ok(R"({"a":"hs","id":null,"protocol":1,"protocolMinor":2})");
  EXPECT_EQ(r.action, Action::kHandshake);
  EXPECT_FALSE(r.client_id);
  r = ok(R"({"a":"hs","id":"abc.def","protocol":1,"protocolMinor":2})");
  EXPECT_EQ(r.client_id, "abc.def");
  EXPECT_EQ(err(R"({"a":"hs","protocol":2})").code, "ERR_PROTOCOL_VERSION_NOT_SUPPORTED");
  EXPECT_EQ(err(R"({"a":"hs","protocol":[1]})").code, "ERR_MESSAGE_BADLY_FORMED");
}

TEST(SharedbProtocol, ParsesFetchSubscribeUnsubscribe) {
  Request r = ok(R"({"a":"f","c":"docs","d":"d1"})");
  EXPECT_EQ(r.action, Action::kFetch);
  EXPECT_EQ(r.c, "docs");
  EXPECT_EQ(r.d, "d1");
  EXPECT_FALSE(r.v);
  r = ok(R"({"a":"s","c":"docs","d":"d1","v":7})");
  EXPECT_EQ(r.action, Action::kSubscribe);
  EXPECT_EQ(r.v, 7);
  r = ok(R"({"a":"s","c":"docs","d":"d1","v":null})");
  EXPECT_FALSE(r.v);
  r = ok(R"({"a":"u","c":"docs","d":"d1"})");
  EXPECT_EQ(r.action, Action::kUnsubscribe);
  EXPECT_EQ(err(R"({"a":"s","c":"docs"})").message, "Invalid id");
  EXPECT_EQ(err(R"({"a":"s","c":"docs","d":"x","v":-1})").message, "Invalid version");
  EXPECT_EQ(err(R"({"a":"s","c":"docs","d":"x","v":1.5})").message, "Invalid version");
  EXPECT_EQ(err(R"({"a":"s","c":"docs","d":"x","v":"3"})").message, "Invalid version");
  EXPECT_EQ(err(R"({"a":"s","c":"docs","d":"x","v":9007199254740992})").message, "Invalid version");
  EXPECT_EQ(err(R"({"a":"s","c":5,"d":"x"})").message, "Invalid collection");
  EXPECT_EQ(err(R"({"a":"s","c":"docs","d":""})").message, "Invalid id");
  EXPECT_EQ(err(R"({"a":"s","c":"docs","d":"a\u0001b"})").message, "Invalid id");
  std::string long_id(kMaxIdBytes + 1, 'x');
  EXPECT_EQ(err(R"({"a":"s","c":"docs","d":")" + long_id + "\"}").message, "Invalid id");
}

TEST(SharedbProtocol, ParsesBulk) {
  Request r = ok(R"({"a":"bs","c":"docs","b":["a","b"]})");
  EXPECT_EQ(r.action, Action::kBulkSubscribe);
  ASSERT_EQ(r.bulk.size(), 2u);
  EXPECT_FALSE(r.bulk_is_map);
  EXPECT_EQ(r.bulk[1].first, "b");
  r = ok(R"({"a":"bf","c":"docs","b":{"a":3,"b":null}})");
  EXPECT_TRUE(r.bulk_is_map);
  ASSERT_EQ(r.bulk.size(), 2u);
  EXPECT_EQ(r.bulk[0].second, 3);
  EXPECT_FALSE(r.bulk[1].second);
  r = ok(R"({"a":"bu","c":"docs","b":["a"]})");
  EXPECT_EQ(r.action, Action::kBulkUnsubscribe);
  EXPECT_EQ(err(R"({"a":"bs","c":"docs","b":"a"})").message, "Invalid bulk subscribe data");
  EXPECT_EQ(err(R"({"a":"bs","c":"docs","b":[1]})").message, "Invalid id");
  EXPECT_EQ(err(R"({"a":"bs","c":"docs","b":{"a":-2}})").message, "Invalid version");
  json many = {{"a", "bs"}, {"c", "docs"}, {"b", json::array()}};
  for (std::size_t i = 0; i <= kMaxBulkIds; ++i) many["b"].push_back("d" + std::to_string(i));
  EXPECT_EQ(err(many.dump()).code, "ERR_MESSAGE_BADLY_FORMED");
}

TEST(SharedbProtocol, ParsesOps) {
  Request r =
      ok(R"({"a":"op","c":"docs","d":"d1","v":3,"src":"s1","seq":4,"x":{},"op":[2,"hé",{"d":1}]})");
  EXPECT_EQ(r.action, Action::kOp);
  EXPECT_EQ(r.op_kind, Request::OpKind::kEdit);
  EXPECT_EQ(r.v, 3);
  EXPECT_EQ(r.seq, 4);
  EXPECT_EQ(r.src, "s1");
  EXPECT_EQ(ot::dump_op(r.op), R"([2,"hé",{"d":1}])");

  r = ok(
      R"({"a":"op","c":"docs","d":"d1","v":null,"seq":1,"create":{"type":"http://sharejs.org/types/text-unicode","data":"hi"}})");
  EXPECT_EQ(r.op_kind, Request::OpKind::kCreate);
  EXPECT_EQ(r.create_text, "hi");
  EXPECT_FALSE(r.v);
  r = ok(R"({"a":"op","c":"docs","d":"d1","seq":1,"create":{"type":"text-unicode"}})");
  EXPECT_EQ(r.create_text, "");
  r = ok(R"({"a":"op","c":"docs","d":"d1","v":2,"seq":1,"del":true})");
  EXPECT_EQ(r.op_kind, Request::OpKind::kDelete);

  EXPECT_EQ(err(R"({"a":"op","c":"docs","d":"d1","v":1,"seq":1,"op":[true]})").code,
            "ERR_OT_OP_BADLY_FORMED");
  EXPECT_EQ(err(R"({"a":"op","c":"docs","d":"d1","v":1,"seq":1,"op":[3]})").message,
            "Op has a trailing skip");
  EXPECT_EQ(err(R"({"a":"op","c":"docs","d":"d1","v":1,"seq":1,"op":[""]})").code,
            "ERR_OT_OP_BADLY_FORMED");
  EXPECT_EQ(err(R"({"a":"op","c":"docs","d":"d1","v":1,"seq":1,"op":{"d":1}})").code,
            "ERR_OT_OP_BADLY_FORMED");
  EXPECT_EQ(err(R"({"a":"op","c":"docs","d":"d1","v":1,"seq":1})").message, "Invalid op message");
  EXPECT_EQ(err(R"({"a":"op","c":"docs","d":"d1","v":1,"op":[]})").message, "Invalid seq");
  EXPECT_EQ(err(R"({"a":"op","c":"docs","d":"d1","v":1,"seq":9007199254740992,"op":["x"]})").code,
            "ERR_CONNECTION_SEQ_INTEGER_OVERFLOW");
  EXPECT_EQ(err(R"({"a":"op","c":"docs","d":"d1","seq":1,"create":{"type":"json0"}})").code,
            "ERR_DOC_TYPE_NOT_RECOGNIZED");
  EXPECT_EQ(
      err(R"({"a":"op","c":"docs","d":"d1","seq":1,"create":{"type":"text-unicode","data":{}}})")
          .message,
      "Initial data must be a string");
  // The routing fields read before the bad one survive for the error reply.
  Parsed p = parse_request(R"({"a":"op","c":"docs","d":"d1","v":1,"seq":9,"op":[null]})");
  ASSERT_TRUE(p.error);
  EXPECT_EQ(p.request.d, "d1");
  EXPECT_EQ(p.request.seq, 9);
}

TEST(SharedbProtocol, ParsesSnapshotsPresenceQueriesPing) {
  Request r = ok(R"({"a":"nf","id":1,"c":"docs","d":"d1","v":null})");
  EXPECT_EQ(r.action, Action::kSnapshotFetch);
  EXPECT_EQ(r.request_id, 1);
  EXPECT_FALSE(r.v);
  r = ok(R"({"a":"nt","id":2,"c":"docs","d":"d1","ts":1700000000000})");
  EXPECT_EQ(r.ts, 1700000000000);
  EXPECT_EQ(err(R"({"a":"nf","c":"docs","d":"d1"})").message, "Invalid snapshot request id");
  EXPECT_EQ(err(R"({"a":"nf","id":1,"d":"d1"})").message, "Invalid collection");

  r = ok(
      R"({"a":"p","ch":"docs.d1","id":"p1","p":{"index":3,"length":0},"pv":0,"c":"docs","d":"d1","v":5,"t":"http://sharejs.org/types/text-unicode"})");
  EXPECT_EQ(r.action, Action::kPresence);
  EXPECT_EQ(r.presence_id, "p1");
  EXPECT_EQ(r.presence_value, R"({"index":3,"length":0})");
  EXPECT_EQ(r.pv, 0);
  EXPECT_EQ(r.v, 5);
  r = ok(R"({"a":"p","ch":"docs.d1","id":"p1","p":null,"pv":1})");
  EXPECT_FALSE(r.presence_value);
  EXPECT_EQ(err(R"({"a":"p","ch":"docs.d1","pv":1})").message, "Invalid presence ID");
  EXPECT_EQ(err(R"({"a":"p","ch":"docs.d1","id":"x"})").message, "Invalid presence version");

  r = ok(R"({"a":"ps","ch":"docs.d1","seq":3})");
  EXPECT_EQ(r.action, Action::kPresenceSubscribe);
  EXPECT_EQ(r.seq, 3);
  EXPECT_EQ(ok(R"({"a":"pu","ch":"docs.d1","seq":4})").action, Action::kPresenceUnsubscribe);
  EXPECT_EQ(ok(R"({"a":"pr","ch":"docs.d1"})").action, Action::kPresenceRequest);
  EXPECT_EQ(err(R"({"a":"ps","seq":1})").message, "Invalid presence channel");

  EXPECT_EQ(ok(R"({"a":"qf","id":1,"c":"docs","q":{}})").action, Action::kQueryFetch);
  EXPECT_EQ(ok(R"({"a":"qs","id":1,"c":"docs","q":{}})").action, Action::kQuerySubscribe);
  EXPECT_EQ(err(R"({"a":"qf","c":"docs"})").message, "Missing query ID");
  EXPECT_EQ(ok(R"({"a":"pp"})").action, Action::kPing);
  EXPECT_EQ(ok(R"({"a":"auth","token":"t"})").token, "t");

  EXPECT_EQ(doc_of_channel("docs.abc"), "abc");
  EXPECT_FALSE(doc_of_channel("docs."));
  EXPECT_FALSE(doc_of_channel("other.abc"));
  EXPECT_FALSE(doc_of_channel("docsabc"));
}

TEST(SharedbProtocol, RefusesGarbage) {
  EXPECT_EQ(err("").code, "ERR_MESSAGE_BADLY_FORMED");
  EXPECT_EQ(err("{").code, "ERR_MESSAGE_BADLY_FORMED");
  EXPECT_EQ(err("[]").message, "Received non-object message");
  EXPECT_EQ(err("{}").message, "Invalid or unknown message");
  EXPECT_EQ(err(R"({"a":"zz"})").message, "Invalid or unknown message");
  EXPECT_EQ(err(R"({"a":1})").message, "Invalid or unknown message");
  // A lone surrogate is not text.
  EXPECT_EQ(err(R"({"a":"op","c":"docs","d":"d","v":0,"seq":1,"op":["\ud800"]})").code,
            "ERR_MESSAGE_BADLY_FORMED");
  // Invalid UTF-8 bytes.
  EXPECT_EQ(err("{\"a\":\"op\",\"op\":[\"\xff\"]}").code, "ERR_MESSAGE_BADLY_FORMED");
  // Nesting past the limit stops the parse.
  std::string deep = R"({"a":"p","ch":"docs.d","id":"x","pv":1,"p":)";
  for (int i = 0; i < 100; ++i) deep += '[';
  for (int i = 0; i < 100; ++i) deep += ']';
  deep += '}';
  EXPECT_NE(err(deep).message.find("nested"), std::string::npos);
  std::string nul = std::string("{\"a\":\"pp\"}") + '\0';
  EXPECT_EQ(err(nul).code, "ERR_MESSAGE_BADLY_FORMED");
}

TEST(SharedbProtocol, SurvivesRandomBytesAndMutations) {
  std::mt19937 rng(1234);
  const std::string seeds[] = {
      R"({"a":"op","c":"docs","d":"d1","v":3,"src":"s","seq":4,"op":[2,"hé",{"d":1}]})",
      R"({"a":"bs","c":"docs","b":{"a":3,"b":null}})",
      R"({"a":"p","ch":"docs.d1","id":"p1","p":{"i":[1,2]},"pv":0,"v":5})",
      R"({"a":"hs","id":null,"protocol":1,"protocolMinor":2})",
  };
  for (int i = 0; i < 20000; ++i) {
    std::string s = seeds[i % 4];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      std::size_t at = rng() % (s.size() + 1);
      switch (rng() % 3) {
        case 0:
          s.insert(at, 1, static_cast<char>(rng() % 256));
          break;
        case 1:
          if (at < s.size()) s.erase(at, 1);
          break;
        default:
          if (at < s.size()) s[at] = "{}[]\",:0123456789-.eE \\u"[rng() % 25];
      }
    }
    Parsed p = parse_request(s);
    // Whatever came in, an error reply can be built and is valid JSON.
    std::string reply = error_reply(p.request, "ERR_X", p.error ? p.error->message : "ok");
    EXPECT_TRUE(json::accept(reply)) << reply;
  }
}

TEST(SharedbProtocol, SerialisesReplies) {
  EXPECT_EQ(
      handshake_reply("c1"),
      R"({"a":"hs","protocol":1,"protocolMinor":2,"id":"c1","type":"http://sharejs.org/types/JSONv0"})");
  Snapshot s{.doc_id = "d1", .version = 4, .exists = true, .text = "a\"b", .ts_ms = 0};
  EXPECT_EQ(
      doc_reply(Action::kSubscribe, "d1", &s),
      R"({"a":"s","c":"docs","d":"d1","data":{"v":4,"data":"a\"b","type":"http://sharejs.org/types/text-unicode"}})");
  Snapshot none{.doc_id = "d2"};
  EXPECT_EQ(doc_reply(Action::kFetch, "d2", &none),
            R"({"a":"f","c":"docs","d":"d2","data":{"v":0,"type":null}})");
  EXPECT_EQ(doc_reply(Action::kUnsubscribe, "d2", nullptr), R"({"a":"u","c":"docs","d":"d2"})");

  CommittedOp op;
  op.doc_id = "d1";
  op.version = 4;
  op.src = "c2";
  op.seq = 9;
  op.op = *ot::parse_op(R"([1,"x"])");
  EXPECT_EQ(op_message(op),
            R"({"a":"op","c":"docs","d":"d1","v":4,"src":"c2","seq":9,"op":[1,"x"]})");
  EXPECT_EQ(op_ack("d1", "c1", 3, 7), R"({"a":"op","c":"docs","d":"d1","src":"c1","seq":3,"v":7})");
  EXPECT_EQ(
      snapshot_reply(Action::kSnapshotFetch, 5, s),
      R"({"a":"nf","id":5,"v":4,"type":"http://sharejs.org/types/text-unicode","data":"a\"b"})");
  EXPECT_EQ(snapshot_reply(Action::kSnapshotFetchTime, 6, none),
            R"({"a":"nt","id":6,"v":0,"type":null})");
  EXPECT_EQ(presence_subscription_reply(Action::kPresenceSubscribe, "docs.d1", 2),
            R"({"a":"ps","ch":"docs.d1","seq":2})");
  EXPECT_EQ(presence_ack("docs.d1", "p1", 3), R"({"a":"p","ch":"docs.d1","id":"p1","pv":3})");
  EXPECT_EQ(
      presence_message("d1", "p1", R"({"index":1})", 2, 7, "c9"),
      R"({"a":"p","ch":"docs.d1","src":"c9","id":"p1","p":{"index":1},"pv":2,"c":"docs","d":"d1","v":7,"t":"http://sharejs.org/types/text-unicode"})");
  EXPECT_EQ(presence_message("d1", "p1", "", 3, 7, "").find(R"("src":null,"id":"p1","p":null)") !=
                std::string::npos,
            true);
  EXPECT_EQ(bare_reply(Action::kPing), R"({"a":"pp"})");
}

TEST(SharedbProtocol, ErrorRepliesCarryOnlyRoutingFields) {
  Parsed p =
      parse_request(R"({"a":"op","c":"docs","d":"d1","v":3,"src":"s","seq":4,"op":[1,"secret"]})");
  ASSERT_FALSE(p.error);
  EXPECT_EQ(
      error_reply(p.request, "ERR_OT_OP_NOT_APPLIED", "no"),
      R"({"a":"op","c":"docs","d":"d1","src":"s","seq":4,"v":3,"error":{"code":"ERR_OT_OP_NOT_APPLIED","message":"no"}})");
  p = parse_request(R"({"a":"nf","id":8,"c":"docs","d":"d1","v":2})");
  EXPECT_EQ(error_reply(p.request, "E", "m"),
            R"({"a":"nf","id":8,"c":"docs","d":"d1","error":{"code":"E","message":"m"}})");
  p = parse_request(R"({"a":"bs","c":"docs","b":{"x":1}})");
  EXPECT_EQ(error_reply(p.request, "E", "m"),
            R"({"a":"bs","c":"docs","b":["x"],"error":{"code":"E","message":"m"}})");
  p = parse_request(R"({"a":"p","ch":"docs.d","id":"pid","pv":2,"p":{"big":1}})");
  EXPECT_EQ(error_reply(p.request, "E", "m"),
            R"({"a":"p","id":"pid","ch":"docs.d","pv":2,"error":{"code":"E","message":"m"}})");
  p = parse_request("not json");
  EXPECT_EQ(error_reply(p.request, "E", "m\n\"q\""),
            R"({"error":{"code":"E","message":"m\n\"q\""}})");
}

TEST(SharedbProtocol, MapsServiceErrorsDeliberately) {
  auto code = [](Action a, ErrorCode c) { return to_protocol_error(a, Error{c, "m"}).code; };
  EXPECT_EQ(code(Action::kSubscribe, ErrorCode::kNotFound), "ERR_DOC_DOES_NOT_EXIST");
  EXPECT_EQ(code(Action::kOp, ErrorCode::kAlreadyExists), "ERR_DOC_ALREADY_CREATED");
  EXPECT_EQ(code(Action::kOp, ErrorCode::kPermissionDenied), "ERR_OP_SUBMIT_REJECTED");
  EXPECT_EQ(code(Action::kFetch, ErrorCode::kPermissionDenied), "ERR_PERMISSION_DENIED");
  EXPECT_EQ(code(Action::kOp, ErrorCode::kInvalidArgument), "ERR_OT_OP_NOT_APPLIED");
  EXPECT_EQ(code(Action::kSubscribe, ErrorCode::kInvalidArgument), "ERR_MESSAGE_BADLY_FORMED");
  EXPECT_EQ(code(Action::kOp, ErrorCode::kResourceExhausted), "ERR_RESOURCE_EXHAUSTED");
  EXPECT_EQ(code(Action::kFetch, ErrorCode::kUnavailable), "ERR_UNAVAILABLE");
  auto internal = to_protocol_error(Action::kOp, Error::internal("db path /x leaked"));
  EXPECT_EQ(internal.code, "ERR_UNKNOWN_ERROR");
  EXPECT_EQ(internal.message, "internal error");
}

}  // namespace
}  // namespace office::docs::sharedb
