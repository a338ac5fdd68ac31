#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/principal.hpp"
#include "core/result.hpp"
#include "docs/types.hpp"

namespace office::docs {

/// The documents module's catalogue: documents, shares, history. Transport-free.
/// Tenancy: every call acts inside p.tenant_id; a document of another tenant,
/// or one the caller has no role on, is kNotFound ("document not found"),
/// never a leak. Errors: kPermissionDenied when the caller may see the
/// document but not do this (an editor trying to share it), kInvalidArgument
/// for bad input (naming the field). Blocking (database): call from a worker
/// pool. Thread-safe.
class DocumentService {
 public:
  virtual ~DocumentService() = default;

  /// Creates a document owned by the caller: a text-unicode document with
  /// empty text at version 1 (its create op committed), so clients subscribe
  /// without creating it. Title: 1..200 code points, trimmed; empty -> "Untitled".
  virtual Result<Document> create(const Principal& p, std::string_view title) = 0;
  virtual Result<Document> get(const Principal& p, std::string_view id) = 0;
  struct ListRequest {
    PageRequest page;
    std::string title_contains;  ///< case-insensitive substring; empty: all
    bool trashed = false;        ///< the trash instead of the live documents
  };
  /// Documents the caller has any role on, most recently updated first.
  virtual Result<Page<Document>> list(const Principal& p, const ListRequest& req) = 0;
  /// Owner or editor.
  virtual Result<Document> rename(const Principal& p, std::string_view id,
                                  std::string_view title) = 0;
  /// Owner. A trashed document keeps its content and shares, refuses ops and
  /// new subscriptions, and closes its open subscriptions.
  virtual Result<Document> trash(const Principal& p, std::string_view id) = 0;
  virtual Result<Document> restore(const Principal& p, std::string_view id) = 0;
  /// Owner; the document must be in the trash. Deletes content, history and shares.
  virtual Status erase(const Principal& p, std::string_view id) = 0;

  /// Owner: grants `role` (viewer, commenter or editor; an owner is not
  /// granted) to a user or group of the tenant, or the whole tenant.
  /// Re-sharing replaces the role.
  virtual Result<Share> share(const Principal& p, std::string_view id, const Share& s) = 0;
  virtual Result<std::vector<Share>> shares(const Principal& p, std::string_view id) = 0;
  /// Owner. Open connections of users who lose access are closed at once.
  virtual Status revoke(const Principal& p, std::string_view id, GranteeKind kind,
                        std::string_view grantee_id) = 0;

  /// Viewers and up: the versions, newest first, paged.
  virtual Result<Page<VersionInfo>> history(const Principal& p, std::string_view id,
                                            const PageRequest& page) = 0;
};

/// Why a subscription ended (the adapter turns it into its protocol's error).
struct Ended {
  Error error;  ///< kNotFound (deleted, trashed or access revoked), kUnavailable (shutdown)
};

/// A subscriber of a document: what an adapter's connection registers.
/// Called on the document's serial executor, one call at a time per
/// document, in version order; must not block (queue to the socket).
class DocListener {
 public:
  virtual ~DocListener() = default;
  /// An op committed by someone else (or by this listener's connection on
  /// another path): everyone's ops, in version order, each exactly once from
  /// the version the subscription started at.
  virtual void on_op(const CommittedOpPtr& op) = 0;
  /// Consecutive ops made durable together (one, or several from a group
  /// commit), none of them this listener's client's own: as on_op for each,
  /// in order, which is what the default does. An adapter can send several
  /// as one batch.
  virtual void on_ops(std::span<const CommittedOpPtr> ops) {
    for (const auto& op : ops) on_op(op);
  }
  /// Another client's presence on this document (already transformed to the
  /// current version), or its removal (value empty). `src` is the client id
  /// of the connection it came from (its own ops move it as its own).
  virtual void on_presence(std::string_view presence_id, std::string_view value_json,
                           std::int64_t version, std::string_view src) {}
  /// The subscription is over (the listener is dropped after this call).
  virtual void on_ended(const Ended& why) = 0;
  /// The connection's client id (ShareDB `src`): ops it submitted are not
  /// sent back to it through on_op (it gets its acknowledgement instead).
  virtual std::string_view client_id() const = 0;
};

/// The real-time side: one serial owner per open document runs every call
/// below for that document in order (docs/concurrency.md); callbacks run on
/// that owner's thread, never inline in the call, and must not block.
/// Permissions are checked on every call (role from the catalogue:
/// viewers and commenters read, editors write). Thread-safe.
class SyncService {
 public:
  virtual ~SyncService() = default;

  template <class T>
  using Callback = std::function<void(Result<T>)>;

  /// The current snapshot (a never-created id: exists=false, version 0 —
  /// only for ids the caller could create, i.e. new ids; kNotFound otherwise).
  virtual void fetch(const Principal& p, std::string_view doc_id, Callback<Snapshot> done) = 0;
  /// Committed ops with from <= version < to (to < 0: up to the current one).
  /// kInvalidArgument when `from` is in the future.
  virtual void ops(const Principal& p, std::string_view doc_id, std::int64_t from, std::int64_t to,
                   Callback<std::vector<CommittedOpPtr>> done) = 0;

  struct Subscribed {
    std::optional<Snapshot> snapshot;    ///< when subscribing without a version
    std::vector<CommittedOpPtr> missed;  ///< when subscribing from a version: ops since
  };
  /// Starts delivering ops to `listener` (held until unsubscribe, on_ended or
  /// the listener's owner drops its last reference: held weakly). Without
  /// `from_version`, `done` gets the snapshot; with one, the ops since it.
  /// After `done`, on_op delivers every later op exactly once.
  virtual void subscribe(const Principal& p, std::string_view doc_id,
                         std::optional<std::int64_t> from_version,
                         const std::shared_ptr<DocListener>& listener,
                         Callback<Subscribed> done) = 0;
  virtual void unsubscribe(std::string_view tenant_id, std::string_view doc_id,
                           const DocListener* listener) = 0;

  /// An op as a client submits it (ShareDB `op` message).
  struct Submit {
    std::string doc_id;
    std::int64_t base_version = 0;  ///< the version the client applied it at
    std::string src;                ///< client id
    std::int64_t seq = 0;           ///< client's sequence number (src, seq) is unique
    CommittedOp::Kind kind = CommittedOp::Kind::kEdit;
    ot::Op op;                ///< kEdit
    std::string create_text;  ///< kCreate (the type must be text-unicode)
  };
  struct Submitted {
    std::int64_t version = 0;  ///< the version it was committed at (after transform)
    bool duplicate = false;    ///< (src, seq) was committed before: acknowledged, not applied again
    /// Ops committed between base_version and `version` that the submitter
    /// did not get through a subscription (for an unsubscribed submitter).
    std::vector<CommittedOpPtr> missed;
  };
  /// ShareDB's submit: permission; base version checks (newer than the
  /// document: kFailedPrecondition); transform over every op committed since
  /// base_version; de-duplicate by (src, seq); apply (refused ops:
  /// kInvalidArgument with the OT engine's message); commit durably (group
  /// commit); then `done` and on_op to every other subscriber. `done` is
  /// called only once the op is durable. A create on a new id creates a
  /// document owned by the caller titled "Untitled"; a create on an existing
  /// document is kAlreadyExists. Limits: document and op size, ops per second
  /// per client (kResourceExhausted).
  virtual void submit(const Principal& p, Submit s, Callback<Submitted> done) = 0;

  /// The snapshot at a version (ShareDB `nf`) or at a time (`nt`: the last
  /// version committed at or before ts_ms).
  virtual void snapshot_at(const Principal& p, std::string_view doc_id, std::int64_t version,
                           Callback<Snapshot> done) = 0;
  virtual void snapshot_at_time(const Principal& p, std::string_view doc_id, std::int64_t ts_ms,
                                Callback<Snapshot> done) = 0;
  /// Restores the text of `version` by committing one op that turns the
  /// current text into it (an edit like any other: collaborators receive it).
  /// Editors and owners.
  virtual void restore_version(const Principal& p, std::string_view doc_id, std::int64_t version,
                               Callback<Submitted> done) = 0;

  /// Presence: the value (JSON, at most a few KiB) of `listener`'s client at
  /// document version `version`; transformed to the current version and sent
  /// to every other subscriber. An empty value removes it. A listener's
  /// presence is removed when it unsubscribes or ends.
  virtual void presence(const Principal& p, std::string_view doc_id, const DocListener* listener,
                        std::string_view presence_id, std::string_view value_json,
                        std::int64_t version) = 0;
};

}  // namespace office::docs
