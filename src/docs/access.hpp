#pragma once
// Internal to the docs module: how the real-time side (SyncService) and the
// catalogue (DocumentService) talk to each other.

#include <string_view>

#include "core/principal.hpp"
#include "core/result.hpp"
#include "docs/types.hpp"
#include "storage/database.hpp"

namespace office::docs {

/// The catalogue's answers the real-time side needs. Blocking (database):
/// called from the docs pool. Thread-safe.
class AccessResolver {
 public:
  virtual ~AccessResolver() = default;
  /// The caller's role on a live (not trashed) document: its owner, the
  /// best of the shares to the user, to a group the user is in, or to the
  /// whole tenant. kNone when the document exists but the caller has no
  /// role; kNotFound when it does not exist in p's tenant or is trashed.
  virtual Result<Role> role_of(const Principal& p, std::string_view doc_id) = 0;
  /// A ShareDB `create` on an id that is not in the catalogue: adds the
  /// catalogue row (owner p.user_id, title "Untitled", version 0) inside the
  /// transaction that commits the create op. kAlreadyExists if it exists.
  virtual Status insert_for_create(storage::Tx& tx, const Principal& p, std::string_view doc_id,
                                   std::int64_t now_ms) = 0;
};

/// What the catalogue tells the real-time side. Never blocks. Thread-safe.
class AccessObserver {
 public:
  virtual ~AccessObserver() = default;
  /// Shares of the document changed (revoked, narrowed): every open
  /// subscription re-checks its role and ends (kNotFound) if it has none;
  /// editors who became viewers can no longer submit.
  virtual void access_changed(std::string_view tenant_id, std::string_view doc_id) = 0;
  /// The document went to the trash or was deleted: every subscription ends,
  /// and the open document is dropped from memory.
  virtual void document_gone(std::string_view tenant_id, std::string_view doc_id) = 0;
};

}  // namespace office::docs
