#pragma once
// The PostgreSQL store's schema, as an ordered list of migrations, kept in the
// table schema_version (one row). migrate() applies every migration the
// database lacks, and records the new version, in ONE transaction that first
// takes a transaction-scoped advisory lock: coordinators that open the same
// database at once migrate it one after the other, and a failed migration
// leaves the database exactly as it was (PostgreSQL's DDL is transactional).
//
// To change the schema: append a migration (never edit one that has shipped)
// and raise PgStore::kSchemaVersion to its number.
//
// Private to the coordinator library; called on the thread that opens a store.

#include <optional>
#include <string>

#include "flotilla/common/result.h"
#include "pg_connection.h"

namespace flotilla::coordinator::pg {

// The version recorded in the database; nullopt when it has no schema_version
// table (a database the coordinator never opened for writing).
Result<std::optional<int>> schemaVersion(Connection& c);

// Brings the database to PgStore::kSchemaVersion. Refuses (kConflict, naming
// the database and both versions) one whose version is newer, and changes nothing.
Status migrate(Connection& c);

// The refusal for a database at `found` where this code reads `known`.
Error versionMismatch(const std::string& display_url, int found, int known);

}  // namespace flotilla::coordinator::pg
