#pragma once
// PolicyFleet: a real coordinator on a tcp:// control endpoint with several
// operator keys, and the console as each operator; for the policy gates'
// integration tests (freezes, approvals, break-glass).
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "support/cluster.h"
#include "support/text_file.h"

namespace flotilla::testing {

// A coordinator on a tcp:// control endpoint with an operator key for each
// name in `operators` (the console uses NAME.key); the policy tests append
// their [policy] tables to `cfg` between run()s.
struct PolicyFleet {
  explicit PolicyFleet(const std::vector<std::string>& operators = {"lead", "dev"}) : names(operators) {
    endpoint = "tcp://127.0.0.1:" + std::to_string(freeTcpPort());
    for (const auto& who : operators) {
      const auto prefix = f.dir() / who;
      auto k = runCommand({(binDir() / "coordinator/flotilla").string(), "keygen", "--operator", prefix.string()});
      INFO(k.out << k.err);
      REQUIRE(k.exit_code == 0);
      pubs.push_back(trimmed(readFile(prefix.string() + ".pub")));
    }
    cfg = f.dir() / "coord/coordinator.toml";
    setTomlLine(cfg, "endpoint", "endpoint = '" + endpoint + "'");
    std::string list;
    for (const auto& pub : pubs) list += (list.empty() ? "\"" : ", \"") + pub + "\"";
    setTomlLine(cfg, "operators", "operators = [" + list + "]");
  }
  ~PolicyFleet() { coord.stop(); }

  void run() {
    coord = Process({(binDir() / "coordinator/flotilla-coordinator").string(), "run", "--config", cfg.string(),
                     "--log-level", "debug"},
                    f.dir() / "coordinator.log");
    const bool up = waitUntil([&] { return console({"agents"}).exit_code == 0; }, std::chrono::seconds(20));
    INFO(readFile(f.dir() / "coordinator.log"));
    REQUIRE(up);
  }

  // As operator `who` ("" = the first).
  CommandResult console(const std::vector<std::string>& args, const std::string& who = "") {
    std::vector<std::string> argv{(binDir() / "coordinator/flotilla").string(),
                                  "--control",
                                  endpoint,
                                  "--json",
                                  "--coordinator-key",
                                  trimmed(readFile(f.dir() / "coord/keys/curve.pub")),
                                  "--key",
                                  (f.dir() / ((who.empty() ? names.front() : who) + ".key")).string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return runCommand(argv, std::chrono::seconds(60));
  }

  // The one agent is online (after a coordinator restart it must reconnect first).
  void waitOnline() {
    REQUIRE(waitUntil(
        [&] {
          auto a = console({"agents"});
          return a.exit_code == 0 && a.json["agents"].size() == 1 && a.json["agents"][0]["state"] == "online";
        },
        std::chrono::seconds(30)));
  }

  std::string submit(const std::string& version) {
    auto r =
        console({"rollout", f.writePlan("web", version, f.makeRelease(version, true), kOneWaveAllAtOnce).string()});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    return r.json["id"].get<std::string>();
  }

  std::string waitState(const std::string& id) {
    std::string state;
    waitUntil(
        [&] {
          auto r = console({"status", id});
          state = r.json.is_object() ? r.json.value("state", "") : "";
          return state == "succeeded" || state == "failed" || state == "rolled_back" || state == "aborted";
        },
        std::chrono::seconds(60), std::chrono::milliseconds(100));
    return state;
  }

  Fleet f;
  std::vector<std::string> names;
  std::string endpoint;
  std::vector<std::string> pubs;
  std::filesystem::path cfg;
  Process coord;
};

}  // namespace flotilla::testing
