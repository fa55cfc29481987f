#pragma once
// `flotilla-coordinator init DIR2 --from DIR`: a second coordinator (a standby
// that takes over when the leader's lease lapses, docs/ha.md) made from the
// first's directory. It shares what makes it the same coordinator to agents
// and operators: the plan signing key and its rotation chain, the CURVE key
// pair agents pin, the store (store.url, so both read and write one record)
// and every other setting of coordinator.toml; it gets its own listen
// addresses, control socket, HTTP address (off unless given), artifact cache
// and SQLite file name (unused with a store.url). Files coordinator.toml names
// by a relative path (the store password, notification secrets, CI keys, the
// dashboard token) are copied with their modes, so DIR2 can be moved to
// another host whole; the store password file is always 0600.
//
// It writes DIR2/join.toml too, when DIR has one: the same join token (the
// store is shared) and `coordinator` listing DIR's endpoints, then DIR2's.
//
// Refuses: DIR without coordinator.toml or without store.url (two coordinators
// on SQLite files would each keep a record of their own), DIR2 that exists and
// is not an empty directory, DIR2 the same as DIR. Nothing is written before
// the checks pass.

#include <filesystem>
#include <string>

#include "flotilla/common/result.h"

namespace flotilla::coordinator {

struct InitFromOptions {
  std::filesystem::path dir;   // DIR2: the new coordinator's directory
  std::filesystem::path from;  // DIR, or its coordinator.toml
  std::string listen = "tcp://0.0.0.0:7700";
  std::string control;    // empty = ipc://DIR2/control.sock
  std::string advertise;  // the endpoint agents dial for DIR2; empty = derived from listen
  std::string http;       // HOST:PORT for /metrics and the dashboard; empty = off
};

Status initCoordinatorFrom(const InitFromOptions& opts);

}  // namespace flotilla::coordinator
