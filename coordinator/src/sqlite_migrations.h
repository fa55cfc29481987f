#pragma once
// The SQLite store's schema, as an ordered list of migrations. Version N is
// reached by applying migrations 1..N in order, each once, each in its own
// transaction that also records N in PRAGMA user_version, so a store is always
// at one whole version. A store made before versions were recorded reads as
// version 0; migrations 1 and 2 are written to bring any such store, whatever
// its age, to the same tables and columns as a new one.
//
// To change the schema: append a migration (never edit one that has shipped)
// and raise SqliteStore::kSchemaVersion to its number.
//
// Private to the coordinator library; called on the thread that opens a store.

#include <sqlite3.h>

#include <filesystem>
#include <span>

#include "flotilla/common/result.h"

namespace flotilla::coordinator::sqlite {

struct Migration {
  int version;
  const char* what;  // for error messages
  Status (*apply)(sqlite3* db);
};

// Every migration, in version order (versions 1, 2, ...).
std::span<const Migration> migrations();

// The version recorded in the store (0 when none was).
Result<int> schemaVersion(sqlite3* db);

// Brings the store to SqliteStore::kSchemaVersion. Refuses (kConflict, naming
// `file` and both versions) a store whose version is newer, and changes
// nothing in it. Safe when another process opens the same store at once: each
// step re-reads the version inside its write transaction.
Status migrate(sqlite3* db, const std::filesystem::path& file);

// The refusal for a store at `found` where this code reads `known`.
Error versionMismatch(const std::filesystem::path& file, int found, int known);

}  // namespace flotilla::coordinator::sqlite
