// The Deployer's path for flag apps ("flags:web", protocol/flag_app.h): the
// order's artifact is web's flag set. See deployer.h for the phases.
#include <sys/stat.h>

#include <algorithm>
#include <vector>

#include <spdlog/spdlog.h>

#include "deployer_ctx.h"
#include "flotilla/agent/flag_store.h"
#include "flotilla/common/duration.h"
#include "flotilla/common/fs.h"
#include "flotilla/flags/flag_set.h"
#include "flotilla/protocol/flag_app.h"

namespace flotilla::agent {

namespace fs = std::filesystem;
using protocol::Phase;

namespace {

constexpr const char* kLiveFile = "flags.json";
constexpr std::size_t kMaxFlagSetBytes = 16 * 1024 * 1024;

fs::path storedFile(const fs::path& app_dir, const std::string& version) {
  return app_dir / "flags" / (version + ".json");
}

struct StoredFlagSet {
  std::string bytes;
  flags::FlagSet set;
};

// A flag set kept on this host; parsed again, since the file is the truth.
Result<StoredFlagSet> loadStored(const fs::path& file, const std::string& version) {
  auto bytes = common::readFile(file, kMaxFlagSetBytes);
  if (!bytes) return bytes.error();
  auto set = flags::FlagSet::parse(*bytes);
  if (!set) return Error(set.error().code, "flag set " + version + ": " + set.error().message);
  return StoredFlagSet{std::move(*bytes), std::move(*set)};
}

// When `file` was last written; nullopt when it cannot be read.
std::optional<common::SysTime> modifiedAt(const fs::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return std::nullopt;
  return common::SysTime(std::chrono::duration_cast<common::SysTime::duration>(
      std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
}

}  // namespace

fs::path Deployer::flagsDir(const std::string& flag_app) const {
  // Every caller holds an order or journal entry whose app passed flaggedApp.
  return appDir(protocol::flaggedApp(flag_app).value_or(flag_app));
}

Phase Deployer::executeFlags(Ctx& c) {
  if (c.body.version == protocol::kNoFlagSet) return withdrawFlags(c);
  if (auto ended = readyFlagSet(c)) return *ended;
  notePhase(c, Phase::kSwitching);
  if (auto st = applyFlagSet(c.body.app, c.body.version, false); !st.ok())
    return fail(c, Phase::kFailed, "switching flags.json: " + st.error().message);
  os_.crashPoint("switching:after");
  recordSwitch(c);
  notePhase(c, Phase::kProbation);
  report(c, Phase::kSwitching, std::string(kLiveFile) + " -> flags/" + c.body.version + ".json", c.body.version);
  reportProbation(c);
  // The checks are the app's: they run where its live release is.
  const fs::path dir = flagsDir(c.body.app);
  const std::string app = protocol::flaggedApp(c.body.app).value_or("");
  const std::string release = journal_.state().apps[app].current;
  std::error_code ec;
  const fs::path cwd = fs::is_directory(dir / "current", ec) ? dir / "current" : dir;
  CheckContext ctx{cwd, hookEnv(app, release, cwd, ""), config_.run_as};
  ctx.env["FLOTILLA_FLAGS_VERSION"] = c.body.version;
  ctx.env["FLOTILLA_FLAGS_FILE"] = (dir / kLiveFile).string();
  std::string why;
  if (!probation(c, ctx, why)) return revertFlags(c, why);
  finish(c, Phase::kHealthy, "healthy for " + common::formatDuration(c.spec.health.healthy_for), c.body.version);
  pruneFlagSets(c.body.app);
  return Phase::kHealthy;
}

Phase Deployer::withdrawFlags(Ctx& c) {
  notePhase(c, Phase::kSwitching);
  if (auto st = applyFlagSet(c.body.app, "", false); !st.ok())
    return fail(c, Phase::kFailed, "removing " + std::string(kLiveFile) + ": " + st.error().message);
  auto& a = journal_.state().apps[c.body.app];
  if (!c.previous.empty()) a.previous = c.previous;
  a.current.clear();
  report(c, Phase::kSwitching, std::string(kLiveFile) + " removed: the app had no flag set before", "");
  return finish(c, Phase::kHealthy, "no flag set, as before the first", "");
}

std::optional<Phase> Deployer::readyFlagSet(Ctx& c) {
  auto& a = journal_.state().apps[c.body.app];
  const fs::path stored = storedFile(flagsDir(c.body.app), c.body.version);
  const auto known = a.releases.find(c.body.version);
  const bool same_content =
      c.body.artifact_digest.empty() || (known != a.releases.end() && known->second.digest == c.body.artifact_digest);
  std::error_code ec;
  const bool on_disk = fs::is_regular_file(stored, ec);
  if (c.previous == c.body.version && on_disk) {
    if (!same_content)
      return fail(c, Phase::kFailed,
                  "flag set " + c.body.version + " is live with different content; push a new version");
    return finish(c, Phase::kHealthy, "flag set " + c.body.version + " is already live", c.body.version);
  }
  if (on_disk && known != a.releases.end() && same_content) {
    known->second.spec = c.raw_spec;
    return std::nullopt;
  }
  if (c.body.artifact_digest.empty())
    return fail(c, Phase::kFailed,
                "flag set " + c.body.version + " is not on this host and the order names no artifact");
  const fs::path part = config_.state_dir / "downloads" / c.body.artifact_digest;
  if (auto st = download(c, part); !st.ok()) return fail(c, Phase::kFailed, st.error().message);
  auto bytes = common::readFile(part, kMaxFlagSetBytes);
  if (!bytes) return fail(c, Phase::kFailed, "flag set " + c.body.version + ": " + bytes.error().message);
  auto set = flags::FlagSet::parse(*bytes);
  if (!set) {
    // Refused like a bad order: counted, and nothing on the host changes.
    if (flags_) flags_->countRefused();
    return fail(c, Phase::kFailed, "flag set " + c.body.version + ": " + set.error().message);
  }
  notePhase(c, Phase::kStaging);
  report(c, Phase::kStaging, "digest verified, " + std::to_string(set->flags().size()) + " flags", c.previous);
  Status kept = common::ensureDir(stored.parent_path(), 0755);
  if (kept.ok()) kept = common::atomicWriteFile(stored, *bytes, 0644);
  if (!kept.ok()) return fail(c, Phase::kFailed, "keeping flag set " + c.body.version + ": " + kept.error().message);
  // Saved with the order's end, as a staged release is.
  a.releases[c.body.version] = ReleaseInfo{c.body.artifact_digest, c.raw_spec};
  fs::remove(part, ec);
  return std::nullopt;
}

Status Deployer::applyFlagSet(const std::string& flag_app, const std::string& version, bool unless_same) {
  const fs::path dir = flagsDir(flag_app);
  const fs::path live = dir / kLiveFile;
  const std::string app = protocol::flaggedApp(flag_app).value_or(flag_app);
  if (version.empty()) {
    std::error_code ec;
    if (fs::remove(live, ec)) FLOTILLA_TRY(common::fsyncDir(dir));
    if (ec) return Error(Errc::kIo, "removing " + live.string() + ": " + ec.message());
    if (flags_) flags_->withdraw(app);
    return {};
  }
  auto stored = loadStored(storedFile(dir, version), version);
  if (!stored) return stored.error();
  std::optional<common::SysTime> applied;
  if (unless_same) {
    if (auto now_live = common::readFile(live, kMaxFlagSetBytes); now_live && *now_live == stored->bytes)
      applied = modifiedAt(live);
  }
  if (!applied) {
    FLOTILLA_TRY(common::ensureDir(dir, 0755));
    FLOTILLA_TRY(common::atomicWriteFile(live, stored->bytes, 0644));
    applied = clock_.systemNow();
  }
  if (flags_)
    flags_->publish(std::make_shared<const LiveFlagSet>(LiveFlagSet{app, version, std::move(stored->set), *applied}));
  return {};
}

Phase Deployer::revertFlags(Ctx& c, const std::string& why) {
  // Saved before flags.json goes back: a restart then finishes the revert.
  (void)journalPhase(c, Phase::kReverting);
  auto& a = journal_.state().apps[c.body.app];
  report(c, Phase::kReverting, why, a.current);
  const bool none = c.previous.empty() || c.previous == c.body.version;
  const std::string back = none ? "" : c.previous;
  if (auto st = applyFlagSet(c.body.app, back, false); !st.ok()) {
    // The order's set stays live (the journal says so): serve it, and make
    // flags.json hold it, which after a restart nothing has published yet.
    if (auto live = applyFlagSet(c.body.app, a.current, true); !live.ok())
      spdlog::error("flag set {} of {}: {}", a.current, c.body.app, live.error().message);
    return finish(c, Phase::kRevertFailed,
                  why + "; writing back flag set " + c.previous + " failed: " + st.error().message, a.current);
  }
  a.current = back;
  if (!none) a.previous = c.previous_previous;
  os_.crashPoint("reverting:after");
  if (none) return finish(c, Phase::kReverted, why + "; there was no previous flag set, so flags.json was removed", "");
  return finish(c, Phase::kReverted, why + "; flag set " + back + " is live again", back);
}

void Deployer::recoverFlags(Ctx& c, const std::string& journaled_phase, const std::string& interrupted_phase) {
  auto& a = journal_.state().apps[c.body.app];
  const fs::path dir = flagsDir(c.body.app);
  auto live = common::readFile(dir / kLiveFile, kMaxFlagSetBytes);
  auto mine = common::readFile(storedFile(dir, c.body.version), kMaxFlagSetBytes);
  const bool switched = c.previous != c.body.version && live && mine && *live == *mine;
  spdlog::warn("recovering flag order {} interrupted in phase {} ({} {})", c.body.order_id, interrupted_phase,
               kLiveFile, switched ? "is " + c.body.version : std::string("was not switched"));
  const std::string why = "agent restarted during " + interrupted_phase;
  if (switched || journaled_phase == protocol::toString(Phase::kReverting)) {
    a.current = c.body.version;
    revertFlags(c, why);
    return;
  }
  // Nothing was switched: the previous flag set is live; flags.json is made to say so.
  a.current = c.previous;
  if (auto st = applyFlagSet(c.body.app, c.previous, true); !st.ok())
    spdlog::error("flag set {} of {}: {}", c.previous, c.body.app, st.error().message);
  fail(c, Phase::kFailed, why + "; nothing was switched");
}

void Deployer::restoreFlagSets() {
  const auto& s = journal_.state();
  for (const auto& [name, a] : s.apps) {
    // The app of an order in hand is settled by its recovery.
    if (!protocol::flaggedApp(name) || (s.order && s.order->app == name)) continue;
    if (auto st = applyFlagSet(name, a.current, true); !st.ok())
      spdlog::error("cannot serve flag set {} of {}: {}", a.current, name, st.error().message);
  }
}

void Deployer::pruneFlagSets(const std::string& flag_app) {
  auto& a = journal_.state().apps[flag_app];
  const fs::path dir = flagsDir(flag_app) / "flags";
  std::error_code ec;
  std::vector<std::pair<fs::file_time_type, std::string>> candidates;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.front() == '.' || e.path().extension() != ".json") continue;
    const std::string version = e.path().stem().string();
    if (version == a.current || version == a.previous) continue;
    candidates.emplace_back(e.last_write_time(ec), version);
  }
  std::size_t keep_others = config_.keep_releases > 2 ? config_.keep_releases - 2 : 0;
  if (a.previous.empty() && config_.keep_releases > 1) keep_others += 1;
  if (candidates.size() <= keep_others) return;
  std::sort(candidates.begin(), candidates.end(), std::greater<>());
  for (std::size_t i = keep_others; i < candidates.size(); ++i) {
    fs::remove(storedFile(flagsDir(flag_app), candidates[i].second), ec);
    a.releases.erase(candidates[i].second);
  }
}

}  // namespace flotilla::agent
