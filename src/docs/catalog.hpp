#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "docs/access.hpp"
#include "docs/catalog_store.hpp"
#include "docs/service.hpp"
#include "identity/service.hpp"
#include "storage/database.hpp"

namespace office::docs {

/// Longest title, in code points (after trimming).
inline constexpr std::size_t kMaxTitleChars = 200;
/// What an empty title becomes.
inline constexpr std::string_view kUntitled = "Untitled";
/// Most shares one document may have (keeps the unpaged share list bounded).
inline constexpr std::int64_t kMaxSharesPerDocument = 1000;
/// Longest document id, in bytes.
inline constexpr std::size_t kMaxDocIdBytes = 128;

/// A document id the catalogue accepts: 1..128 characters of A-Z a-z 0-9
/// and "-_.~" (URL-safe as a path segment). Ids made by create() are UUIDv7;
/// a ShareDB create may bring its own id, which must pass this too.
bool valid_doc_id(std::string_view id);

/// A title as it is stored: trimmed of ASCII white space, valid UTF-8
/// without control characters, at most kMaxTitleChars code points; empty
/// becomes kUntitled. kInvalidArgument naming `title` otherwise.
Result<std::string> normalize_title(std::string_view title);

/// The documents module's catalogue: DocumentService for the REST adapter,
/// AccessResolver for the real-time side. Roles come from the document's
/// owner and its shares to the user, to the user's groups (asked of the
/// identity module on each call, so membership changes apply at once) and
/// to the whole tenant. A trashed document is visible to its owner only.
/// Thread-safe; db, identity and clock must outlive it.
class Catalog final : public DocumentService, public AccessResolver {
 public:
  /// `observer` (the real-time side) hears of revoked or narrowed shares and
  /// of documents trashed or deleted; nullptr: nobody (tests, or until the
  /// sync side exists; see set_observer).
  Catalog(storage::Database& db, identity::IdentityService& identity, const Clock& clock,
          AccessObserver* observer = nullptr);

  /// Sets (or clears) the observer; it must outlive the catalogue or be
  /// cleared first. The sync side is built after the catalogue (it resolves
  /// access through it), so the app calls this once both exist.
  void set_observer(AccessObserver* observer);

  // DocumentService
  Result<Document> create(const Principal& p, std::string_view title) override;
  Result<Document> get(const Principal& p, std::string_view id) override;
  Result<Page<Document>> list(const Principal& p, const ListRequest& req) override;
  Result<Document> rename(const Principal& p, std::string_view id, std::string_view title) override;
  Result<Document> trash(const Principal& p, std::string_view id) override;
  Result<Document> restore(const Principal& p, std::string_view id) override;
  Status erase(const Principal& p, std::string_view id) override;
  Result<Share> share(const Principal& p, std::string_view id, const Share& s) override;
  Result<std::vector<Share>> shares(const Principal& p, std::string_view id) override;
  Status revoke(const Principal& p, std::string_view id, GranteeKind kind,
                std::string_view grantee_id) override;
  Result<Page<VersionInfo>> history(const Principal& p, std::string_view id,
                                    const PageRequest& page) override;

  // AccessResolver
  Result<Role> role_of(const Principal& p, std::string_view doc_id) override;
  Status insert_for_create(storage::Tx& tx, const Principal& p, std::string_view doc_id,
                           std::int64_t now_ms) override;

 private:
  // The caller with the groups they are in (a read through the identity module).
  Result<catalog_store::Caller> caller_of(const Principal& p) const;
  // Trash, restore: the owner moves the document in or out of the trash.
  Result<Document> set_trashed(const Principal& p, std::string_view id, bool trashed);
  AccessObserver* observer() const { return observer_.load(std::memory_order_acquire); }

  storage::Database& db_;
  identity::IdentityService& identity_;
  const Clock& clock_;
  std::atomic<AccessObserver*> observer_;
};

}  // namespace office::docs
