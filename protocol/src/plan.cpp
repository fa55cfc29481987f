#include "flotilla/protocol/plan.h"

#include "flotilla/protocol/flag_app.h"

#include <toml++/toml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

#include "flotilla/common/duration.h"
#include "toml_value_reader.h"

#if !TOML_EXCEPTIONS
#error "plan.cpp expects toml++ built with exceptions (toml::parse_error)"
#endif

namespace flotilla::protocol {
namespace {

// Reads one plan, section by section. Every check returns a Status whose
// message starts with "<source>:<line>:<col>: <key.path>: ".
class PlanReader : public TomlValueReader {
 public:
  PlanReader(const std::string& source, const std::filesystem::path& base_dir)
      : TomlValueReader(source), base_dir_(base_dir) {}

  Result<Plan> read(std::string_view text) {
    toml::table root;
    try {
      root = toml::parse(text, std::string_view(source()));
    } catch (const toml::parse_error& e) {
      return Error(Errc::kInvalidArgument, position(e.source()) + ": " + std::string(e.description()));
    }
    Plan plan;
    Status status = readRoot(root, plan);
    if (!status) return status.error();
    return plan;
  }

  // Where artifact.file was written, for errors found after parsing.
  const toml::source_region& artifactWhere() const { return artifact_where_; }

 private:
  Status readRoot(const toml::table& root, Plan& plan) {
    FLOTILLA_TRY(checkKeys(
        root, "", {"app", "version", "change", "artifact", "target", "waves", "deploy", "health", "analysis"}));

    const toml::node* app = root.get("app");
    if (app == nullptr) return missing(root, "app");
    FLOTILLA_TRY(readString(*app, "app", plan.app));
    // A flag app ("flags:web") is a plan the coordinator writes for a flag
    // rollout (docs/flags.md); the control API refuses one an operator submits.
    if (!validOrderApp(plan.app)) {
      return errorAt(
          *app, "app",
          "invalid app name " + quote(plan.app) + " (1-64 of a-z 0-9 . _ -, starting with a letter or digit)");
    }

    const toml::node* version = root.get("version");
    if (version == nullptr) return missing(root, "version");
    FLOTILLA_TRY(readString(*version, "version", plan.version));
    if (!validVersion(plan.version)) {
      return errorAt(*version, "version",
                     "invalid version " + quote(plan.version) +
                         " (1-128 of A-Z a-z 0-9 . _ + -, starting with a letter or digit)");
    }

    const toml::table* table = nullptr;
    FLOTILLA_TRY(optionalTable(root, "change", table));
    if (table != nullptr) FLOTILLA_TRY(readChange(*table, plan));

    FLOTILLA_TRY(optionalTable(root, "artifact", table));
    if (table == nullptr) return missing(root, "artifact.file");
    FLOTILLA_TRY(readArtifact(*table, plan));

    FLOTILLA_TRY(optionalTable(root, "target", table));
    if (table != nullptr) FLOTILLA_TRY(readTarget(*table, plan));

    FLOTILLA_TRY(optionalTable(root, "waves", table));
    if (table != nullptr) FLOTILLA_TRY(readWaves(*table, plan.waves));

    FLOTILLA_TRY(optionalTable(root, "deploy", table));
    if (table != nullptr) FLOTILLA_TRY(readDeploy(*table, plan.deploy));

    FLOTILLA_TRY(optionalTable(root, "health", table));
    if (table != nullptr) FLOTILLA_TRY(readHealth(*table, plan.health));

    FLOTILLA_TRY(optionalTable(root, "analysis", table));
    if (table != nullptr) {
      AnalysisSpec spec;
      FLOTILLA_TRY(readAnalysis(*this, *table, spec));
      plan.analysis = std::move(spec);
    }
    return okStatus();
  }

  Status readChange(const toml::table& table, Plan& plan) const {
    FLOTILLA_TRY(checkKeys(table, "change", {"commit", "ref", "committed_at", "unplanned"}));
    ChangeInfo change;
    if (const toml::node* commit = table.get("commit")) {
      FLOTILLA_TRY(readString(*commit, "change.commit", change.commit));
    }
    if (const toml::node* ref = table.get("ref")) {
      FLOTILLA_TRY(readNonEmptyString(*ref, "change.ref", change.ref));
    }
    if (const toml::node* at = table.get("committed_at")) {
      FLOTILLA_TRY(readTimestamp(*at, "change.committed_at", change.committed_at));
    }
    if (const toml::node* unplanned = table.get("unplanned")) {
      auto v = unplanned->value<bool>();
      if (!v) return wrongType(*unplanned, "change.unplanned", "true or false");
      change.unplanned = *v;
    }
    plan.change = std::move(change);
    return okStatus();
  }

  Status readArtifact(const toml::table& table, Plan& plan) {
    FLOTILLA_TRY(checkKeys(table, "artifact", {"file", "url", "digest", "length", "signature", "ci_signature"}));
    const toml::node* url = table.get("url");
    const toml::node* digest = table.get("digest");
    const toml::node* length = table.get("length");
    const toml::node* file = table.get("file");
    if (url == nullptr) {
      if (digest != nullptr) return errorAt(*digest, "artifact.digest", "only with artifact.url");
      if (length != nullptr) return errorAt(*length, "artifact.length", "only with artifact.url");
    } else {
      FLOTILLA_TRY(readArtifactUrl(*url, digest, length, file, plan));
    }
    if (file == nullptr && plan.artifact_digest) {
      artifact_where_ = url->source();
    } else {
      if (file == nullptr) return missing(table, "artifact.file");
      std::string name;
      FLOTILLA_TRY(readNonEmptyString(*file, "artifact.file", name));
      std::filesystem::path path(name);
      plan.artifact_file = path.is_absolute() || base_dir_.empty() ? path : base_dir_ / path;
      artifact_where_ = file->source();
    }
    FLOTILLA_TRY(readPathBeside(table, "signature", plan.artifact_signature));
    FLOTILLA_TRY(readPathBeside(table, "ci_signature", plan.artifact_ci_signature));
    // `flotilla sign` and CI claims name the BLAKE2b-256 of a local file.
    if (plan.artifact_digest && plan.artifact_digest->algorithm != common::DigestAlgorithm::kBlake2b256) {
      for (const char* key : {"signature", "ci_signature"})
        if (const toml::node* n = table.get(key))
          return errorAt(*n, join("artifact", key),
                         "signatures name a blake2b-256 digest; give artifact.file (the local copy) instead of a "
                         "sha256 artifact.digest");
    }
    return okStatus();
  }

  // artifact.url, with artifact.digest and artifact.length, or with
  // artifact.file, the local copy the console computes them from.
  Status readArtifactUrl(const toml::node& url, const toml::node* digest, const toml::node* length,
                         const toml::node* file, Plan& plan) const {
    FLOTILLA_TRY(readNonEmptyString(url, "artifact.url", plan.artifact_url));
    if (auto st = checkArtifactUrl(plan.artifact_url); !st.ok())
      return errorAt(url, "artifact.url", st.error().message);
    if (digest == nullptr) {
      if (length != nullptr)
        return errorAt(*length, "artifact.length", "only with artifact.digest (artifact.file computes both)");
      if (file == nullptr)
        return errorAt(url, "artifact.url",
                       "needs artifact.digest and artifact.length, or artifact.file (a local copy the console "
                       "computes them from)");
      return okStatus();
    }
    if (file != nullptr)
      return errorAt(*file, "artifact.file",
                     "give artifact.file (the console computes digest and length) or artifact.digest and "
                     "artifact.length, not both");
    std::string text;
    FLOTILLA_TRY(readNonEmptyString(*digest, "artifact.digest", text));
    auto parsed = parsePrefixedDigest(text);
    if (!parsed) return errorAt(*digest, "artifact.digest", parsed.error().message);
    plan.artifact_digest = std::move(*parsed);
    if (length == nullptr) return errorAt(*digest, "artifact.length", "missing: artifact.digest needs the length");
    if (!length->is_integer()) return wrongType(*length, "artifact.length", "a byte count");
    const std::int64_t bytes = length->value<std::int64_t>().value_or(0);
    if (bytes <= 0) return errorAt(*length, "artifact.length", "must be at least 1 byte");
    plan.artifact_length = static_cast<std::uint64_t>(bytes);
    return okStatus();
  }

  // An optional artifact.<key> naming a file, resolved like artifact.file.
  Status readPathBeside(const toml::table& table, const char* key, std::filesystem::path& out) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return okStatus();
    std::string name;
    FLOTILLA_TRY(readNonEmptyString(*node, join("artifact", key), name));
    std::filesystem::path path(name);
    out = path.is_absolute() || base_dir_.empty() ? path : base_dir_ / path;
    return okStatus();
  }

  Status readTarget(const toml::table& table, Plan& plan) const {
    FLOTILLA_TRY(checkKeys(table, "target", {"labels"}));
    const toml::node* labels = table.get("labels");
    if (labels == nullptr) return okStatus();
    const toml::table* map = labels->as_table();
    if (map == nullptr) return wrongType(*labels, "target.labels", "a table of strings");
    for (auto&& [key, node] : *map) {
      std::string path = join("target.labels", key.str());
      if (key.str().empty()) return errorAt(key.source(), path, "a label name must not be empty");
      std::string value;
      FLOTILLA_TRY(readString(node, path, value));
      plan.target_labels.emplace(std::string(key.str()), std::move(value));
    }
    return okStatus();
  }

  Status readWaves(const toml::table& table, WavePolicy& waves) const {
    FLOTILLA_TRY(checkKeys(
        table, "waves",
        {"sizes", "max_parallel", "max_failed", "max_unreachable", "bake", "approval", "on_failure", "deadline"}));
    if (const toml::node* sizes = table.get("sizes")) FLOTILLA_TRY(readWaveSizes(*sizes, waves.sizes));
    if (const toml::node* node = table.get("max_parallel")) {
      const auto* value = node->as_integer();
      if (value == nullptr) return wrongType(*node, "waves.max_parallel", "an integer");
      if (value->get() < 1) {
        return errorAt(*node, "waves.max_parallel", "must be at least 1, got " + std::to_string(value->get()));
      }
      waves.max_parallel = static_cast<std::size_t>(value->get());
    }
    if (const toml::node* node = table.get("max_failed")) {
      FLOTILLA_TRY(readAmount(*node, "waves.max_failed", AmountUse::kBudget, waves.max_failed));
    }
    if (const toml::node* node = table.get("max_unreachable")) {
      FLOTILLA_TRY(readAmount(*node, "waves.max_unreachable", AmountUse::kBudget, waves.max_unreachable));
    }
    if (const toml::node* node = table.get("bake")) {
      FLOTILLA_TRY(readDuration(*node, "waves.bake", waves.bake));
    }
    if (const toml::node* node = table.get("deadline")) {
      FLOTILLA_TRY(readPositiveDuration(*node, "waves.deadline", waves.deadline));
    }
    if (const toml::node* node = table.get("approval")) FLOTILLA_TRY(readApproval(*node, waves.approval));
    if (const toml::node* node = table.get("on_failure")) FLOTILLA_TRY(readOnFailure(*node, waves.on_failure));
    return okStatus();
  }

  Status readWaveSizes(const toml::node& node, std::vector<Amount>& sizes) const {
    const toml::array* array = node.as_array();
    if (array == nullptr) {
      return wrongType(node, "waves.sizes", "an array of counts and percentages");
    }
    if (array->empty()) return errorAt(node, "waves.sizes", "needs at least one wave");
    sizes.clear();
    // Counts are compared with counts and percentages with percentages: which
    // of "5" and "10%" is bigger depends on the target, known only at rollout
    // time. A last wave short of the whole target is fine; the rollout planner
    // appends a final wave that reaches every host.
    std::optional<Amount> last_count, last_percent;
    for (std::size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = (*array)[i];
      std::string key = indexed("waves.sizes", i);
      Amount amount;
      FLOTILLA_TRY(readAmount(element, key, AmountUse::kWaveSize, amount));
      std::optional<Amount>& previous = amount.percent ? last_percent : last_count;
      if (previous && amount.value < previous->value) {
        return errorAt(
            element, key,
            "sizes are cumulative and must not decrease: " + amount.toString() + " after " + previous->toString());
      }
      previous = amount;
      sizes.push_back(amount);
    }
    return okStatus();
  }

  Status readApproval(const toml::node& node, Approval& approval) const {
    std::string value;
    FLOTILLA_TRY(readString(node, "waves.approval", value));
    if (value == "auto") {
      approval = Approval::kAuto;
    } else if (value == "manual") {
      approval = Approval::kManual;
    } else {
      return errorAt(node, "waves.approval", "expected \"auto\" or \"manual\", got " + quote(value));
    }
    return okStatus();
  }

  Status readOnFailure(const toml::node& node, OnFailure& on_failure) const {
    std::string value;
    FLOTILLA_TRY(readString(node, "waves.on_failure", value));
    if (value == "rollback") {
      on_failure = OnFailure::kRollback;
    } else if (value == "pause") {
      on_failure = OnFailure::kPause;
    } else if (value == "halt") {
      on_failure = OnFailure::kHalt;
    } else {
      return errorAt(node, "waves.on_failure", "expected \"rollback\", \"pause\" or \"halt\", got " + quote(value));
    }
    return okStatus();
  }

  Status readDeploy(const toml::table& table, DeploySpec& deploy) const {
    FLOTILLA_TRY(checkKeys(table, "deploy", {"before_switch", "restart", "timeout"}));
    if (const toml::node* node = table.get("before_switch")) {
      const toml::array* array = node->as_array();
      if (array == nullptr) {
        return wrongType(*node, "deploy.before_switch", "an array of commands (string arrays)");
      }
      deploy.before_switch.clear();
      for (std::size_t i = 0; i < array->size(); ++i) {
        std::vector<std::string> argv;
        FLOTILLA_TRY(readArgv((*array)[i], indexed("deploy.before_switch", i), argv));
        deploy.before_switch.push_back(std::move(argv));
      }
    }
    if (const toml::node* node = table.get("restart")) {
      FLOTILLA_TRY(readArgv(*node, "deploy.restart", deploy.restart));
    }
    if (const toml::node* node = table.get("timeout")) {
      FLOTILLA_TRY(readPositiveDuration(*node, "deploy.timeout", deploy.hook_timeout));
    }
    return okStatus();
  }

  Status readHealth(const toml::table& table, HealthSpec& health) const {
    FLOTILLA_TRY(checkKeys(table, "health", {"interval", "healthy_for", "deadline", "check"}));
    const toml::node* interval = table.get("interval");
    const toml::node* healthy_for = table.get("healthy_for");
    const toml::node* deadline = table.get("deadline");
    if (interval != nullptr) {
      FLOTILLA_TRY(readPositiveDuration(*interval, "health.interval", health.interval));
    }
    if (healthy_for != nullptr) {
      FLOTILLA_TRY(readDuration(*healthy_for, "health.healthy_for", health.healthy_for));
    }
    if (deadline != nullptr) {
      FLOTILLA_TRY(readDuration(*deadline, "health.deadline", health.deadline));
    }
    if (health.deadline < health.healthy_for) {
      // Either may be the default; point at whichever the plan wrote.
      const toml::node& where = deadline != nullptr ? *deadline : (healthy_for != nullptr ? *healthy_for : table);
      return errorAt(where, "health.deadline",
                     "must be at least health.healthy_for (" + common::formatDuration(health.healthy_for) + "), got " +
                         common::formatDuration(health.deadline));
    }

    if (const toml::node* node = table.get("check")) {
      const toml::array* array = node->as_array();
      if (array == nullptr) {
        return wrongType(*node, "health.check", "an array of tables ([[health.check]])");
      }
      health.checks.clear();
      for (std::size_t i = 0; i < array->size(); ++i) {
        HealthCheck check;
        FLOTILLA_TRY(readCheck((*array)[i], indexed("health.check", i), check));
        health.checks.push_back(std::move(check));
      }
    }
    return okStatus();
  }

  Status readCheck(const toml::node& node, const std::string& path, HealthCheck& check) const {
    const toml::table* table = node.as_table();
    if (table == nullptr) return wrongType(node, path, "a table");
    FLOTILLA_TRY(checkKeys(*table, path, {"http", "tcp", "exec", "timeout"}));

    const toml::node* http = table->get("http");
    const toml::node* tcp = table->get("tcp");
    const toml::node* exec = table->get("exec");
    int kinds = (http != nullptr) + (tcp != nullptr) + (exec != nullptr);
    if (kinds == 0) return errorAt(*table, path, "needs one of http, tcp or exec");
    if (kinds > 1) {
      std::string present;
      for (const char* name : {"http", "tcp", "exec"}) {
        if (table->get(name) == nullptr) continue;
        if (!present.empty()) present += " and ";
        present += name;
      }
      return errorAt(*table, path, "has " + present + "; a check has exactly one of http, tcp or exec");
    }

    if (http != nullptr) {
      std::string key = join(path, "http");
      check.kind = HealthCheck::Kind::kHttp;
      FLOTILLA_TRY(readString(*http, key, check.target));
      std::string_view url = check.target;
      bool http_scheme = url.starts_with("http://") && url.size() > 7;
      bool https_scheme = url.starts_with("https://") && url.size() > 8;
      if (!http_scheme && !https_scheme) {
        return errorAt(*http, key, "expected a URL starting with http:// or https://, got " + quote(url));
      }
    } else if (tcp != nullptr) {
      std::string key = join(path, "tcp");
      check.kind = HealthCheck::Kind::kTcp;
      FLOTILLA_TRY(readNonEmptyString(*tcp, key, check.target));
      FLOTILLA_TRY(checkHostPort(*tcp, key, check.target));
    } else {
      check.kind = HealthCheck::Kind::kExec;
      FLOTILLA_TRY(readArgv(*exec, join(path, "exec"), check.argv));
    }

    if (const toml::node* timeout = table->get("timeout")) {
      FLOTILLA_TRY(readPositiveDuration(*timeout, join(path, "timeout"), check.timeout));
    }
    return okStatus();
  }

  std::filesystem::path base_dir_;
  toml::source_region artifact_where_;
};

}  // namespace

Result<Plan> parsePlan(std::string_view toml_text, const std::string& source_name,
                       const std::filesystem::path& base_dir) {
  PlanReader reader(source_name, base_dir);
  return reader.read(toml_text);
}

Result<Plan> parsePlanFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    std::error_code ec;
    Errc code = std::filesystem::exists(path, ec) ? Errc::kIo : Errc::kNotFound;
    return Error(code, path.string() + ": cannot read the plan: " + std::strerror(err));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Error(Errc::kIo, path.string() + ": cannot read the plan");

  PlanReader reader(path.string(), path.parent_path());
  Result<Plan> plan = reader.read(text.str());
  if (!plan) return plan;

  // Parsing is pure; the file the plan ships is checked only when reading it
  // from disk, so a console can refuse a plan before contacting anyone.
  const std::filesystem::path& artifact = plan->artifact_file;
  if (artifact.empty()) return plan;  // artifact.url with artifact.digest: nothing local
  std::error_code ec;
  auto status = std::filesystem::status(artifact, ec);
  if (!std::filesystem::exists(status)) {
    return reader.errorAt(reader.artifactWhere(), "artifact.file", "no such file: " + artifact.string());
  }
  if (!std::filesystem::is_regular_file(status)) {
    return reader.errorAt(reader.artifactWhere(), "artifact.file", "not a regular file: " + artifact.string());
  }
  return plan;
}

}  // namespace flotilla::protocol
