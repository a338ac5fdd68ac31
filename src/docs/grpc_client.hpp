#pragma once
// A DocSync client for other services and native programs: one gRPC stream,
// any number of documents, each kept as a local replica that follows the
// server (as the `sharedb` client's Doc does). Free of gRPC headers.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "ot/op.hpp"

namespace office::docs {

class DocSyncClient {
 public:
  struct Options {
    std::string target;        ///< "host:port" of the server's gRPC listener
    std::string access_token;  ///< sent as `authorization: Bearer <token>`
    /// Kept across reconnects so resubmitted ops de-duplicate; 1..64 of [A-Za-z0-9_.-].
    std::string client_id;
    std::string traceparent;                   ///< optional W3C trace context for the stream
    std::chrono::milliseconds timeout{10000};  ///< for open() and connecting
    /// When the stream breaks (server restart, network), reconnect for up to
    /// this long: resubscribe every open document from its version and
    /// resend the op in flight (its (client_id, seq) makes that safe), as the
    /// sharedb client does. 0: never; the stream's end is then final.
    std::chrono::milliseconds reconnect_for{30000};
  };
  /// Opens the stream. kUnavailable when the server cannot be reached.
  static Result<std::unique_ptr<DocSyncClient>> connect(const Options& options);
  ~DocSyncClient();  ///< ends the stream
  DocSyncClient(const DocSyncClient&) = delete;
  DocSyncClient& operator=(const DocSyncClient&) = delete;

  /// Subscribes and waits for the document's snapshot; from then on the
  /// replica follows every op. kNotFound, kPermissionDenied... as the server
  /// answers; kDeadlineExceeded after options.timeout.
  Status open(std::string_view doc_id);
  /// Applies `op` to the replica at once and sends it: one op in flight per
  /// document, later edits composed and sent when it is acknowledged (what
  /// ShareDB clients do). kInvalidArgument if the op does not fit the text.
  Status edit(std::string_view doc_id, const ot::Op& op);
  /// Waits until every edit of the document is acknowledged and the replica
  /// reached at least `min_version`. The error the server sent for the
  /// document, or the stream's end (once it ended for good), if any.
  Status sync(std::string_view doc_id, std::int64_t min_version = 0,
              std::chrono::milliseconds timeout = std::chrono::seconds(10));

  std::string text(std::string_view doc_id) const;
  std::int64_t version(std::string_view doc_id) const;
  /// Edits of the document not acknowledged yet (in flight and waiting).
  bool has_pending(std::string_view doc_id) const;
  /// Called on the client's reader thread after a remote op changed a
  /// document (must not call back into the client).
  void on_change(std::function<void(std::string_view doc_id)> fn);
  /// The stream's end (kUnauthenticated, kUnavailable...), once it ended
  /// for good (after reconnecting failed, or an end that reconnecting cannot
  /// help: a bad token, a refused caller).
  std::optional<Error> stream_error() const;
  /// How many times the stream was re-established.
  int reconnects() const;

 private:
  DocSyncClient();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace office::docs
