#include "docs/sharedb_protocol.hpp"

#include <nlohmann/json.hpp>

#include <cmath>

#include "core/json_body.hpp"
#include "core/log.hpp"
#include "ot/json_codec.hpp"

namespace office::docs::sharedb {

namespace {

using json = nlohmann::json;

// JavaScript's Number.MAX_SAFE_INTEGER: the largest integer the client can
// hold exactly; versions, sequence numbers and ids beyond it are refused.
constexpr std::int64_t kMaxSafeInteger = 9007199254740991;

struct ActionName {
  std::string_view name;
  Action action;
};
constexpr ActionName kActions[] = {
    {"hs", Action::kHandshake},
    {"f", Action::kFetch},
    {"s", Action::kSubscribe},
    {"u", Action::kUnsubscribe},
    {"bf", Action::kBulkFetch},
    {"bs", Action::kBulkSubscribe},
    {"bu", Action::kBulkUnsubscribe},
    {"op", Action::kOp},
    {"nf", Action::kSnapshotFetch},
    {"nt", Action::kSnapshotFetchTime},
    {"p", Action::kPresence},
    {"ps", Action::kPresenceSubscribe},
    {"pu", Action::kPresenceUnsubscribe},
    {"pr", Action::kPresenceRequest},
    {"pp", Action::kPing},
    {"qf", Action::kQueryFetch},
    {"qs", Action::kQuerySubscribe},
    {"qu", Action::kQueryUnsubscribe},
    {"auth", Action::kAuth},
};

ProtocolError bad(std::string message) {
  return {std::string(code::kBadMessage), std::move(message)};
}

// A non-negative integer the client could have sent (JSON.stringify writes
// integers without a fraction; an integral double is accepted as the same).
std::optional<std::int64_t> as_count(const json& j) {
  if (j.is_number_unsigned()) {
    auto u = j.get<std::uint64_t>();
    if (u <= static_cast<std::uint64_t>(kMaxSafeInteger)) return static_cast<std::int64_t>(u);
    return std::nullopt;
  }
  if (j.is_number_integer()) {
    auto i = j.get<std::int64_t>();
    if (i >= 0 && i <= kMaxSafeInteger) return i;
    return std::nullopt;
  }
  if (j.is_number_float()) {
    double d = j.get<double>();
    if (std::isfinite(d) && d >= 0 && d <= static_cast<double>(kMaxSafeInteger) &&
        std::floor(d) == d)
      return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

// Ids (documents, presences, clients): 1..kMaxIdBytes bytes, no control
// characters. JSON parsing already guaranteed valid UTF-8.
bool valid_id(std::string_view s) {
  if (s.empty() || s.size() > kMaxIdBytes) return false;
  for (unsigned char ch : s)
    if (ch < 0x20 || ch == 0x7f) return false;
  return true;
}

const json* field(const json& obj, const char* name) {
  auto it = obj.find(name);
  return it == obj.end() ? nullptr : &*it;
}

// Reads an optional id-like string field into `out`. Absent or null: fine.
std::optional<ProtocolError> read_id(const json& obj, const char* name,
                                     std::optional<std::string>& out, const char* what) {
  const json* f = field(obj, name);
  if (!f || f->is_null()) return std::nullopt;
  if (!f->is_string() || !valid_id(f->get_ref<const std::string&>()))
    return bad(std::string("Invalid ") + what);
  out = f->get<std::string>();
  return std::nullopt;
}

std::optional<ProtocolError> read_count(const json& obj, const char* name,
                                        std::optional<std::int64_t>& out, const char* what) {
  const json* f = field(obj, name);
  if (!f || f->is_null()) return std::nullopt;
  auto n = as_count(*f);
  if (!n) return bad(std::string("Invalid ") + what);
  out = *n;
  return std::nullopt;
}

// The channel of doc presence is "<collection>.<id>" (DocPresence.channel).
constexpr std::size_t kMaxChannelBytes = kMaxIdBytes + 16;

std::optional<ProtocolError> read_channel(const json& obj, std::optional<std::string>& out) {
  const json* f = field(obj, "ch");
  if (!f || f->is_null()) return std::nullopt;
  if (!f->is_string()) return bad("Invalid presence channel");
  const auto& s = f->get_ref<const std::string&>();
  if (s.empty() || s.size() > kMaxChannelBytes) return bad("Invalid presence channel");
  for (unsigned char ch : s)
    if (ch < 0x20 || ch == 0x7f) return bad("Invalid presence channel");
  out = s;
  return std::nullopt;
}

std::optional<ProtocolError> read_op(const json& msg, Request& r) {
  const json* op = field(msg, "op");
  const json* create = field(msg, "create");
  const json* del = field(msg, "del");
  if (op) {  // like the agent: `'op' in request` wins
    r.op_kind = Request::OpKind::kEdit;
    auto decoded = ot::op_from_json(*op);
    if (!decoded) return ProtocolError{std::string(code::kOpBadlyFormed), decoded.error().message};
    if (auto st = ot::check_op(*decoded); !st)
      return ProtocolError{std::string(code::kOpBadlyFormed), st.error().message};
    r.op = std::move(*decoded);
    return std::nullopt;
  }
  if (create && !create->is_null() && !(create->is_boolean() && !create->get<bool>())) {
    r.op_kind = Request::OpKind::kCreate;
    if (!create->is_object()) return bad("Invalid create: must be an object");
    const json* type = field(*create, "type");
    if (!type || !type->is_string() ||
        (type->get_ref<const std::string&>() != kTextUnicodeType &&
         type->get_ref<const std::string&>() != ot::kTypeName))
      return ProtocolError{
          std::string(code::kTypeNotRecognized),
          "only text-unicode documents are supported (" + std::string(kTextUnicodeType) + ")"};
    const json* data = field(*create, "data");
    if (data && !data->is_null()) {
      if (!data->is_string()) return bad("Initial data must be a string");
      r.create_text = data->get<std::string>();
    }
    return std::nullopt;
  }
  if (del && !del->is_null() && !(del->is_boolean() && !del->get<bool>())) {
    r.op_kind = Request::OpKind::kDelete;
    return std::nullopt;
  }
  return bad("Invalid op message");
}

std::optional<ProtocolError> read_bulk(const json& msg, Request& r) {
  const json* b = field(msg, "b");
  if (!b || !(b->is_array() || b->is_object())) return bad("Invalid bulk subscribe data");
  if (b->size() > kMaxBulkIds)
    return bad("Too many ids in one bulk request (at most " + std::to_string(kMaxBulkIds) + ")");
  std::vector<std::pair<std::string, std::optional<std::int64_t>>> out;
  out.reserve(b->size());
  if (b->is_array()) {
    for (const auto& id : *b) {
      if (!id.is_string() || !valid_id(id.get_ref<const std::string&>())) return bad("Invalid id");
      out.emplace_back(id.get<std::string>(), std::nullopt);
    }
  } else {
    r.bulk_is_map = true;
    for (const auto& [id, version] : b->items()) {
      if (!valid_id(id)) return bad("Invalid id");
      std::optional<std::int64_t> v;
      if (!version.is_null()) {
        v = as_count(version);
        if (!v) return bad("Invalid version");
      }
      out.emplace_back(id, v);
    }
  }
  r.bulk = std::move(out);
  return std::nullopt;
}

// Reads the fields every action may carry, then the action's own. Fields
// are read in an order that keeps the routing fields (c, d, id, ch, seq)
// available to the error reply even when a later field is bad.
std::optional<ProtocolError> read_request(const json& msg, Request& r) {
  if (auto e = read_id(msg, "c", r.c, "collection")) return e;
  if (r.action != Action::kPresence && r.action != Action::kHandshake &&
      r.action != Action::kSnapshotFetch && r.action != Action::kSnapshotFetchTime &&
      r.action != Action::kQueryFetch && r.action != Action::kQuerySubscribe &&
      r.action != Action::kQueryUnsubscribe) {
    if (auto e = read_id(msg, "d", r.d, "id")) return e;
  }
  switch (r.action) {
    case Action::kHandshake: {
      if (auto e = read_id(msg, "id", r.client_id, "client id")) return e;
      const json* major = field(msg, "protocol");
      if (major && !major->is_null()) {
        auto m = as_count(*major);
        if (!m && !major->is_string()) return bad("Invalid protocol");
        if (m && *m != kProtocolMajor)
          return ProtocolError{std::string(code::kProtocol),
                               "Unsupported protocol version: " + std::to_string(*m)};
      }
      return std::nullopt;
    }
    case Action::kFetch:
    case Action::kSubscribe:
    case Action::kUnsubscribe:
      if (!r.d) return bad("Invalid id");
      return read_count(msg, "v", r.v, "version");
    case Action::kBulkFetch:
    case Action::kBulkSubscribe:
    case Action::kBulkUnsubscribe:
      return read_bulk(msg, r);
    case Action::kOp: {
      if (!r.d) return bad("Invalid id");
      const json* seq = field(msg, "seq");
      if (!seq || seq->is_null()) return bad("Invalid seq");
      if (seq->is_number() && !as_count(*seq) && seq->get<double>() > 0)
        return ProtocolError{std::string(code::kSeqOverflow),
                             "Connection seq has exceeded the max safe integer"};
      if (auto e = read_count(msg, "seq", r.seq, "seq")) return e;
      if (auto e = read_id(msg, "src", r.src, "src")) return e;
      if (auto e = read_count(msg, "v", r.v, "version")) return e;
      return read_op(msg, r);
    }
    case Action::kSnapshotFetch:
    case Action::kSnapshotFetchTime: {
      if (auto e = read_count(msg, "id", r.request_id, "snapshot request id")) return e;
      if (!r.request_id) return bad("Invalid snapshot request id");
      if (auto e = read_id(msg, "d", r.d, "id")) return e;
      if (!r.c) return bad("Invalid collection");
      if (!r.d) return bad("Invalid id");
      if (r.action == Action::kSnapshotFetch) return read_count(msg, "v", r.v, "version");
      return read_count(msg, "ts", r.ts, "timestamp");
    }
    case Action::kPresence: {
      if (auto e = read_channel(msg, r.ch)) return e;
      if (auto e = read_id(msg, "id", r.presence_id, "presence ID")) return e;
      if (auto e = read_count(msg, "pv", r.pv, "presence version")) return e;
      if (auto e = read_id(msg, "d", r.d, "id")) return e;
      if (!r.ch) return bad("Invalid presence channel");
      if (!r.presence_id) return bad("Invalid presence ID");
      if (!r.pv) return bad("Invalid presence version");
      if (auto e = read_count(msg, "v", r.v, "version")) return e;
      const json* p = field(msg, "p");
      if (p && !p->is_null())
        r.presence_value = p->dump(-1, ' ', false, json::error_handler_t::replace);
      return std::nullopt;
    }
    case Action::kPresenceSubscribe:
    case Action::kPresenceUnsubscribe:
      if (auto e = read_channel(msg, r.ch)) return e;
      if (auto e = read_count(msg, "seq", r.seq, "seq")) return e;
      if (!r.ch) return bad("Invalid presence channel");
      return std::nullopt;
    case Action::kPresenceRequest:
      if (auto e = read_channel(msg, r.ch)) return e;
      if (!r.ch) return bad("Invalid presence channel");
      return std::nullopt;
    case Action::kQueryFetch:
    case Action::kQuerySubscribe:
    case Action::kQueryUnsubscribe:
      if (auto e = read_count(msg, "id", r.request_id, "query ID")) return e;
      if (!r.request_id) return bad("Missing query ID");
      return std::nullopt;
    case Action::kAuth: {
      const json* t = field(msg, "token");
      if (!t || !t->is_string() || t->get_ref<const std::string&>().size() > 8192)
        return bad("auth needs a \"token\" string");
      r.token = t->get<std::string>();
      return std::nullopt;
    }
    case Action::kPing:
    case Action::kUnknown:
      return std::nullopt;
  }
  return std::nullopt;
}

void append_string(std::string& out, std::string_view s) {
  out += '"';
  log::append_json_escaped(out, s);
  out += '"';
}

void append_int(std::string& out, std::int64_t v) { out += std::to_string(v); }

std::string head(Action a) {
  std::string out = "{\"a\":\"";
  out += action_name(a);
  out += '"';
  return out;
}

void append_doc(std::string& out, std::string_view doc_id) {
  out += ",\"c\":\"";
  out += kCollection;
  out += "\",\"d\":";
  append_string(out, doc_id);
}

}  // namespace

std::string_view action_name(Action a) {
  for (const auto& n : kActions)
    if (n.action == a) return n.name;
  return {};
}

Parsed parse_request(std::string_view text) {
  Parsed out;
  auto msg = parse_json(text, kMaxMessageDepth);
  if (!msg) {
    out.error = bad("Invalid JSON: " + msg.error().message);
    return out;
  }
  if (!msg->is_object()) {
    out.error = bad("Received non-object message");
    return out;
  }
  const json* a = field(*msg, "a");
  if (a && a->is_string()) {
    for (const auto& n : kActions)
      if (a->get_ref<const std::string&>() == n.name) out.request.action = n.action;
  }
  if (out.request.action == Action::kUnknown) {
    out.error = bad("Invalid or unknown message");
    return out;
  }
  try {
    out.error = read_request(*msg, out.request);
  } catch (const std::exception&) {  // a type nlohmann could not convert: refuse, never crash
    out.error = bad("Invalid message");
  }
  return out;
}

std::optional<std::string> doc_of_channel(std::string_view ch) {
  std::string prefix = std::string(kCollection) + ".";
  if (ch.size() <= prefix.size() || ch.substr(0, prefix.size()) != prefix) return std::nullopt;
  std::string id(ch.substr(prefix.size()));
  if (!valid_id(id)) return std::nullopt;
  return id;
}

std::string handshake_reply(std::string_view client_id) {
  std::string out = head(Action::kHandshake);
  out += ",\"protocol\":";
  append_int(out, kProtocolMajor);
  out += ",\"protocolMinor\":";
  append_int(out, kProtocolMinor);
  out += ",\"id\":";
  append_string(out, client_id);
  out += ",\"type\":";
  append_string(out, kJson0Uri);
  out += '}';
  return out;
}

void append_snapshot(std::string& out, const Snapshot& s) {
  out += "{\"v\":";
  append_int(out, s.version);
  if (s.exists) {
    out += ",\"data\":";
    append_string(out, s.text);
    out += ",\"type\":";
    append_string(out, kTextUnicodeType);
  } else {
    out += ",\"type\":null";
  }
  out += '}';
}

std::string doc_reply(Action a, std::string_view doc_id, const Snapshot* snapshot) {
  std::string out = head(a);
  append_doc(out, doc_id);
  if (snapshot) {
    out += ",\"data\":";
    append_snapshot(out, *snapshot);
  }
  out += '}';
  return out;
}

std::string op_message(const CommittedOp& op) {
  const std::string& fields = op.sharedb_fields();
  std::string out;
  out.reserve(fields.size() + op.doc_id.size() + op.src.size() + 64);
  out = head(Action::kOp);
  append_doc(out, op.doc_id);
  out += ",\"v\":";
  append_int(out, op.version);
  out += ",\"src\":";
  append_string(out, op.src);
  out += ",\"seq\":";
  append_int(out, op.seq);
  out += ',';
  out += fields;
  out += '}';
  return out;
}

std::string op_ack(std::string_view doc_id, std::string_view src, std::int64_t seq,
                   std::int64_t version) {
  std::string out = head(Action::kOp);
  append_doc(out, doc_id);
  out += ",\"src\":";
  append_string(out, src);
  out += ",\"seq\":";
  append_int(out, seq);
  out += ",\"v\":";
  append_int(out, version);
  out += '}';
  return out;
}

std::string snapshot_reply(Action a, std::int64_t request_id, const Snapshot& s) {
  std::string out = head(a);
  out += ",\"id\":";
  append_int(out, request_id);
  out += ",\"v\":";
  append_int(out, s.version);
  if (s.exists) {
    out += ",\"type\":";
    append_string(out, kTextUnicodeType);
    out += ",\"data\":";
    append_string(out, s.text);
  } else {
    out += ",\"type\":null";
  }
  out += '}';
  return out;
}

std::string presence_subscription_reply(Action a, std::string_view ch, std::int64_t seq) {
  std::string out = head(a);
  out += ",\"ch\":";
  append_string(out, ch);
  out += ",\"seq\":";
  append_int(out, seq);
  out += '}';
  return out;
}

std::string presence_ack(std::string_view ch, std::string_view presence_id, std::int64_t pv) {
  std::string out = head(Action::kPresence);
  out += ",\"ch\":";
  append_string(out, ch);
  out += ",\"id\":";
  append_string(out, presence_id);
  out += ",\"pv\":";
  append_int(out, pv);
  out += '}';
  return out;
}

std::string presence_message(std::string_view doc_id, std::string_view presence_id,
                             std::string_view value_json, std::int64_t pv, std::int64_t version,
                             std::string_view src) {
  std::string out = head(Action::kPresence);
  out += ",\"ch\":";
  append_string(out, std::string(kCollection) + "." + std::string(doc_id));
  out += ",\"src\":";
  if (src.empty())
    out += "null";
  else
    append_string(out, src);
  out += ",\"id\":";
  append_string(out, presence_id);
  out += ",\"p\":";
  if (value_json.empty())
    out += "null";
  else
    out += value_json;  // produced by our own serialiser (parse_request), or the service's
  out += ",\"pv\":";
  append_int(out, pv);
  append_doc(out, doc_id);
  out += ",\"v\":";
  append_int(out, version);
  out += ",\"t\":";
  append_string(out, kTextUnicodeType);
  out += '}';
  return out;
}

std::string bare_reply(Action a) {
  std::string out = head(a);
  out += '}';
  return out;
}

std::string error_reply(const Request& r, std::string_view code, std::string_view message) {
  std::string out = "{";
  bool first = true;
  auto sep = [&] {
    if (!first) out += ',';
    first = false;
  };
  if (r.action != Action::kUnknown) {
    sep();
    out += "\"a\":";
    append_string(out, action_name(r.action));
  }
  if (r.request_id) {
    sep();
    out += "\"id\":";
    append_int(out, *r.request_id);
  } else if (r.action == Action::kPresence && r.presence_id) {
    sep();
    out += "\"id\":";
    append_string(out, *r.presence_id);
  }
  if (r.c) {
    sep();
    out += "\"c\":";
    append_string(out, *r.c);
  }
  if (r.d) {
    sep();
    out += "\"d\":";
    append_string(out, *r.d);
  }
  if (r.ch) {
    sep();
    out += "\"ch\":";
    append_string(out, *r.ch);
  }
  if (r.src) {
    sep();
    out += "\"src\":";
    append_string(out, *r.src);
  }
  if (r.seq) {
    sep();
    out += "\"seq\":";
    append_int(out, *r.seq);
  }
  if (r.pv) {
    sep();
    out += "\"pv\":";
    append_int(out, *r.pv);
  }
  if (r.v && r.action == Action::kOp) {
    sep();
    out += "\"v\":";
    append_int(out, *r.v);
  }
  if (!r.bulk.empty()) {
    // The client routes a bulk error to each document named in `b`.
    sep();
    out += "\"b\":[";
    for (std::size_t i = 0; i < r.bulk.size(); ++i) {
      if (i) out += ',';
      append_string(out, r.bulk[i].first);
    }
    out += ']';
  }
  sep();
  out += "\"error\":{\"code\":";
  append_string(out, code);
  out += ",\"message\":";
  append_string(out, message);
  out += "}}";
  return out;
}

ProtocolError to_protocol_error(Action a, const Error& e) {
  auto pe = [&](std::string_view c, const std::string& m) {
    return ProtocolError{std::string(c), m};
  };
  switch (e.code) {
    case ErrorCode::kNotFound:
      return pe(code::kDocDoesNotExist, e.message);
    case ErrorCode::kAlreadyExists:
      return pe(code::kDocAlreadyCreated, e.message);
    case ErrorCode::kPermissionDenied:
      // An op refused for lack of a role: the client rolls it back quietly
      // (ShareDB's intended answer to a rejected submit, as sharedb-access does).
      return pe(a == Action::kOp ? code::kOpRejected : code::kPermissionDenied, e.message);
    case ErrorCode::kFailedPrecondition:
      // The hub's answer to an op whose version is newer than the document.
      if (a == Action::kOp) return pe(code::kOpVersionNewer, e.message);
      return pe(code::kBadMessage, e.message);
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kConflict:
      return pe(a == Action::kOp ? code::kOpNotApplied : code::kBadMessage, e.message);
    case ErrorCode::kPayloadTooLarge:
    case ErrorCode::kResourceExhausted:
      return pe(code::kResourceExhausted, e.message);
    case ErrorCode::kUnavailable:
    case ErrorCode::kDeadlineExceeded:
      return pe(code::kUnavailable, e.message);
    case ErrorCode::kInternal:
      return pe(code::kUnknown, "internal error");
    default:
      break;
  }
  return pe(code::kUnknown, e.message);
}

}  // namespace office::docs::sharedb
