// flotilla-swarm: thin main. Parses flags, initialises libsodium, builds the
// swarm, runs it and prints one JSON line of statistics on stdout at the end
// (after --duration, SIGTERM or SIGINT).
#include <CLI/CLI.hpp>

#include <iostream>

#include "flotilla/common/crypto.h"
#include "flotilla/swarm/swarm.h"

using namespace flotilla;

int main(int argc, char** argv) {
  CLI::App app{
      "flotilla-swarm: simulate N Flotilla agents in one process against a real coordinator, for scale tests.\n"
      "Each agent has its own CURVE key and DEALER socket and speaks the real protocol: hello with the join\n"
      "token, heartbeats at the welcome's interval, Ed25519-verified orders, reports accepted -> healthy\n"
      "(or reverted). Prints one JSON line of statistics on exit (--duration, SIGTERM or SIGINT)."};
  swarm::SwarmOptions opts;
  long apply_ms = 0;
  long heartbeat_ms = 0;
  long link_timeout_ms = -1;
  app.add_option("--join", opts.join_file, "join.toml written by `flotilla-coordinator init`")->required();
  app.add_option("--agents", opts.agents, "Number of agents to simulate (two descriptors each)")->required();
  app.add_option("--id-prefix", opts.id_prefix, "Agent ids are PREFIX + index; use a distinct prefix per process")
      ->capture_default_str();
  app.add_option("--label", opts.labels, "Label k=v sent with every agent's hello (repeatable)");
  app.add_option("--apply-ms", apply_ms, "Simulated apply time per order, from accepted to the terminal report")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--fail-rate", opts.fail_rate, "Probability that an order ends reverted instead of healthy")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_flag("--report-probation", opts.report_probation,
               "Report probation when the apply time starts, as the agent does (an analysed wave's canaries "
               "are asked to sample from then on; without it they never are)");
  app.add_flag("--fetch", opts.fetch, "Download each order's artifact (credit-based, digest checked) before applying");
  app.add_option("--duration", opts.duration_s, "Stop after S seconds (default: run until SIGTERM/SIGINT)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--connect-rate", opts.connect_rate, "New connections per second (staggers CURVE handshakes)")
      ->capture_default_str();
  app.add_option("--connect-window", opts.connect_window, "Agents connected but not yet welcomed, at most")
      ->capture_default_str();
  app.add_option("--heartbeat-ms", heartbeat_ms,
                 "Heartbeat interval overriding the welcome's (load tests; default: the coordinator's)")
      ->check(CLI::PositiveNumber);
  app.add_option("--link-timeout-ms", link_timeout_ms,
                 "How long a silent connection lasts before it counts as dropped, as agent.toml's "
                 "[coordinator] link_timeout sets ZMTP heartbeats (default: the agent's, 10000 with several "
                 "endpoints, 40000 with one; 0 = no heartbeats)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--order-log", opts.order_log,
                 "Write one line per order event: KIND<TAB>UNIX_MS<TAB>AGENT<TAB>ORDER (verified, refused, healthy, "
                 "reverted, failed)");
  app.add_option("--progress", opts.progress_s,
                 "Print a JSON progress line on stderr every S seconds (counters so far)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--io-threads", opts.io_threads, "libzmq I/O threads (CURVE encryption runs there)")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  app.add_option("--seed", opts.seed, "Random seed for jitter, --fail-rate and samples (0 = random)")
      ->capture_default_str();
  app.add_option("--sample-level", opts.samples.level,
                 "Mean of the synthetic samples sent for every metric of a SampleRequest")
      ->capture_default_str();
  app.add_option("--sample-spread", opts.samples.spread, "Their standard deviation, relative to the mean")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--sample-canary-shift", opts.samples.canary_shift,
                 "Canary hosts' mean is level * (1 + SHIFT); 0 = same as the baseline")
      ->capture_default_str();
  app.add_option("--sample-requests", opts.samples.requests,
                 "Requests per interval behind a synthetic ratio (its denominator)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  opts.apply_time = std::chrono::milliseconds(apply_ms);
  if (heartbeat_ms > 0) opts.heartbeat_override = std::chrono::milliseconds(heartbeat_ms);
  if (link_timeout_ms >= 0) opts.link_timeout = std::chrono::milliseconds(link_timeout_ms);

  if (auto st = common::initCrypto(); !st.ok()) {
    std::cerr << "flotilla-swarm: " << st.error().message << "\n";
    return 1;
  }
  swarm::Swarm swarm(opts, common::RealClock::instance());
  if (auto st = swarm.start(); !st.ok()) {
    std::cerr << "flotilla-swarm: " << st.error().message << "\n";
    return 2;
  }
  auto st = swarm.run();
  std::cout << swarm.statsJson().dump() << std::endl;
  if (!st.ok()) {
    std::cerr << "flotilla-swarm: " << st.error().message << "\n";
    return 1;
  }
  return 0;
}
