// The Store contract suite (store_contract.h), run against each implementation.

#include <filesystem>
#include <memory>

#include "flotilla/coordinator/store.h"
#include "support/temp_dir.h"

namespace {

// A SqliteStore in a file of its own, opened through openStore() as the coordinator does.
struct SqliteStoreFixture {
  flotilla::testing::TempDir dir{"flotilla-store"};
  std::filesystem::path file = dir.path() / "coordinator.db";

  flotilla::Result<std::unique_ptr<flotilla::coordinator::Store>> open(bool read_only = false) {
    return flotilla::coordinator::openStore({.file = file, .read_only = read_only});
  }
};

}  // namespace

#define STORE_CONTRACT_FIXTURES SqliteStoreFixture

#include "store_contract.h"
