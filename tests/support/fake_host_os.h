#pragma once
// A HostOs for Deployer unit tests: runs no process, probes nothing, makes no
// symlink. It records every call and returns what the test scripted:
//   - commands (hooks, restart) exit 0 unless failCommand / hangCommand /
//     unstartableCommand says otherwise for their argv[0];
//   - health checks pass, except the outcomes queued in `health_script`
//     (consumed one check at a time) or all of them after setUnhealthy();
//   - the `current` links live in a map; switching to a target in
//     `failing_switches` fails;
//   - extraction creates the destination directory (holding a file `artifact`
//     that names the archive), so the Deployer's own renames and pruning work
//     in a temp dir, or fails with `extract_error` after creating it, as a
//     half-written release would;
//   - diskSpace returns `disk_looks` one by one, then `disk`; unpackedSize
//     returns `unpacked`;
//   - crashPoint records the point and, at `crash_at`, throws FakeCrash so the
//     Deployer stops dead there, as a killed agent would.
// Single-threaded, like the Deployer that calls it.

#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "flotilla/agent/host_os.h"

namespace flotilla::testing {

// Thrown by FakeHostOs::crashPoint at the armed point.
struct FakeCrash {
  std::string point;
};

class FakeHostOs final : public agent::HostOs {
 public:
  using Program = std::function<Result<common::ProcessResult>(const common::ProcessSpec&)>;

  // ---- scripting

  // Commands whose argv[0] is `program` exit with `exit_code`, printing `output`.
  void failCommand(const std::string& program, int exit_code, const std::string& output = "") {
    programs[program] = [exit_code, output](const common::ProcessSpec&) -> Result<common::ProcessResult> {
      common::ProcessResult r;
      r.exit_code = exit_code;
      r.output = output;
      return r;
    };
  }
  // Commands whose argv[0] is `program` run into their timeout.
  void hangCommand(const std::string& program) {
    programs[program] = [](const common::ProcessSpec& spec) -> Result<common::ProcessResult> {
      common::ProcessResult r;
      r.timed_out = true;
      r.timed_out_after = spec.timeout;
      return r;
    };
  }
  // Commands whose argv[0] is `program` cannot be started.
  void unstartableCommand(const std::string& program) {
    programs[program] = [program](const common::ProcessSpec&) -> Result<common::ProcessResult> {
      return Error(Errc::kNotFound, "exec " + program + ": No such file or directory");
    };
  }
  // The next `n` health checks fail with `why`; later ones pass.
  void healthFailsFor(int n, const std::string& why = "http://127.0.0.1:8080/healthz: HTTP 503") {
    for (int i = 0; i < n; ++i) health_script.push_back(Error(Errc::kUnavailable, why));
  }
  // Every health check from now on fails with `why`.
  void setUnhealthy(const std::string& why = "http://127.0.0.1:8080/healthz: HTTP 503") {
    unhealthy_ = Error(Errc::kUnavailable, why);
  }
  void setHealthy() { unhealthy_.reset(); }

  std::map<std::string, Program> programs;  // argv[0] -> outcome; others exit 0
  std::deque<Status> health_script;
  std::set<std::filesystem::path> failing_switches;  // targets switchLink refuses
  std::optional<Error> extract_error;
  std::deque<agent::DiskSpace> disk_looks;  // what the next diskSpace calls return, before `disk`
  agent::DiskSpace disk{1ull << 40, 4096};  // 1 TiB free
  std::optional<Error> disk_error;
  agent::UnpackedSize unpacked;
  std::string crash_at;  // "" = never

  // ---- records

  std::vector<common::ProcessSpec> processes;
  int health_checks = 0;
  std::vector<std::string> switches;  // "<link> -> <target>", in order
  std::map<std::filesystem::path, std::filesystem::path> links;
  std::vector<std::filesystem::path> extractions;  // destination directories
  int measurements = 0;                            // unpackedSize calls
  std::vector<std::string> crash_points;

  // argv[0] of every command run, in order.
  std::vector<std::string> programsRun() const {
    std::vector<std::string> out;
    for (const auto& p : processes) out.push_back(p.argv.empty() ? "" : p.argv.front());
    return out;
  }

  // ---- HostOs

  Result<common::ProcessResult> runProcess(const common::ProcessSpec& spec) override {
    processes.push_back(spec);
    auto it = spec.argv.empty() ? programs.end() : programs.find(spec.argv.front());
    if (it != programs.end()) return it->second(spec);
    common::ProcessResult ok;
    ok.exit_code = 0;
    return ok;
  }

  Status runHealthCheck(const protocol::HealthCheck&, const agent::CheckContext&) override {
    ++health_checks;
    if (!health_script.empty()) {
      Status st = health_script.front();
      health_script.pop_front();
      return st;
    }
    if (unhealthy_) return *unhealthy_;
    return {};
  }

  Status switchLink(const std::filesystem::path& link, const std::filesystem::path& target) override {
    switches.push_back(link.string() + " -> " + target.string());
    if (failing_switches.count(target) != 0)
      return Error(Errc::kIo, "rename onto " + link.string() + ": Input/output error");
    links[link] = target;
    return {};
  }

  std::optional<std::string> linkTarget(const std::filesystem::path& link) override {
    auto it = links.find(link);
    if (it == links.end()) return std::nullopt;
    return it->second.filename().string();
  }

  Status removeLink(const std::filesystem::path& link) override {
    switches.push_back(link.string() + " removed");
    links.erase(link);
    return {};
  }

  Status extractArchive(const std::filesystem::path& archive, const std::filesystem::path& dest_dir,
                        const agent::ExtractLimits&) override {
    extractions.push_back(dest_dir);
    std::filesystem::create_directories(dest_dir);
    std::ofstream(dest_dir / "artifact") << archive.filename().string() << "\n";
    if (extract_error) return *extract_error;
    return {};
  }

  Result<agent::UnpackedSize> unpackedSize(const std::filesystem::path&, std::uint64_t,
                                           const agent::ExtractLimits&) override {
    ++measurements;
    return unpacked;
  }

  Result<agent::DiskSpace> diskSpace(const std::filesystem::path&) override {
    if (disk_error) return *disk_error;
    if (!disk_looks.empty()) {
      agent::DiskSpace look = disk_looks.front();
      disk_looks.pop_front();
      return look;
    }
    return disk;
  }

  void crashPoint(std::string_view point) override {
    crash_points.emplace_back(point);
    if (!crash_at.empty() && point == crash_at) throw FakeCrash{crash_at};
  }

 private:
  std::optional<Error> unhealthy_;
};

}  // namespace flotilla::testing
