#pragma once
// Test support: an AccessResolver over the documents table (the owner is the
// owner; other users' roles from a table the test fills), for tests of the
// hub and its adapters without the catalogue.

#include <map>
#include <mutex>
#include <string>

#include "docs/access.hpp"
#include "storage/database.hpp"

namespace office::docs::testing {

// Roles: the documents row's owner is the owner; others from a table the
// test fills. Reads the database like the real catalogue.
class FakeAccess final : public AccessResolver {
 public:
  explicit FakeAccess(storage::Database& db) : db_(db) {}
  void grant(const std::string& user, Role r) {
    std::lock_guard lock(mu_);
    roles_[user] = r;
  }
  Result<Role> role_of(const Principal& p, std::string_view doc_id) override {
    std::optional<std::string> owner;
    bool trashed = false;
    Status st = db_.read([&](storage::Tx& tx) -> Status {
      auto row =
          tx.query_one("SELECT owner_id, trash_ms FROM documents WHERE tenant_id = ?1 AND id = ?2",
                       {p.tenant_id, std::string(doc_id)});
      if (!row) return row.error();
      owner.reset();
      if (*row) {
        owner = (*row)->text(0);
        trashed = !(*row)->is_null(1);
      }
      return {};
    });
    if (!st) return st.error();
    if (!owner || trashed) return Error::not_found("document not found");
    if (*owner == p.user_id) return Role::kOwner;
    std::lock_guard lock(mu_);
    auto it = roles_.find(p.user_id);
    return it == roles_.end() ? Role::kNone : it->second;
  }
  Status insert_for_create(storage::Tx& tx, const Principal& p, std::string_view doc_id,
                           std::int64_t now_ms) override {
    auto r = tx.exec(
        "INSERT INTO documents (tenant_id, id, title, owner_id, create_ms, update_ms, version, "
        "size) VALUES (?1, ?2, 'Untitled', ?3, ?4, ?4, 0, 0)",
        {p.tenant_id, std::string(doc_id), p.user_id, now_ms});
    if (!r) return r.error();
    return {};
  }

 private:
  storage::Database& db_;
  std::mutex mu_;
  std::map<std::string, Role> roles_;
};

}  // namespace office::docs::testing
