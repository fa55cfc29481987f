#pragma once
// Executes verified orders on this host, phase by phase:
//   fetch -> verify digest -> stage (extract) -> before_switch -> switch ->
//   restart -> probation -> healthy | revert
// The journal is saved where recovery needs it, two or three times a step
// (two fsyncs each): when the order is accepted, before anything on the host
// changes; when a revert begins, before `current` goes back; before the
// handover of the agent's own binary (self_upgrade.h); and when the order ends. The phases between are only reported,
// and noted (PhaseNote) for the message of a recovery. The revert decision is local: failing checks during probation
// switch `current` back and restart the previous release whether or not the coordinator is reachable.
//
// Runs on the agent's worker thread; the network is reached only through the
// injected hooks and the host only through the injected HostOs (processes,
// health checks, the switch of `current`, extraction, free space), so tests
// drive it with a local fetcher, a fake reporter and tests/support's
// FakeHostOs. The journal, downloads and staged releases live under the
// configured directories on the real file system.
//
// Crash points: at each point below the Deployer calls HostOs::crashPoint, so
// tests can stop it inside phases too short to catch from outside. FakeHostOs
// records them and can stop there; RealHostOs SIGKILLs the agent at the point
// named by FLOTILLA_TEST_CRASH_AT, in builds configured with
// -DFLOTILLA_CRASH_POINTS=ON only (scripts/test.sh). The points are:
//   <phase>            right after that phase is recorded (journaled for
//                      accepted and reverting, noted for the others), before
//                      it takes effect (accepted, fetching, staging,
//                      before_switch, switching, restarting, probation,
//                      reverting)
//   staging:extracted  the artifact is extracted to .staging-<version>, not yet renamed
//   switching:after    `current` points at the new release, restarting not yet noted
//   reverting:after    `current` points back at the previous release, not yet restarted
//   <terminal phase>   the order is journaled as finished, not yet reported
//                      (healthy, failed, reverted, revert_failed)
//
// Flag apps (protocol/flag_app.h): an order for "flags:web" carries web's flag
// set. It is fetched and verified like an artifact, then parsed (a malformed
// set fails the order and changes nothing), kept as
// <apps_dir>/web/flags/<version>.json, and the switch writes
// <apps_dir>/web/flags.json atomically and publishes the set to the FlagStore
// that OFREP reads. No hooks, no restart; probation runs the order's checks
// and a failure, or a newer order of the flag app waiting (a kill), writes the
// previous set back. Its crash points are the same
// names (accepted, fetching, staging, switching, switching:after, probation,
// reverting, reverting:after and the terminal phases).

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "flotilla/agent/config.h"
#include "flotilla/agent/health.h"
#include "flotilla/agent/host_os.h"
#include "flotilla/agent/journal.h"
#include "flotilla/agent/phase_note.h"
#include "flotilla/common/clock.h"
#include "flotilla/protocol/messages.h"
#include "flotilla/protocol/order.h"

namespace flotilla::agent {

class FlagStore;

struct DeployerHooks {
  // Downloads the artifact with `digest` (`size` bytes) to `dest`.
  std::function<Status(const std::string& digest, std::uint64_t size, const std::filesystem::path& dest)> fetch;
  // Downloads the artifact an HTTP store serves at `url` (`size` bytes) to
  // `dest` (url_fetch.h); the order's artifact_url. Without it such orders fail.
  std::function<Status(const std::string& url, std::uint64_t size, const std::filesystem::path& dest)> fetch_url;
  // Every phase report, in order.
  std::function<void(const protocol::Report&)> report;
  // Waits up to `d` (probation interval). Returns false when the agent is stopping.
  std::function<bool(common::Millis d)> wait;
  // The agent's own new binary passed its trial: the agent hands over to it
  // (self_upgrade.h); the worker takes no further order.
  std::function<void(const std::filesystem::path& binary, const std::string& order_id, common::Millis deadline)>
      handover;
  // Waits until the agent has a session with the coordinator; false when the agent stops first.
  std::function<bool()> wait_online;
  // Whether an order for `app` has arrived behind the one in hand. A flag
  // set's probation ends for it (the set is written back): a kill must not
  // wait out the probation of the set it turns off. Optional.
  std::function<bool(const std::string& app)> superseded;
};

// Replaces ${NAME} in `text` with vars[NAME]; an unknown name is an error naming it.
Result<std::string> expandVars(const std::string& text, const std::map<std::string, std::string>& vars);
Result<protocol::OrderSpec> expandSpec(const protocol::OrderSpec& spec, const std::map<std::string, std::string>& vars);

class Deployer {
 public:
  // Keeps references to config, journal, clock, os and flags: they outlive the
  // Deployer. Flag sets are published to `flags` when there is one.
  Deployer(const AgentConfig& config, Journal& journal, DeployerHooks hooks, const common::Clock& clock, HostOs& os,
           FlagStore* flags = nullptr);

  // Makes an order interrupted by a crash consistent (old release live, or the
  // new one live) and reports the outcome; makes every flag app's flags.json
  // the journal's live flag set and publishes it. Call once at start, before orders.
  void recover();

  // Runs one verified order to a terminal phase and returns that phase.
  protocol::Phase execute(const protocol::VerifiedOrder& order);

  // One round of every live app's health checks; kUnknown when the live
  // release's spec is missing or does not expand. Flag apps are left out.
  protocol::HealthMap checkAll();
  // app -> live version.
  std::map<std::string, std::string> releases() const;
  // The shortest health interval among live apps, flag apps left out (for the idle monitor).
  common::Millis monitorInterval() const;

 private:
  struct Ctx;  // per-order working state
  protocol::Phase fail(Ctx& c, protocol::Phase phase, const std::string& message);
  // Ends the order in hand: remembers it as the app's last finished order,
  // clears it from the journal, saves, then reports `phase`.
  protocol::Phase finish(const Ctx& c, protocol::Phase phase, const std::string& message, const std::string& live);
  protocol::Phase revert(Ctx& c, const std::string& why);
  // The steps of execute(). The first two return the terminal phase when the
  // order ended there. accept: journals and reports the order, checks its
  // digest and expands its spec. readyRelease: ends an order whose release is
  // already live, else stages the release unless it is on disk already.
  // switchOver: switch `current`, restart, probation, healthy or revert.
  std::optional<protocol::Phase> accept(Ctx& c, const protocol::VerifiedOrder& order);
  std::optional<protocol::Phase> readyRelease(Ctx& c);
  protocol::Phase switchOver(Ctx& c);
  // The switch happened: the journal's state in memory says the order's version is live.
  void recordSwitch(Ctx& c);
  void reportProbation(const Ctx& c);
  // The agent's own binary (self_upgrade.h): trial, then handover.
  protocol::Phase handOver(Ctx& c);
  // After a restart in the middle of a handover: the new binary took over, or it did not.
  void recoverHandover(Ctx& c);
  // Runs a hook or restart command as run_as; `what` names it in the error.
  Status runCommand(const std::string& what, common::ProcessSpec ps);
  Status runHooks(Ctx& c);
  Status runRestart(const protocol::OrderSpec& spec, const std::filesystem::path& dir, const std::string& app,
                    const std::string& version, const std::string& previous_dir);
  bool probation(Ctx& c, const CheckContext& ctx, std::string& why);
  // Fetches the order's artifact to `part` (from the coordinator, or from its
  // URL) and checks its size and digest with the order's algorithm.
  Status download(Ctx& c, const std::filesystem::path& part);
  Status stage(Ctx& c);
  void recoverOrder();

  // Flag apps (flag_deploy.cpp). executeFlags: after accept, to a terminal phase.
  protocol::Phase executeFlags(Ctx& c);
  // A rollback to protocol::kNoFlagSet: flags.json goes away, as before the app's first set.
  protocol::Phase withdrawFlags(Ctx& c);
  // The flag set on disk (flags/<version>.json), or fetched, parsed and kept
  // there; the terminal phase when the order ended.
  std::optional<protocol::Phase> readyFlagSet(Ctx& c);
  // Makes `version` (its stored bytes) the app's flags.json and the published
  // set; "" = none. `unless_same`: a flags.json that holds them already is not
  // rewritten (its time is when the set was applied).
  Status applyFlagSet(const std::string& flag_app, const std::string& version, bool unless_same);
  protocol::Phase revertFlags(Ctx& c, const std::string& why);
  void recoverFlags(Ctx& c, const std::string& journaled_phase, const std::string& interrupted_phase);
  void restoreFlagSets();
  void pruneFlagSets(const std::string& flag_app);
  std::filesystem::path flagsDir(const std::string& flag_app) const;
  // Extracts the verified download `part` into `staging`; a release the disk
  // cannot hold fails with Errc::kNoSpace saying how full it is.
  Status extract(const Ctx& c, const std::filesystem::path& part, const std::filesystem::path& staging);
  protocol::Report makeReport(const Ctx& c, protocol::Phase phase, const std::string& message,
                              const std::string& live) const;
  void send(const protocol::Report& r);
  void report(const Ctx& c, protocol::Phase phase, const std::string& message, const std::string& live);
  // The order in hand, in the journal's state in memory, now in `phase`.
  InFlightOrder& inHand(Ctx& c, protocol::Phase phase);
  // Enters a phase recovery needs on disk: saves the journal, notes the phase,
  // then its crash point. Fails only when the save fails.
  Status journalPhase(Ctx& c, protocol::Phase phase);
  // Enters a phase that is only reported: notes it (no fsync), then its crash point.
  void notePhase(Ctx& c, protocol::Phase phase);
  void prune(const std::string& app);
  std::map<std::string, std::string> hookEnv(const std::string& app, const std::string& version,
                                             const std::filesystem::path& dir, const std::string& previous_dir) const;
  std::filesystem::path appDir(const std::string& app) const { return config_.apps_dir / app; }
  std::filesystem::path releaseDir(const std::string& app, const std::string& version) const {
    return appDir(app) / "releases" / version;
  }

  const AgentConfig& config_;
  Journal& journal_;
  DeployerHooks hooks_;
  const common::Clock& clock_;
  HostOs& os_;
  FlagStore* flags_;
  PhaseNote note_;
};

}  // namespace flotilla::agent
