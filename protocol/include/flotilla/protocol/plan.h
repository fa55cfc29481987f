#pragma once
// A deployment plan: one rollout of one app, read from TOML (DESIGN.md section 2).
// Parsing is pure (no I/O beyond reading the file in parsePlanFile) and every
// error names the file, line and column, the key, and what is wrong:
//   "web.toml:14:11: waves.max_failed: expected a count or a percentage like \"5%\", got \"five\""

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "flotilla/common/clock.h"
#include "flotilla/common/result.h"
#include "flotilla/protocol/analysis.h"
#include "flotilla/protocol/artifact_source.h"

namespace flotilla::protocol {

// A count of hosts, or a percentage of the target (0 < pct <= 100).
struct Amount {
  bool percent = false;
  double value = 0;  // hosts when !percent, else percent
  // Hosts this amount means out of `total`; percentages round up (so "10%" of
  // 5 hosts is 1 host, never 0).
  std::size_t resolve(std::size_t total) const;
  std::string toString() const;  // "3" or "10%"
};

enum class Approval { kAuto, kManual };
enum class OnFailure { kRollback, kPause, kHalt };
const char* toString(Approval a);
const char* toString(OnFailure f);

struct WavePolicy {
  std::vector<Amount> sizes{Amount{true, 100}};  // cumulative; must not decrease
  std::size_t max_parallel = 10;                 // >= 1
  Amount max_failed{false, 0};
  Amount max_unreachable{false, 0};
  common::Millis bake{0};
  Approval approval = Approval::kAuto;
  OnFailure on_failure = OnFailure::kRollback;
  common::Millis deadline{std::chrono::minutes(10)};  // > 0
};

struct HealthCheck {
  enum class Kind { kHttp, kTcp, kExec };
  Kind kind = Kind::kHttp;
  std::string target;             // URL for http, "host:port" for tcp
  std::vector<std::string> argv;  // for exec, non-empty
  common::Millis timeout{std::chrono::seconds(2)};
};

struct HealthSpec {
  common::Millis interval{std::chrono::seconds(1)};
  common::Millis healthy_for{std::chrono::seconds(10)};
  common::Millis deadline{std::chrono::seconds(60)};  // >= healthy_for
  std::vector<HealthCheck> checks;                    // may be empty: healthy once restarted
};

struct DeploySpec {
  std::vector<std::vector<std::string>> before_switch;   // each argv non-empty
  std::vector<std::string> restart;                      // empty = no restart command
  common::Millis hook_timeout{std::chrono::minutes(5)};  // [deploy] timeout
};

struct ChangeInfo {
  std::string commit;
  std::string ref;  // e.g. "refs/heads/main"; "" = not given
  std::optional<common::SysTime> committed_at;
  // A deployment made to fix a production problem, not planned work: it
  // counts in DORA's deployment rework rate (docs/metrics.md).
  bool unplanned = false;
};

struct Plan {
  std::string app;      // [a-z0-9][a-z0-9._-]{0,63}
  std::string version;  // [A-Za-z0-9][A-Za-z0-9._+-]{0,127}
  std::optional<ChangeInfo> change;
  // Resolved against the plan's directory. The artifact the console uploads,
  // or with artifact_url the local copy it computes digest and length from;
  // empty when the plan gives artifact.digest and artifact.length instead.
  std::filesystem::path artifact_file;
  // An HTTP store serves the artifact (docs/artifacts.md): agents download it
  // from here and the coordinator never carries the bytes. "" = uploaded.
  std::string artifact_url;
  // artifact.digest and artifact.length, with artifact_url only; absent =
  // computed from artifact_file by the console (BLAKE2b-256).
  std::optional<ArtifactDigest> artifact_digest;
  std::uint64_t artifact_length = 0;
  // Detached release signature (`flotilla sign`), resolved like artifact_file; empty = none.
  std::filesystem::path artifact_signature;
  // Detached CI signature (`flotilla sign --ci`, docs/policy.md), resolved like artifact_file; empty = none.
  std::filesystem::path artifact_ci_signature;
  std::map<std::string, std::string> target_labels;  // empty = every accepted agent
  WavePolicy waves;
  DeploySpec deploy;
  HealthSpec health;
  std::optional<AnalysisSpec> analysis;  // [analysis]: absent = judged by health checks alone
};

// `source_name` is what errors call the file; `base_dir` resolves artifact.file.
Result<Plan> parsePlan(std::string_view toml_text, const std::string& source_name,
                       const std::filesystem::path& base_dir);
Result<Plan> parsePlanFile(const std::filesystem::path& path);

bool validAppName(std::string_view app);
bool validVersion(std::string_view version);

}  // namespace flotilla::protocol
