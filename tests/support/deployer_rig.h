#pragma once
// One agent host for Deployer tests, on whatever HostOs the test lends it
// (FakeHostOs for fast tests, RealHostOs for the real file system): apps/ and
// state/ in a temp dir (or where the test points config.apps_dir), a journal,
// a fetcher that copies files the test registered, reports collected in
// `reports`, probation waits that advance a fake clock instead of sleeping.
// A test may replace the fetch, follow the reports or decide the waits itself
// (the *_override hooks, read at each call). Flag sets the Deployer publishes
// land in `flags`, a fresh store at each restartAgent(), as in a new agent process.
// Single-threaded, like the Deployer.

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flotilla/agent/deployer.h"
#include "flotilla/agent/flag_store.h"
#include "flotilla/agent/phase_note.h"
#include "flotilla/common/crypto.h"
#include "flotilla/protocol/messages.h"
#include "flotilla/protocol/order.h"
#include "support/fake_clock.h"
#include "support/temp_dir.h"

namespace flotilla::testing {

// An artifact the rig's fetcher can deliver.
struct RigArtifact {
  std::string digest;
  std::uint64_t size = 0;
};

class DeployerRig {
 public:
  explicit DeployerRig(agent::HostOs& os) : os_(os) {
    config.apps_dir = tmp_.path() / "apps";
    config.state_dir = tmp_.path() / "state";
    std::filesystem::create_directories(work());
  }
  DeployerRig(const DeployerRig&) = delete;
  DeployerRig& operator=(const DeployerRig&) = delete;

  // A fresh journal read back from disk and a fresh Deployer, as after an agent
  // restart. Call after setting `config`, before the first order.
  void restartAgent() {
    deployer_.reset();
    journal_.reset();
    auto j = agent::Journal::open(config.state_dir);
    REQUIRE(j.ok());
    journal_.emplace(std::move(*j));
    agent::DeployerHooks hooks;
    hooks.fetch = [this](const std::string& digest, std::uint64_t size, const std::filesystem::path& dest) -> Status {
      ++fetches;
      if (fetch_override) return fetch_override(digest, size, dest);
      auto it = files_.find(digest);
      if (it == files_.end()) return Error(Errc::kNotFound, "no artifact " + digest);
      std::error_code ec;
      std::filesystem::copy_file(it->second, dest, std::filesystem::copy_options::overwrite_existing, ec);
      if (ec) return Error(Errc::kIo, ec.message());
      return {};
    };
    hooks.fetch_url = [this](const std::string& url, std::uint64_t size, const std::filesystem::path& dest) -> Status {
      ++url_fetches;
      if (fetch_url_override) return fetch_url_override(url, size, dest);
      return Error(Errc::kUnavailable, url + ": this rig serves no URLs");
    };
    hooks.report = [this](const protocol::Report& r) {
      reports.push_back(r);
      if (report_override) report_override(r);
    };
    hooks.wait = [this](common::Millis d) {
      ++waits;
      if (wait_override) return wait_override(d);
      clock.advance(d);
      return true;
    };
    hooks.superseded = [this](const std::string& app) { return superseded_override && superseded_override(app); };
    flags = std::make_unique<agent::FlagStore>(clock.steadyNow());
    deployer_ = std::make_unique<agent::Deployer>(config, *journal_, std::move(hooks), clock, os_, flags.get());
  }

  agent::Deployer& deployer() { return *deployer_; }
  agent::Journal& journal() { return *journal_; }
  const agent::AppState& app(const std::string& name) { return journal_->state().apps[name]; }

  std::filesystem::path work() const { return tmp_.path() / "work"; }
  std::filesystem::path appDir(const std::string& app) const { return config.apps_dir / app; }
  std::filesystem::path releasesDir(const std::string& app) const { return appDir(app) / "releases"; }

  // Registers a file (a real tarball, or any bytes when the HostOs is fake).
  RigArtifact addFile(const std::filesystem::path& file) {
    auto d = common::digestFile(file);
    REQUIRE(d.ok());
    files_[d->digest] = file;
    return RigArtifact{d->digest, d->size};
  }
  // Registers an artifact holding `content`.
  RigArtifact addContent(const std::string& name, const std::string& content) {
    const auto file = work() / name;
    std::ofstream(file, std::ios::binary) << content;
    return addFile(file);
  }

  protocol::VerifiedOrder order(const std::string& app, const std::string& version, const RigArtifact& a,
                                const protocol::OrderSpec& spec, const std::string& action = "deploy") {
    protocol::VerifiedOrder o;
    ++sequence_;
    o.body.order_id = "order-" + std::to_string(sequence_);
    o.body.target = "host-1";
    o.body.rollout_id = "rollout-" + std::to_string(sequence_);
    o.body.app = app;
    o.body.version = version;
    o.body.action = action;
    o.body.artifact_digest = a.digest;
    o.body.artifact_size = a.size;
    o.body.sequence = sequence_;
    o.spec = spec;
    return o;
  }

  protocol::Phase execute(const protocol::VerifiedOrder& o) { return deployer_->execute(o); }

  // Phase names reported from index `mark` on.
  std::vector<std::string> phasesSince(std::size_t mark) const {
    std::vector<std::string> out;
    for (std::size_t i = mark; i < reports.size(); ++i) out.push_back(protocol::toString(reports[i].phase));
    return out;
  }
  // The phase the Deployer noted for `order_id` (PhaseNote), as a restarted agent reads it.
  std::optional<std::string> notedPhase(const std::string& order_id) const {
    return agent::PhaseNote(config.state_dir / "phase").read(order_id);
  }
  std::size_t downloadsLeft() const {
    std::size_t n = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(config.state_dir / "downloads", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
      ++n;
    return n;
  }

  agent::AgentConfig config;
  FakeClock clock;
  std::unique_ptr<agent::FlagStore> flags;
  std::vector<protocol::Report> reports;
  int fetches = 0;
  int url_fetches = 0;
  int waits = 0;
  std::function<Status(const std::string& digest, std::uint64_t size, const std::filesystem::path& dest)>
      fetch_override;
  // Downloads of an order's artifact_url; without one every such download fails.
  std::function<Status(const std::string& url, std::uint64_t size, const std::filesystem::path& dest)>
      fetch_url_override;
  std::function<bool(common::Millis)> wait_override;
  std::function<void(const protocol::Report&)> report_override;
  std::function<bool(const std::string& app)> superseded_override;

 private:
  agent::HostOs& os_;
  TempDir tmp_{"flotilla-deployer-rig"};
  std::map<std::string, std::filesystem::path> files_;
  std::uint64_t sequence_ = 0;
  std::optional<agent::Journal> journal_;
  std::unique_ptr<agent::Deployer> deployer_;
};

}  // namespace flotilla::testing
