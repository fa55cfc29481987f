#include "flotilla/agent/epoch_mark.h"

#include <catch2/catch.hpp>

#include "flotilla/common/fs.h"
#include "support/temp_dir.h"

using flotilla::agent::EpochMark;
using flotilla::testing::TempDir;

TEST_CASE("epoch mark: starts at 0 and keeps the highest epoch across a restart", "[agent][epoch]") {
  TempDir dir;
  {
    auto m = EpochMark::open(dir.path());
    REQUIRE(m.ok());
    CHECK(m->highest() == 0);
    REQUIRE(m->observe(3).ok());
    CHECK(m->highest() == 3);
    REQUIRE(m->observe(2).ok());  // lower: ignored
    CHECK(m->highest() == 3);
  }
  auto again = EpochMark::open(dir.path());
  REQUIRE(again.ok());
  CHECK(again->highest() == 3);
  REQUIRE(again->observe(9).ok());
  CHECK(EpochMark::open(dir.path())->highest() == 9);
}

TEST_CASE("epoch mark: a file that holds no number is an error naming it", "[agent][epoch]") {
  TempDir dir;
  dir.write("epoch", "seven\n");
  auto m = EpochMark::open(dir.path());
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().message.find("epoch") != std::string::npos);
}

TEST_CASE("epoch mark: a failed write still raises the mark in memory and says so", "[agent][epoch]") {
  TempDir dir;
  auto m = EpochMark::open(dir.path() / "missing-dir");
  REQUIRE(m.ok());
  auto st = m->observe(4);
  CHECK_FALSE(st.ok());
  CHECK(m->highest() == 4);
}
