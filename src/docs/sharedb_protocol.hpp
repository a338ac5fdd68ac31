#pragma once
// The ShareDB wire protocol (npm `sharedb` 7.x, protocol 1.2) as JSON text:
// parsing and validating what a client sends, serialising what the server
// answers. Pure: no I/O, no SyncService; the adapter (sharedb_adapter.hpp)
// decides what to do with a parsed request. docs/protocol.md describes the
// messages.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "docs/types.hpp"
#include "ot/op.hpp"

namespace office::docs::sharedb {

/// The only collection: real-time documents.
inline constexpr std::string_view kCollection = "docs";
/// What the handshake names as the server's default type. The stock client
/// refuses a server whose default type is not its own (json0); our documents
/// are text-unicode, so every snapshot names its type explicitly.
inline constexpr std::string_view kJson0Uri = "http://sharejs.org/types/JSONv0";
inline constexpr int kProtocolMajor = 1;
inline constexpr int kProtocolMinor = 2;

/// Bounds on fields (bytes). Ids longer than this are refused, never echoed.
inline constexpr std::size_t kMaxIdBytes = 128;
/// Nesting accepted in a message: ops need 3 levels, presence values a few more.
inline constexpr std::size_t kMaxMessageDepth = 16;
/// Entries of one bulk request (bf/bs/bu).
inline constexpr std::size_t kMaxBulkIds = 1000;

/// ShareDB's error codes we send (lib/error.js), and ours where none fits.
namespace code {
inline constexpr std::string_view kBadMessage = "ERR_MESSAGE_BADLY_FORMED";
inline constexpr std::string_view kProtocol = "ERR_PROTOCOL_VERSION_NOT_SUPPORTED";
inline constexpr std::string_view kDocDoesNotExist = "ERR_DOC_DOES_NOT_EXIST";
inline constexpr std::string_view kDocAlreadyCreated = "ERR_DOC_ALREADY_CREATED";
inline constexpr std::string_view kOpRejected = "ERR_OP_SUBMIT_REJECTED";
inline constexpr std::string_view kOpBadlyFormed = "ERR_OT_OP_BADLY_FORMED";
inline constexpr std::string_view kOpNotApplied = "ERR_OT_OP_NOT_APPLIED";
inline constexpr std::string_view kOpVersionNewer = "ERR_OP_VERSION_NEWER_THAN_CURRENT_SNAPSHOT";
inline constexpr std::string_view kTypeNotRecognized = "ERR_DOC_TYPE_NOT_RECOGNIZED";
inline constexpr std::string_view kSeqOverflow = "ERR_CONNECTION_SEQ_INTEGER_OVERFLOW";
inline constexpr std::string_view kNotImplemented = "ERR_DATABASE_METHOD_NOT_IMPLEMENTED";
inline constexpr std::string_view kUnknown = "ERR_UNKNOWN_ERROR";
// Ours (no ShareDB code fits):
inline constexpr std::string_view kDeleteNotSupported = "ERR_DELETE_NOT_SUPPORTED";
inline constexpr std::string_view kPermissionDenied = "ERR_PERMISSION_DENIED";
inline constexpr std::string_view kResourceExhausted = "ERR_RESOURCE_EXHAUSTED";
inline constexpr std::string_view kUnavailable = "ERR_UNAVAILABLE";
}  // namespace code

struct ProtocolError {
  std::string code;
  std::string message;
};

/// The request an error reply answers, as far as it could be read.
enum class Action {
  kUnknown,
  kHandshake,            // hs
  kFetch,                // f
  kSubscribe,            // s
  kUnsubscribe,          // u
  kBulkFetch,            // bf
  kBulkSubscribe,        // bs
  kBulkUnsubscribe,      // bu
  kOp,                   // op
  kSnapshotFetch,        // nf
  kSnapshotFetchTime,    // nt
  kPresence,             // p
  kPresenceSubscribe,    // ps
  kPresenceUnsubscribe,  // pu
  kPresenceRequest,      // pr
  kPing,                 // pp
  kQueryFetch,           // qf
  kQuerySubscribe,       // qs
  kQueryUnsubscribe,     // qu
  kAuth,                 // auth (ours: renews the access token on a live connection)
};
std::string_view action_name(Action a);  ///< "hs", "f", ...; "" for kUnknown

/// One client message, validated. Fields not in the message stay empty.
struct Request {
  Action action = Action::kUnknown;
  std::optional<std::string> c;  ///< collection
  std::optional<std::string> d;  ///< document id
  /// `v`: a version (f, s, op, nf) or absent/null.
  std::optional<std::int64_t> v;
  std::optional<std::int64_t> seq;         ///< op and ps/pu sequence numbers
  std::optional<std::string> src;          ///< op: the submitting client's id
  std::optional<std::int64_t> request_id;  ///< nf/nt/qf/qs/qu numeric `id`
  std::optional<std::string> client_id;    ///< hs: the id the client had before (reconnect)
  std::optional<std::string> presence_id;  ///< p: `id`
  std::optional<std::string> ch;           ///< p/ps/pu/pr: channel
  std::optional<std::int64_t> pv;          ///< p: presence version
  std::optional<std::int64_t> ts;          ///< nt: timestamp (ms)
  std::optional<std::string> token;        ///< auth

  enum class OpKind { kNone, kEdit, kCreate, kDelete };
  OpKind op_kind = OpKind::kNone;
  ot::Op op;                ///< kEdit, checked (check_op)
  std::string create_text;  ///< kCreate

  std::optional<std::string> presence_value;  ///< p: the value as JSON; nullopt for null

  /// bf/bs/bu: ids, each with the client's version (nullopt: none).
  std::vector<std::pair<std::string, std::optional<std::int64_t>>> bulk;
  bool bulk_is_map = false;  ///< `b` was {id: version} rather than [id]
};

struct Parsed {
  Request request;  ///< what could be read (for routing an error reply)
  std::optional<ProtocolError> error;
};

/// Parses one text frame. Never throws; any input gives a Request (possibly
/// kUnknown) and, when it is not a valid message, an error with a ShareDB code.
Parsed parse_request(std::string_view text);

/// The document id of a doc presence channel ("docs.<id>"), or nullopt.
std::optional<std::string> doc_of_channel(std::string_view ch);

// --- serialising ---------------------------------------------------------

/// {"a":"hs","protocol":1,"protocolMinor":2,"id":<src>,"type":<json0 uri>}
std::string handshake_reply(std::string_view client_id);
/// The snapshot object ShareDB puts in `data`: {"v":N,"data":"...","type":"<uri>"}
/// or {"v":N,"type":null} for a document that does not exist.
void append_snapshot(std::string& out, const Snapshot& s);
/// Replies to f/s without a version: {"a":"f","c":"docs","d":id,"data":{...}};
/// with `snapshot` null: {"a":"f","c":"docs","d":id} (the ops were sent before).
std::string doc_reply(Action a, std::string_view doc_id, const Snapshot* snapshot);
/// A committed op as sent to subscribers: {"a":"op","c","d","v","src","seq",<fields>}.
std::string op_message(const CommittedOp& op);
/// The acknowledgement of a submitted op.
std::string op_ack(std::string_view doc_id, std::string_view src, std::int64_t seq,
                   std::int64_t version);
/// nf/nt reply: {"a":"nf","id":N,"v":N,"type":...,"data":...}.
std::string snapshot_reply(Action a, std::int64_t request_id, const Snapshot& s);
/// ps/pu reply: {"a":"ps","ch":ch,"seq":N}.
std::string presence_subscription_reply(Action a, std::string_view ch, std::int64_t seq);
/// The acknowledgement of a presence update: {"a":"p","ch","id","pv"}.
std::string presence_ack(std::string_view ch, std::string_view presence_id, std::int64_t pv);
/// Another client's presence: {"a":"p","ch","src","id","p","pv","c","d","v","t"}
/// (`src` the sending client's id, null if empty); an empty value_json is
/// sent as null (removed).
std::string presence_message(std::string_view doc_id, std::string_view presence_id,
                             std::string_view value_json, std::int64_t pv, std::int64_t version,
                             std::string_view src);
/// A reply that carries nothing but its action: {"a":"pp"}, {"a":"pr"}.
std::string bare_reply(Action a);
/// An error reply: the request's routing fields (never its payload) and
/// "error":{"code","message"}.
std::string error_reply(const Request& r, std::string_view code, std::string_view message);

/// How a SyncService error is told to a ShareDB client (docs/protocol.md).
ProtocolError to_protocol_error(Action a, const Error& e);

}  // namespace office::docs::sharedb
