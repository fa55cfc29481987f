#include "flotilla/agent/phase_note.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "support/temp_dir.h"

namespace {

using flotilla::agent::PhaseNote;
using flotilla::testing::TempDir;

std::string fileText(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("phase note: the phase written is read back for its order", "[phase_note]") {
  TempDir dir("flotilla-phase-note");
  PhaseNote note(dir.path() / "phase");
  note.write("order-1", "fetching");
  CHECK(note.read("order-1") == "fetching");
  note.write("order-1", "before_switch");
  CHECK(note.read("order-1") == "before_switch");
}

TEST_CASE("phase note: a shorter note replaces a longer one whole", "[phase_note]") {
  TempDir dir("flotilla-phase-note");
  PhaseNote note(dir.path() / "phase");
  note.write("order-with-a-long-id", "before_switch");
  note.write("o2", "staging");
  CHECK(fileText(dir.path() / "phase") == "o2\nstaging\n");
  CHECK(note.read("o2") == "staging");
}

TEST_CASE("phase note: another order's note, none, or a torn one is no phase", "[phase_note]") {
  TempDir dir("flotilla-phase-note");
  PhaseNote note(dir.path() / "phase");
  CHECK_FALSE(note.read("order-1").has_value());
  note.write("order-1", "staging");
  CHECK_FALSE(note.read("order-2").has_value());
  std::ofstream(dir.path() / "phase", std::ios::binary | std::ios::trunc) << "order-1\nstag";
  CHECK_FALSE(note.read("order-1").has_value());
  std::ofstream(dir.path() / "phase", std::ios::binary | std::ios::trunc) << "order-1\n\n";
  CHECK_FALSE(note.read("order-1").has_value());
}

TEST_CASE("phase note: a note that cannot be written is skipped quietly", "[phase_note]") {
  TempDir dir("flotilla-phase-note");
  PhaseNote note(dir.path() / "missing-dir" / "phase");
  note.write("order-1", "staging");
  CHECK_FALSE(note.read("order-1").has_value());
}
