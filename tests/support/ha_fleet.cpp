#include "support/ha_fleet.h"

#include <signal.h>

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "support/http_get.h"
#include "support/text_file.h"

namespace flotilla::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

void replaceLine(std::string& text, const std::string& prefix, const std::string& line) {
  const auto at = text.find("\n" + prefix);
  REQUIRE(at != std::string::npos);
  const auto end = text.find('\n', at + 1);
  text.replace(at + 1, end - at - 1, line);
}

}  // namespace

HaFleet::HaFleet() {
  if (!pg) return;
  url = pg->createDatabase();
  const auto cfg_a = f.dir() / "coord/coordinator.toml";
  std::string text = readFile(cfg_a);
  replaceLine(text, "file = ", "url = \"" + url + "\"\nfile = \"flotilla.db\"");
  replaceLine(text, "http = ", "http = \"127.0.0.1:" + std::to_string(http_a) + "\"");
  text += "\n[leadership]\nlease_ttl = \"2s\"\n";
  std::ofstream(cfg_a) << text;
  auto init = runCommand({(binDir() / "coordinator/flotilla-coordinator").string(), "init",
                          (f.dir() / "coord-b").string(), "--from", (f.dir() / "coord").string(), "--listen", agents_b,
                          "--http", "127.0.0.1:" + std::to_string(http_b)});
  INFO(init.out << init.err);
  REQUIRE(init.exit_code == 0);
}

HaFleet::~HaFleet() {
  for (Process* p : {&a, &b})
    if (p->pid() > 0) {
      p->signal(SIGCONT);
      p->stop(SIGTERM, 20s);
    }
}

bool HaFleet::available() const {
  if (!pg) WARN("skipped: " << postgresUnavailableReason());
  return pg != nullptr;
}

std::string HaFleet::controlB() const { return "ipc://" + (f.dir() / "coord-b/control.sock").string(); }

void HaFleet::clientsKnowBoth() {
  // Truncating keeps the file's owner-only mode.
  std::ofstream(f.dir() / "coord/join.toml") << readFile(f.dir() / "coord-b/join.toml");
  f.setConsoleControl(controls());
}

Process HaFleet::start(const std::string& dir, const std::string& log) {
  return Process({(binDir() / "coordinator/flotilla-coordinator").string(), "run", "--config",
                  (f.dir() / dir / "coordinator.toml").string(), "--log-level", "debug"},
                 f.dir() / log);
}

std::string HaFleet::health(int port) { return httpGet("http://127.0.0.1:" + std::to_string(port) + "/healthz").body; }

bool HaFleet::leads(int port, int epoch) {
  return health(port).rfind("ok: leader, epoch " + std::to_string(epoch), 0) == 0;
}

std::string HaFleet::lease(const std::string& column) {
  return pg->query(database(), "SELECT " + column + " FROM leadership_lease");
}

CommandResult HaFleet::consoleB(const std::vector<std::string>& args) {
  std::vector<std::string> argv{(binDir() / "coordinator/flotilla").string(), "--control", controlB(), "--json"};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv, 30s);
}

std::string HaFleet::logA() { return readFile(f.dir() / "coordinator-a.log"); }
std::string HaFleet::logB() { return readFile(f.dir() / "coordinator-b.log"); }

void HaFleet::leadWithAgents(const std::vector<std::string>& ids) {
  a = start("coord", "coordinator-a.log");
  REQUIRE(waitUntil([&] { return leads(http_a, 1); }, 30s));
  for (const auto& id : ids) {
    f.startAgent({id});
    REQUIRE(waitUntil([&] { return f.console({"agents", "accept", id}).exit_code == 0; }, 20s));
  }
  REQUIRE(f.waitOnline(ids.size()));
  f.baseline("1");
  b = start("coord-b", "coordinator-b.log");
  REQUIRE(waitUntil([&] { return health(http_b).rfind("ok: standby", 0) == 0; }, 30s));
}

}  // namespace flotilla::testing
