#include "docs/schema.hpp"

namespace office::docs {

namespace {

// Every row carries its tenant; every key starts with it. Times are Unix
// milliseconds (BIGINT), versions are ShareDB versions.
const storage::Migration kMigrations[] = {
    {"docs", 1, "documents, shares, op log, snapshots",
     R"sql(
CREATE TABLE documents (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  title TEXT NOT NULL,
  owner_id TEXT NOT NULL,
  create_ms BIGINT NOT NULL,
  update_ms BIGINT NOT NULL,
  version BIGINT NOT NULL,
  size BIGINT NOT NULL,
  trash_ms BIGINT,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX documents_by_update ON documents(tenant_id, update_ms);
CREATE TABLE doc_shares (
  tenant_id TEXT NOT NULL,
  doc_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('user', 'group', 'tenant')),
  grantee_id TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('viewer', 'commenter', 'editor')),
  create_ms BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, doc_id, kind, grantee_id),
  FOREIGN KEY (tenant_id, doc_id) REFERENCES documents(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX doc_shares_by_grantee ON doc_shares(tenant_id, kind, grantee_id);
CREATE TABLE doc_ops (
  tenant_id TEXT NOT NULL,
  doc_id TEXT NOT NULL,
  version BIGINT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('create', 'edit', 'delete')),
  op TEXT NOT NULL,
  src TEXT NOT NULL,
  seq BIGINT NOT NULL,
  author_id TEXT NOT NULL,
  ts_ms BIGINT NOT NULL,
  size BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, doc_id, version),
  FOREIGN KEY (tenant_id, doc_id) REFERENCES documents(tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX doc_ops_by_client ON doc_ops(tenant_id, doc_id, src, seq) WHERE src <> '';
CREATE INDEX doc_ops_by_time ON doc_ops(tenant_id, doc_id, ts_ms);
CREATE TABLE doc_snapshots (
  tenant_id TEXT NOT NULL,
  doc_id TEXT NOT NULL,
  version BIGINT NOT NULL,
  text TEXT NOT NULL,
  ts_ms BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, doc_id, version),
  FOREIGN KEY (tenant_id, doc_id) REFERENCES documents(tenant_id, id) ON DELETE CASCADE
);
)sql"},
    // The catalogue lists a user's documents from two ends: those they own
    // (this index) and those shared with them (doc_shares_by_grantee), never
    // by reading every document of the tenant.
    {"docs", 2, "documents by owner",
     "CREATE INDEX documents_by_owner ON documents(tenant_id, owner_id, update_ms);\n"},
    // ShareDB's de-duplication looks at the ops since the submitted op's base
    // version (the document keeps them); a unique (src, seq) index would turn
    // a client that reuses a sequence number into a failed commit for the
    // whole document, so the log does not enforce it.
    {"docs", 3, "no unique (src, seq) in the op log",
     R"sql(
DROP INDEX doc_ops_by_client;
)sql"},
    // Every op wrote a page of this index too; the version at a time is a
    // binary search on the primary key instead (oplog::version_at_time).
    {"docs", 4, "no time index on the op log", "DROP INDEX doc_ops_by_time;\n"},
};

}  // namespace

std::span<const storage::Migration> migrations() { return kMigrations; }

}  // namespace office::docs
