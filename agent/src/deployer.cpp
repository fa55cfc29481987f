#include "flotilla/agent/deployer.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include <spdlog/spdlog.h>

#include "deployer_ctx.h"
#include "flotilla/agent/flag_store.h"
#include "flotilla/agent/release_space.h"
#include "flotilla/agent/self_upgrade.h"
#include "flotilla/common/crypto.h"
#include "flotilla/common/duration.h"
#include "flotilla/common/fs.h"
#include "flotilla/common/process.h"
#include "flotilla/protocol/artifact_source.h"
#include "flotilla/protocol/flag_app.h"

namespace flotilla::agent {

namespace fs = std::filesystem;
using protocol::Phase;

Result<std::string> expandVars(const std::string& text, const std::map<std::string, std::string>& vars) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    auto open = text.find("${", i);
    if (open == std::string::npos) {
      out.append(text, i, std::string::npos);
      break;
    }
    auto close = text.find('}', open + 2);
    if (close == std::string::npos) return Error(Errc::kInvalidArgument, "unterminated ${ in \"" + text + "\"");
    out.append(text, i, open - i);
    std::string name = text.substr(open + 2, close - open - 2);
    auto it = vars.find(name);
    if (it == vars.end())
      return Error(Errc::kInvalidArgument, "unknown host variable ${" + name + "} in \"" + text +
                                               "\" (set it with `flotilla-agent init --var " + name +
                                               "=...` or in [vars])");
    out += it->second;
    i = close + 1;
  }
  return out;
}

Result<protocol::OrderSpec> expandSpec(const protocol::OrderSpec& spec,
                                       const std::map<std::string, std::string>& vars) {
  protocol::OrderSpec out = spec;
  auto expandAll = [&](std::vector<std::string>& argv) -> Status {
    for (auto& a : argv) {
      auto e = expandVars(a, vars);
      if (!e) return e.error();
      a = *e;
    }
    return {};
  };
  for (auto& hook : out.deploy.before_switch) FLOTILLA_TRY(expandAll(hook));
  FLOTILLA_TRY(expandAll(out.deploy.restart));
  for (auto& c : out.health.checks) {
    FLOTILLA_TRY(expandAll(c.argv));
    auto t = expandVars(c.target, vars);
    if (!t) return t.error();
    c.target = *t;
  }
  return out;
}

namespace {

std::string describeCommand(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return "`" + s + "`";
}

std::string firstLine(const std::string& text) {
  auto end = text.find('\n');
  std::string line = text.substr(0, end);
  if (line.size() > 200) line = line.substr(0, 200) + "...";
  return line;
}

// Extraction runs with the default limits (extract.h).
constexpr ExtractLimits kExtractLimits{};

}  // namespace

Deployer::Deployer(const AgentConfig& config, Journal& journal, DeployerHooks hooks, const common::Clock& clock,
                   HostOs& os, FlagStore* flags)
    : config_(config),
      journal_(journal),
      hooks_(std::move(hooks)),
      clock_(clock),
      os_(os),
      flags_(flags),
      note_(config.state_dir / "phase") {}

std::map<std::string, std::string> Deployer::hookEnv(const std::string& app, const std::string& version,
                                                     const fs::path& dir, const std::string& previous_dir) const {
  auto env = common::baseEnvironment();
  env["FLOTILLA_APP"] = app;
  env["FLOTILLA_VERSION"] = version;
  env["FLOTILLA_RELEASE_DIR"] = dir.string();
  env["FLOTILLA_PREVIOUS_DIR"] = previous_dir;
  return env;
}

protocol::Report Deployer::makeReport(const Ctx& c, Phase phase, const std::string& message,
                                      const std::string& live) const {
  protocol::Report r;
  r.order_id = c.body.order_id;
  r.app = c.body.app;
  r.version = c.body.version;
  r.sequence = c.body.sequence;
  r.phase = phase;
  r.message = message;
  r.live_version = live;
  r.at_ms = common::toUnixMillis(clock_.systemNow());
  return r;
}

void Deployer::send(const protocol::Report& r) {
  if (protocol::isTerminal(r.phase) && r.phase != Phase::kHealthy)
    spdlog::warn("order {}: {} {}: {}", r.order_id, r.app, protocol::toString(r.phase), r.message);
  else
    spdlog::info("order {}: {} {} {}{}", r.order_id, r.app, r.version, protocol::toString(r.phase),
                 r.message.empty() ? "" : ": " + r.message);
  if (hooks_.report) hooks_.report(r);
}

void Deployer::report(const Ctx& c, Phase phase, const std::string& message, const std::string& live) {
  send(makeReport(c, phase, message, live));
}

Phase Deployer::finish(const Ctx& c, Phase phase, const std::string& message, const std::string& live) {
  auto r = makeReport(c, phase, message, live);
  auto& s = journal_.state();
  s.apps[c.body.app].last_order =
      FinishedOrder{r.order_id, r.sequence, c.body.action, r.version, r.phase, r.message, r.live_version, r.at_ms};
  s.order.reset();
  // The last journal save of a step: the outcome, the live release, and the
  // releases staged or pruned since the last save.
  if (auto st = journal_.save(); !st.ok()) spdlog::error("journal: {}", st.error().message);
  os_.crashPoint(protocol::toString(phase));
  send(r);
  return phase;
}

InFlightOrder& Deployer::inHand(Ctx& c, Phase phase) {
  auto& s = journal_.state();
  if (!s.order) {
    InFlightOrder o;
    o.order_id = c.body.order_id;
    o.app = c.body.app;
    o.version = c.body.version;
    o.previous = c.previous;
    o.previous_previous = c.previous_previous;
    o.action = c.body.action;
    o.sequence = c.body.sequence;
    o.digest = c.body.artifact_digest;
    o.spec = c.raw_spec;
    s.order = std::move(o);
  }
  s.order->phase = protocol::toString(phase);
  return *s.order;
}

Status Deployer::journalPhase(Ctx& c, Phase phase) {
  const auto& o = inHand(c, phase);
  FLOTILLA_TRY(journal_.save());
  note_.write(o.order_id, o.phase);
  os_.crashPoint(o.phase);
  return {};
}

void Deployer::notePhase(Ctx& c, Phase phase) {
  const auto& o = inHand(c, phase);
  note_.write(o.order_id, o.phase);
  os_.crashPoint(o.phase);
}

Phase Deployer::fail(Ctx& c, Phase phase, const std::string& message) {
  std::error_code ec;
  fs::remove_all(appDir(c.body.app) / "releases" / (".staging-" + c.body.version), ec);
  // A download cut short, or one that was never staged, is of no further use.
  // The digest names the file: only a well-formed one may touch the disk.
  if (isDigest(c.body.artifact_digest)) fs::remove(config_.state_dir / "downloads" / c.body.artifact_digest, ec);
  return finish(c, phase, message, journal_.state().apps[c.body.app].current);
}

Phase Deployer::execute(const protocol::VerifiedOrder& order) {
  Ctx c;
  if (auto ended = accept(c, order)) return *ended;
  if (protocol::flaggedApp(c.body.app)) return executeFlags(c);
  if (auto ended = readyRelease(c)) return *ended;
  if (!c.spec.deploy.before_switch.empty()) {
    notePhase(c, Phase::kBeforeSwitch);
    report(c, Phase::kBeforeSwitch, "", c.previous);
    if (auto st = runHooks(c); !st.ok()) return fail(c, Phase::kFailed, st.error().message);
  }
  return switchOver(c);
}

std::optional<Phase> Deployer::accept(Ctx& c, const protocol::VerifiedOrder& order) {
  c.body = order.body;
  c.raw_spec = protocol::encodeSpec(order.spec);
  auto& app = journal_.state().apps[c.body.app];
  c.previous = app.current;
  c.previous_previous = app.previous;
  app.sequence = std::max(app.sequence, c.body.sequence);
  // Journal save 1 of a step: the order in hand, before anything on the host changes.
  if (auto st = journalPhase(c, Phase::kAccepted); !st.ok())
    return fail(c, Phase::kFailed, "journal: " + st.error().message);
  report(c, Phase::kAccepted, c.body.action, c.previous);

  // The digest names a file under state/downloads: never trust it to be a plain name.
  if (!c.body.artifact_digest.empty() && !isDigest(c.body.artifact_digest))
    return fail(c, Phase::kFailed, "artifact digest is not 64 lowercase hex characters");
  auto spec = expandSpec(order.spec, config_.vars);
  if (!spec) return fail(c, Phase::kFailed, spec.error().message);
  c.spec = std::move(*spec);
  return std::nullopt;
}

std::optional<Phase> Deployer::readyRelease(Ctx& c) {
  auto& app = journal_.state().apps[c.body.app];
  const fs::path rel = releaseDir(c.body.app, c.body.version);
  const fs::path current = appDir(c.body.app) / "current";
  std::error_code ec;
  auto live_info = app.releases.find(c.body.version);
  const bool same_content = c.body.artifact_digest.empty() ||
                            (live_info != app.releases.end() && live_info->second.digest == c.body.artifact_digest);
  if (c.previous == c.body.version && os_.linkTarget(current) == c.body.version && fs::is_directory(rel, ec)) {
    if (!same_content)
      return fail(c, Phase::kFailed,
                  "release " + c.body.version + " is live with different content; deploy a new version");
    return finish(c, Phase::kHealthy, "release " + c.body.version + " is already live", c.body.version);
  }

  auto known = app.releases.find(c.body.version);
  bool on_disk = fs::is_directory(rel, ec);
  bool ready = on_disk && known != app.releases.end() &&
               (c.body.artifact_digest.empty() || known->second.digest == c.body.artifact_digest);
  if (ready) {
    journal_.state().apps[c.body.app].releases[c.body.version].spec = c.raw_spec;
    return std::nullopt;
  }
  if (c.body.artifact_digest.empty())
    return fail(c, Phase::kFailed,
                "release " + c.body.version + " is not on this host and the order names no artifact");
  if (auto st = stage(c); !st.ok()) return fail(c, Phase::kFailed, st.error().message);
  return std::nullopt;
}

void Deployer::recordSwitch(Ctx& c) {
  auto& a = journal_.state().apps[c.body.app];
  if (c.previous != c.body.version) a.previous = c.previous;
  a.current = c.body.version;
  a.releases[c.body.version].spec = c.raw_spec;
}

void Deployer::reportProbation(const Ctx& c) {
  report(c, Phase::kProbation,
         "healthy_for " + common::formatDuration(c.spec.health.healthy_for) + ", deadline " +
             common::formatDuration(c.spec.health.deadline),
         c.body.version);
}

Phase Deployer::switchOver(Ctx& c) {
  const fs::path rel = releaseDir(c.body.app, c.body.version);
  const fs::path current = appDir(c.body.app) / "current";
  // No save before or after the switch: the order is in the journal since
  // accepted, and recovery finds out whether `current` was switched from the link.
  notePhase(c, Phase::kSwitching);
  if (auto st = os_.switchLink(current, fs::path("releases") / c.body.version); !st.ok())
    return fail(c, Phase::kFailed, "switching current: " + st.error().message);
  os_.crashPoint("switching:after");
  recordSwitch(c);
  notePhase(c, Phase::kRestarting);
  report(c, Phase::kSwitching, "current -> releases/" + c.body.version, c.body.version);
  if (c.body.app == kSelfApp) return handOver(c);

  report(c, Phase::kRestarting, "", c.body.version);
  if (auto st = runRestart(c.spec, rel, c.body.app, c.body.version,
                           c.previous.empty() ? "" : releaseDir(c.body.app, c.previous).string());
      !st.ok())
    return revert(c, st.error().message);

  notePhase(c, Phase::kProbation);
  reportProbation(c);
  CheckContext ctx{rel, {}, config_.run_as};
  ctx.env = hookEnv(c.body.app, c.body.version, ctx.cwd,
                    c.previous.empty() ? "" : releaseDir(c.body.app, c.previous).string());
  std::string why;
  if (!probation(c, ctx, why)) return revert(c, why);

  finish(c, Phase::kHealthy, "healthy for " + common::formatDuration(c.spec.health.healthy_for), c.body.version);
  prune(c.body.app);
  return Phase::kHealthy;
}

Phase Deployer::handOver(Ctx& c) {
  const fs::path binary = selfBinary(config_, c.body.version);
  // The trial: the new binary must start and shake hands with the
  // coordinator while this agent, its watchdog, waits.
  const auto timeout = protocol::handoverTrial(c.spec.health.deadline);
  report(c, Phase::kRestarting, "trying the new agent: " + binary.string() + " selftest", c.body.version);
  common::ProcessSpec ps;
  ps.argv = {binary.string(), "selftest",
             "--config",      config_.file.string(),
             "--timeout",     std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count())};
  ps.cwd = binary.parent_path();
  ps.env = common::baseEnvironment();
  ps.timeout = timeout + std::chrono::seconds(5);
  auto ran = common::runProcess(ps);
  if (!ran) return revert(c, "the new agent could not be started: " + ran.error().message);
  if (!ran->success())
    return revert(c, "the new agent failed its selftest (" + ran->describe() + "): " + firstLine(ran->output));
  // Asked to stop while the trial ran: stopping wins, the handover waits for another order.
  if (hooks_.wait && !hooks_.wait(common::Millis(0)))
    return revert(c, "the agent was asked to stop during the new agent's trial");
  // The handover is journaled before it happens (a save recovery needs, the
  // third of a self-upgrade): a new agent that dies before it reports is found
  // out at the next start (recoverHandover).
  journal_.state().order->phase = kHandoverPhase;
  if (auto st = journal_.save(); !st.ok()) return revert(c, "journal: " + st.error().message);
  os_.crashPoint("handover:before");
  report(c, Phase::kRestarting, "handing over to the new agent " + c.body.version, c.body.version);
  if (hooks_.handover) hooks_.handover(binary, c.body.order_id, timeout);
  return Phase::kRestarting;
}

void Deployer::recoverHandover(Ctx& c) {
  auto& a = journal_.state().apps[c.body.app];
  const bool took_over = !config_.handover_order.empty() && c.body.order_id == config_.handover_order &&
                         runningBinaryIs(selfBinary(config_, c.body.version));
  a.current = c.body.version;
  if (!took_over) {
    revert(c, "the new agent " + c.body.version + " stopped before it reported; the previous agent restarted");
    return;
  }
  // Healthy once it has reconnected: until then the handover stays in the
  // journal, and the old agent's watchdog (self_upgrade.h) ends a new agent
  // that neither reconnects nor dies within the deadline.
  if (hooks_.wait_online && !hooks_.wait_online()) return;  // stopping: the next start reverts
  finish(c, Phase::kHealthy, "the new agent " + c.body.version + " took over and reconnected", c.body.version);
  prune(c.body.app);
}

Status Deployer::download(Ctx& c, const fs::path& part) {
  if (c.body.artifact_size > config_.max_artifact_bytes)
    return Error(Errc::kInvalidArgument, "artifact of " + std::to_string(c.body.artifact_size) +
                                             " bytes exceeds max_artifact_bytes " +
                                             std::to_string(config_.max_artifact_bytes));
  const bool from_url = !c.body.artifact_url.empty();
  notePhase(c, Phase::kFetching);
  report(c, Phase::kFetching,
         std::to_string(c.body.artifact_size) + " bytes" + (from_url ? " from " + c.body.artifact_url : ""),
         c.previous);
  const fs::path downloads = config_.state_dir / "downloads";
  FLOTILLA_TRY(common::ensureDir(downloads, 0700));
  std::error_code ec;
  fs::remove(part, ec);
  Status fetched;
  if (!from_url)
    fetched = hooks_.fetch(c.body.artifact_digest, c.body.artifact_size, part);
  else if (hooks_.fetch_url)
    fetched = hooks_.fetch_url(c.body.artifact_url, c.body.artifact_size, part);
  else
    fetched = Error(Errc::kUnavailable, "this agent cannot download artifact URLs");
  if (!fetched.ok()) return fetched.error().context("fetching artifact");
  auto got = common::digestFile(part, c.body.artifact_digest_algorithm);
  if (!got) return got.error();
  if (got->digest != c.body.artifact_digest || got->size != c.body.artifact_size) {
    fs::remove(part, ec);
    const char* algorithm = protocol::digestAlgorithmName(c.body.artifact_digest_algorithm);
    return Error(Errc::kCorrupt, "artifact digest mismatch: the order names " + std::string(algorithm) + ":" +
                                     c.body.artifact_digest.substr(0, 16) + " (" +
                                     std::to_string(c.body.artifact_size) + " bytes), received " + algorithm + ":" +
                                     got->digest.substr(0, 16) + " (" + std::to_string(got->size) + " bytes)");
  }
  return {};
}

Status Deployer::stage(Ctx& c) {
  const fs::path part = config_.state_dir / "downloads" / c.body.artifact_digest;
  FLOTILLA_TRY(download(c, part));
  std::error_code ec;
  notePhase(c, Phase::kStaging);
  report(c, Phase::kStaging, "digest verified", c.previous);
  const fs::path releases = appDir(c.body.app) / "releases";
  FLOTILLA_TRY(common::ensureDir(releases, 0755));
  const fs::path staging = releases / (".staging-" + c.body.version);
  fs::remove_all(staging, ec);
  if (auto st = extract(c, part, staging); !st.ok()) {
    fs::remove(part, ec);
    return st;
  }
  os_.crashPoint("staging:extracted");
  const fs::path rel = releases / c.body.version;
  if (fs::exists(rel, ec)) {
    if (c.previous == c.body.version)
      return Error(Errc::kConflict,
                   "release " + c.body.version + " is live with different content; deploy a new version");
    fs::remove_all(rel, ec);
  }
  if (::rename(staging.c_str(), rel.c_str()) != 0)
    return Error(Errc::kIo, "rename " + staging.string() + " -> " + rel.string() + ": " + std::strerror(errno));
  FLOTILLA_TRY(common::fsyncDir(releases));
  // Saved with the order's end: a release on disk that the journal does not
  // list is staged again when an order needs it, and pruned like any other.
  journal_.state().apps[c.body.app].releases[c.body.version] = ReleaseInfo{c.body.artifact_digest, c.raw_spec};
  fs::remove(part, ec);
  return {};
}

Status Deployer::extract(const Ctx& c, const fs::path& part, const fs::path& staging) {
  const fs::path releases = staging.parent_path();
  FLOTILLA_TRY(checkReleaseFits(os_, part, releases, c.body.version, kExtractLimits));
  auto st = os_.extractArchive(part, staging, kExtractLimits);
  if (st.ok()) return {};
  std::error_code ec;
  fs::remove_all(staging, ec);
  // Measured once the partial release is gone: the free space it would leave.
  if (st.error().code == Errc::kNoSpace)
    return explainNoSpace(os_, part, releases, c.body.version, kExtractLimits, st.error());
  return st.error().context("extracting artifact");
}

Status Deployer::runCommand(const std::string& what, common::ProcessSpec ps) {
  ps.run_as = config_.run_as;
  auto r = os_.runProcess(ps);
  if (!r) return Error(r.error().code, what + " " + describeCommand(ps.argv) + ": " + r.error().message);
  if (!r->success())
    return Error(Errc::kRefused, what + " " + describeCommand(ps.argv) + " failed: " + r->describe() +
                                     (r->output.empty() ? "" : ": " + firstLine(r->output)));
  return {};
}

Status Deployer::runHooks(Ctx& c) {
  const fs::path rel = releaseDir(c.body.app, c.body.version);
  const std::string prev_dir = c.previous.empty() ? "" : releaseDir(c.body.app, c.previous).string();
  for (const auto& argv : c.spec.deploy.before_switch) {
    common::ProcessSpec ps;
    ps.argv = argv;
    ps.cwd = rel;
    ps.env = hookEnv(c.body.app, c.body.version, rel, prev_dir);
    ps.timeout = c.spec.deploy.hook_timeout;
    FLOTILLA_TRY(runCommand("before_switch", std::move(ps)));
  }
  return {};
}

Status Deployer::runRestart(const protocol::OrderSpec& spec, const fs::path& dir, const std::string& app,
                            const std::string& version, const std::string& previous_dir) {
  // The agent's own binary is never restarted by a command: it hands over.
  if (spec.deploy.restart.empty() || app == kSelfApp) return {};
  common::ProcessSpec ps;
  ps.argv = spec.deploy.restart;
  ps.cwd = dir;
  ps.env = hookEnv(app, version, dir, previous_dir);
  ps.timeout = spec.deploy.hook_timeout;
  return runCommand("restart", std::move(ps));
}

bool Deployer::probation(Ctx& c, const CheckContext& ctx, std::string& why) {
  const auto& h = c.spec.health;
  if (h.checks.empty()) return true;
  const auto start = clock_.steadyNow();
  const auto deadline = start + h.deadline;
  std::optional<common::SteadyTime> passing_since;
  std::string last_failure = "no check has passed yet";
  while (true) {
    bool ok = true;
    for (const auto& check : h.checks) {
      if (auto st = os_.runHealthCheck(check, ctx); !st.ok()) {
        ok = false;
        last_failure = st.error().message;
        break;
      }
    }
    const auto now = clock_.steadyNow();
    if (ok) {
      if (!passing_since) passing_since = now;
      if (now - *passing_since >= h.healthy_for) return true;
    } else {
      passing_since.reset();
    }
    if (now >= deadline) {
      why = "not healthy within " + common::formatDuration(h.deadline) + ": " + last_failure;
      return false;
    }
    auto wait = std::min<common::Millis>(
        h.interval, std::chrono::duration_cast<common::Millis>(deadline - now) + common::Millis(1));
    if (passing_since) {
      auto left = std::chrono::duration_cast<common::Millis>(*passing_since + h.healthy_for - now) + common::Millis(1);
      wait = std::min(wait, left);
    }
    if (!hooks_.wait(wait)) {
      why = "agent stopping during probation";
      return false;
    }
    if (protocol::flaggedApp(c.body.app) && hooks_.superseded && hooks_.superseded(c.body.app)) {
      why = "superseded during probation by a newer order of " + c.body.app;
      return false;
    }
  }
}

Phase Deployer::revert(Ctx& c, const std::string& why) {
  // Saved before `current` goes back: a restart must then finish the revert,
  // which the link alone (pointing at the previous release) would not tell.
  (void)journalPhase(c, Phase::kReverting);
  auto& a = journal_.state().apps[c.body.app];
  const fs::path current = appDir(c.body.app) / "current";
  // After a crash mid-revert `current` may already point back: report what is live.
  report(c, Phase::kReverting, why, os_.linkTarget(current).value_or(""));
  if (c.previous.empty() || c.previous == c.body.version) {
    (void)os_.removeLink(current);
    a.current.clear();
    return finish(c, Phase::kReverted, why + "; there was no previous release, so `current` was removed", "");
  }
  if (auto st = os_.switchLink(current, fs::path("releases") / c.previous); !st.ok())
    return finish(c, Phase::kRevertFailed, why + "; switching back to " + c.previous + " failed: " + st.error().message,
                  c.body.version);
  // Not saved: the journal says reverting, so a restart from here switches
  // back again (a no-op) and restarts the previous release.
  a.current = c.previous;
  a.previous = c.previous_previous;
  os_.crashPoint("reverting:after");
  // Restart the previous release with its own spec when we know it.
  protocol::OrderSpec prev_spec = c.spec;
  if (auto it = a.releases.find(c.previous); it != a.releases.end() && !it->second.spec.empty()) {
    auto decoded = protocol::decodeSpec(it->second.spec);
    if (decoded) {
      auto expanded = expandSpec(*decoded, config_.vars);
      if (expanded) prev_spec = std::move(*expanded);
    }
  }
  auto st = runRestart(prev_spec, releaseDir(c.body.app, c.previous), c.body.app, c.previous, "");
  if (!st.ok())
    return finish(c, Phase::kRevertFailed,
                  why + "; switched back to " + c.previous + " but its restart failed: " + st.error().message,
                  c.previous);
  return finish(c, Phase::kReverted, why + "; " + c.previous + " is live again", c.previous);
}

void Deployer::recover() {
  restoreFlagSets();
  recoverOrder();
  if (flags_) flags_->markLoaded();
}

void Deployer::recoverOrder() {
  auto& s = journal_.state();
  if (!s.order) return;
  InFlightOrder o = *s.order;
  Ctx c;
  c.body.order_id = o.order_id;
  c.body.app = o.app;
  c.body.version = o.version;
  c.body.sequence = o.sequence;
  c.body.action = o.action;
  c.body.artifact_digest = o.digest;
  c.raw_spec = o.spec;
  c.previous = o.previous;
  c.previous_previous = o.previous_previous;
  if (auto spec = protocol::decodeSpec(o.spec); spec) {
    auto expanded = expandSpec(*spec, config_.vars);
    c.spec = expanded ? *expanded : *spec;
  }
  if (protocol::flaggedApp(o.app)) {
    recoverFlags(c, o.phase, note_.read(o.order_id).value_or(o.phase));
    return;
  }
  // What this order staged is saved with its end only. If it replaced the
  // directory of a release the journal lists with another digest (same
  // version, another artifact), that digest may no longer describe the
  // directory: make it unknown, so an order naming an artifact stages the
  // release again (its spec stays, for a revert to it). The live release is
  // never replaced (readyRelease refuses).
  if (auto& a = s.apps[o.app]; !o.digest.empty() && o.version != o.previous) {
    if (auto it = a.releases.find(o.version); it != a.releases.end() && it->second.digest != o.digest)
      it->second.digest.clear();
  }
  const auto target = os_.linkTarget(appDir(o.app) / "current");
  const bool switched = target && *target == o.version && o.previous != o.version;
  // The note names the phase the crash interrupted; the journal only the last one it saved.
  const std::string phase = note_.read(o.order_id).value_or(o.phase);
  spdlog::warn("recovering order {} interrupted in phase {} (current -> {})", o.order_id, phase,
               target ? *target : std::string("none"));
  const std::string why = "agent restarted during " + phase;
  if (o.phase == kHandoverPhase && switched) {
    recoverHandover(c);
    return;
  }
  if (o.phase == protocol::toString(Phase::kReverting) && !switched) {
    // The crash came after `current` went back (or was removed, when there is
    // no previous release) but maybe before the previous release was
    // restarted: finish the revert.
    revert(c, why);
    return;
  }
  if (!switched) {
    // Nothing was switched: the previous release is still live.
    auto& a = s.apps[o.app];
    a.current = o.previous;
    fail(c, Phase::kFailed, why + "; nothing was switched");
    return;
  }
  auto& a = s.apps[o.app];
  a.current = o.version;
  revert(c, why);
}

void Deployer::prune(const std::string& app) {
  auto& a = journal_.state().apps[app];
  const fs::path dir = appDir(app) / "releases";
  std::error_code ec;
  std::vector<std::pair<fs::file_time_type, std::string>> candidates;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind(".staging-", 0) == 0 || name == a.current || name == a.previous) continue;
    candidates.emplace_back(e.last_write_time(ec), name);
  }
  std::size_t keep_others = config_.keep_releases > 2 ? config_.keep_releases - 2 : 0;
  if (a.previous.empty() && config_.keep_releases > 1) keep_others += 1;
  if (candidates.size() <= keep_others) return;
  std::sort(candidates.begin(), candidates.end(), std::greater<>());
  for (std::size_t i = keep_others; i < candidates.size(); ++i) {
    fs::remove_all(dir / candidates[i].second, ec);
    a.releases.erase(candidates[i].second);
    spdlog::info("pruned release {} of {}", candidates[i].second, app);
  }
  // Not saved: the next save carries it, and until then the journal may list a
  // release that is gone, which is staged again if an order needs it.
}

std::map<std::string, std::string> Deployer::releases() const {
  std::map<std::string, std::string> out;
  for (const auto& [name, a] : journal_.state().apps)
    if (!a.current.empty()) out[name] = a.current;
  return out;
}

common::Millis Deployer::monitorInterval() const {
  common::Millis best{std::chrono::seconds(5)};
  for (const auto& [name, a] : journal_.state().apps) {
    auto it = a.releases.find(a.current);
    // A flag app is checked while its flag set is on probation, never by the idle monitor.
    if (a.current.empty() || it == a.releases.end() || protocol::flaggedApp(name)) continue;
    auto spec = protocol::decodeSpec(it->second.spec);
    // After probation, checks run at the plan's interval but no more often than
    // every 5 s (the heartbeat period): an idle agent stays near zero CPU.
    if (spec && !spec->health.checks.empty())
      best = std::min(best, std::max(spec->health.interval, common::Millis(std::chrono::seconds(5))));
  }
  return best;
}

protocol::HealthMap Deployer::checkAll() {
  using protocol::HealthState;
  protocol::HealthMap out;
  for (const auto& [name, a] : journal_.state().apps) {
    if (a.current.empty() || protocol::flaggedApp(name)) continue;
    auto it = a.releases.find(a.current);
    if (it == a.releases.end()) {
      out[name] = HealthState::kUnknown;
      continue;
    }
    auto spec = protocol::decodeSpec(it->second.spec);
    if (!spec) {
      out[name] = HealthState::kUnknown;
      continue;
    }
    auto expanded = expandSpec(*spec, config_.vars);
    if (!expanded) {
      out[name] = HealthState::kUnknown;
      continue;
    }
    CheckContext ctx{releaseDir(name, a.current), hookEnv(name, a.current, releaseDir(name, a.current), ""),
                     config_.run_as};
    bool ok = true;
    for (const auto& check : expanded->health.checks) {
      if (!os_.runHealthCheck(check, ctx).ok()) {
        ok = false;
        break;
      }
    }
    out[name] = ok ? HealthState::kHealthy : HealthState::kUnhealthy;
  }
  return out;
}

}  // namespace flotilla::agent
