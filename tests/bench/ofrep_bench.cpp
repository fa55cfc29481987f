// flotilla-ofrep-bench: the figures of scripts/bench.sh section (o), OFREP on a real agent.
//   seed --config AGENT_TOML --app APP --version V --flags FILE
//       puts flag set V of APP on the agent's host as a finished flag rollout would leave it
//       (the journal's flags:APP, <apps_dir>/APP/flags/V.json and flags.json), through the
//       agent's own Journal, so the agent serves it from its start without a coordinator.
//   load --port P --app APP --flag KEY --seconds S --connections C [--context JSON]
//       C keep-alive connections POST single evaluations for S seconds; prints one line of JSON:
//       {"evaluations", "errors", "seconds", "per_second"}.
// A program, not a test: built on demand by scripts/bench.sh.
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "flotilla/agent/config.h"
#include "flotilla/agent/journal.h"
#include "flotilla/common/crypto.h"
#include "flotilla/common/fs.h"
#include "flotilla/flags/flag_set.h"
#include "flotilla/protocol/flag_app.h"

using namespace flotilla;

namespace {

std::map<std::string, std::string> options(int argc, char** argv) {
  std::map<std::string, std::string> out;
  for (int i = 2; i + 1 < argc; i += 2) out[argv[i]] = argv[i + 1];
  return out;
}

int fail(const std::string& message) {
  std::cerr << "flotilla-ofrep-bench: " << message << "\n";
  return 1;
}

int seed(std::map<std::string, std::string> o) {
  auto config = agent::loadAgentConfig(o["--config"]);
  if (!config) return fail(config.error().message);
  auto bytes = common::readFile(o["--flags"]);
  if (!bytes) return fail(bytes.error().message);
  if (auto set = flags::FlagSet::parse(*bytes); !set) return fail(set.error().message);
  const std::string app = o["--app"], version = o["--version"];
  const auto dir = config->apps_dir / app;
  if (auto st = common::ensureDir(dir / "flags"); !st.ok()) return fail(st.error().message);
  for (const auto& file : {dir / "flags" / (version + ".json"), dir / "flags.json"})
    if (auto st = common::atomicWriteFile(file, *bytes); !st.ok()) return fail(st.error().message);
  if (auto st = common::ensureDir(config->state_dir, 0700); !st.ok()) return fail(st.error().message);
  auto journal = agent::Journal::open(config->state_dir);
  if (!journal) return fail(journal.error().message);
  auto& a = journal->state().apps[protocol::flagAppOf(app)];
  a.current = version;
  a.releases[version] = agent::ReleaseInfo{common::digestFile(dir / "flags.json").value().digest, ""};
  if (auto st = journal->save(); !st.ok()) return fail(st.error().message);
  return 0;
}

int load(std::map<std::string, std::string> o) {
  const int port = std::atoi(o["--port"].c_str());
  const int connections = std::max(1, std::atoi(o["--connections"].c_str()));
  const auto duration = std::chrono::duration<double>(std::atof(o["--seconds"].c_str()));
  const std::string path = "/apps/" + o["--app"] + "/ofrep/v1/evaluate/flags/" + o["--flag"];
  const std::string body =
      nlohmann::json{{"context", nlohmann::json::parse(o.count("--context") ? o["--context"] : "{}")}}.dump();
  std::atomic<std::uint64_t> ok{0}, errors{0};
  const auto start = std::chrono::steady_clock::now();
  const auto until = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(duration);
  std::vector<std::thread> threads;
  for (int i = 0; i < connections; ++i) {
    threads.emplace_back([&] {
      httplib::Client client("127.0.0.1", port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      while (std::chrono::steady_clock::now() < until) {
        auto res = client.Post(path, body, "application/json");
        (res && res->status == 200 ? ok : errors).fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << nlohmann::json{{"evaluations", ok.load()},
                              {"errors", errors.load()},
                              {"seconds", seconds},
                              {"per_second", static_cast<double>(ok.load()) / seconds}}
                   .dump()
            << "\n";
  return errors.load() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "seed") return seed(options(argc, argv));
  if (mode == "load") return load(options(argc, argv));
  std::cerr << "usage: flotilla-ofrep-bench seed --config AGENT_TOML --app APP --version V --flags FILE\n"
               "       flotilla-ofrep-bench load --port P --app APP --flag KEY --seconds S --connections C "
               "[--context JSON]\n";
  return 2;
}
