#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "storage/database.hpp"

// Backend-independent migration runner, shared by the SQLite and (later)
// PostgreSQL implementations of Database::migrate(). Internal to storage.
namespace office::storage {

/// Hex SHA-256 of a migration's SQL (what schema_migrations.checksum stores).
std::string migration_checksum(std::string_view sql);

/// Checks the list itself: non-empty module names, and per module versions
/// 1, 2, 3 ... in ascending order without gaps or duplicates.
/// Errors: kInvalidArgument naming the module and version.
Status validate_migrations(std::span<const Migration> migrations);

/// Runs one or more parameterless statements inside the current transaction.
using ScriptRunner = std::function<Status(std::string_view sql)>;
/// Runs fn in a transaction of its own on the writing connection (outside any
/// group-commit batch), giving it the Tx and a runner for DDL scripts; commits
/// when fn succeeds.
using MigrationTransaction =
    std::function<Status(const std::function<Status(Tx&, const ScriptRunner&)>& fn)>;

/// Creates schema_migrations if needed, then applies each migration that is not
/// yet recorded, in list order, each in its own transaction together with its
/// row. Each backend runs Migration::sql_for(db.backend()).
/// Errors: kInvalidArgument (bad list), kFailedPrecondition (an applied
/// migration's checksum differs, or a pending version is older than an applied
/// one), or the failing migration's error prefixed with module and version.
Status apply_migrations(Database& db, std::span<const Migration> migrations,
                        const MigrationTransaction& transaction);

}  // namespace office::storage
