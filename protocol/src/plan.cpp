#include "flotilla/protocol/plan.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string_view>

#include "flotilla/common/duration.h"

#if !TOML_EXCEPTIONS
#error "plan.cpp expects toml++ built with exceptions (toml::parse_error)"
#endif

namespace flotilla::protocol {
namespace {

using common::Millis;

std::string quote(std::string_view text) {
  std::string out = "\"";
  out.append(text);
  out += '"';
  return out;
}

std::string join(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  std::string out(path);
  out += '.';
  out.append(key);
  return out;
}

std::string indexed(std::string_view path, std::size_t i) { return std::string(path) + "[" + std::to_string(i) + "]"; }

const char* typeName(toml::node_type type) {
  switch (type) {
    case toml::node_type::none:
      return "nothing";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
  }
  return "an unknown type";
}

std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// "12%", "2.5%": the number before the sign, or nothing if `text` is not a percentage.
std::optional<double> parsePercent(std::string_view text) {
  if (text.size() < 2 || text.back() != '%') return std::nullopt;
  std::string_view number = text.substr(0, text.size() - 1);
  std::size_t dots = 0;
  for (char c : number) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return std::nullopt;
    }
  }
  if (dots > 1 || number.front() == '.' || number.back() == '.') return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc() || end != number.data() + number.size()) return std::nullopt;
  return value;
}

// Reads one plan. Every check returns a Status whose message starts with
// "<source>:<line>:<col>: <key.path>: ".
class PlanReader {
 public:
  PlanReader(const std::string& source, const std::filesystem::path& base_dir) : source_(source), base_dir_(base_dir) {}

  Result<Plan> read(std::string_view text) {
    toml::table root;
    try {
      root = toml::parse(text, std::string_view(source_));
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

  std::string position(const toml::source_region& where) const {
    unsigned line = where.begin.line == 0 ? 1 : where.begin.line;
    unsigned column = where.begin.column == 0 ? 1 : where.begin.column;
    return source_ + ":" + std::to_string(line) + ":" + std::to_string(column);
  }

  Error errorAt(const toml::source_region& where, std::string_view key, std::string_view what) const {
    return Error(Errc::kInvalidArgument, position(where) + ": " + std::string(key) + ": " + std::string(what));
  }
  Error errorAt(const toml::node& node, std::string_view key, std::string_view what) const {
    return errorAt(node.source(), key, what);
  }

 private:
  Error wrongType(const toml::node& node, std::string_view key, std::string_view expected) const {
    return errorAt(node, key, "expected " + std::string(expected) + ", got " + typeName(node.type()));
  }

  Error missing(const toml::node& table, std::string_view key) const {
    return errorAt(table, key, "required key is missing");
  }

  // Typos must not pass silently: every key a table holds has to be one we read.
  Status checkKeys(const toml::table& table, std::string_view path,
                   std::initializer_list<std::string_view> known) const {
    for (auto&& [key, node] : table) {
      std::string_view name = key.str();
      if (std::find(known.begin(), known.end(), name) != known.end()) continue;
      std::string what = "unknown key '" + std::string(name) + "'";
      std::string_view best;
      std::size_t best_distance = 3;
      for (std::string_view candidate : known) {
        std::size_t d = editDistance(name, candidate);
        if (d < best_distance) {
          best_distance = d;
          best = candidate;
        }
      }
      if (!best.empty()) {
        what += " (did you mean '" + std::string(best) + "'?)";
      } else {
        what += " (known keys:";
        for (std::string_view candidate : known) {
          what += ' ';
          what.append(candidate);
        }
        what += ')';
      }
      return errorAt(key.source(), join(path, name), what);
    }
    return okStatus();
  }

  // The subtable `key` of `parent`, or nullptr if absent (nullptr + error if not a table).
  Status optionalTable(const toml::table& parent, std::string_view key, const toml::table*& out) const {
    out = nullptr;
    const toml::node* node = parent.get(key);
    if (node == nullptr) return okStatus();
    out = node->as_table();
    if (out == nullptr) return wrongType(*node, key, "a table");
    return okStatus();
  }

  Status readString(const toml::node& node, std::string_view key, std::string& out) const {
    const auto* value = node.as_string();
    if (value == nullptr) return wrongType(node, key, "a string");
    out = value->get();
    return okStatus();
  }

  Status readNonEmptyString(const toml::node& node, std::string_view key, std::string& out) const {
    FLOTILLA_TRY(readString(node, key, out));
    if (out.empty()) return errorAt(node, key, "must not be empty");
    return okStatus();
  }

  Status readDuration(const toml::node& node, std::string_view key, Millis& out) const {
    const auto* value = node.as_string();
    if (value == nullptr) return wrongType(node, key, "a duration like \"30s\"");
    Result<Millis> parsed = common::parseDuration(value->get());
    if (!parsed) return errorAt(node, key, parsed.error().message);
    out = *parsed;
    return okStatus();
  }

  Status readPositiveDuration(const toml::node& node, std::string_view key, Millis& out) const {
    FLOTILLA_TRY(readDuration(node, key, out));
    if (out <= Millis(0)) return errorAt(node, key, "must be longer than 0s");
    return okStatus();
  }

  // A command line: a non-empty array of strings whose first element is not empty.
  Status readArgv(const toml::node& node, std::string_view key, std::vector<std::string>& out) const {
    const toml::array* array = node.as_array();
    if (array == nullptr) {
      return wrongType(node, key, "an array of strings (a command and its arguments)");
    }
    if (array->empty()) {
      return errorAt(node, key, "must not be empty (it is a command and its arguments)");
    }
    out.clear();
    for (std::size_t i = 0; i < array->size(); ++i) {
      std::string arg;
      FLOTILLA_TRY(readString((*array)[i], indexed(key, i), arg));
      out.push_back(std::move(arg));
    }
    if (out.front().empty()) return errorAt((*array)[0], indexed(key, 0), "the command is empty");
    return okStatus();
  }

  enum class AmountUse { kWaveSize, kBudget };

  // Wave sizes are positive counts or percentages in (0, 100]; failure budgets
  // are counts >= 0 or percentages in [0, 100].
  Status readAmount(const toml::node& node, std::string_view key, AmountUse use, Amount& out) const {
    const char* expected = use == AmountUse::kWaveSize ? "a count of hosts or a percentage like \"10%\""
                                                       : "a count or a percentage like \"5%\"";
    if (const auto* integer = node.as_integer()) {
      std::int64_t count = integer->get();
      if (use == AmountUse::kWaveSize && count < 1) {
        return errorAt(node, key, "a wave has at least 1 host, got " + std::to_string(count));
      }
      if (count < 0) {
        return errorAt(node, key, "must not be negative, got " + std::to_string(count));
      }
      out = Amount{false, static_cast<double>(count)};
      return okStatus();
    }
    const auto* text = node.as_string();
    if (text == nullptr) return wrongType(node, key, expected);
    std::optional<double> pct = parsePercent(text->get());
    if (!pct) {
      return errorAt(node, key, "expected " + std::string(expected) + ", got " + quote(text->get()));
    }
    if (use == AmountUse::kWaveSize && (*pct <= 0 || *pct > 100)) {
      return errorAt(node, key, "a percentage must be above 0% and at most 100%, got " + quote(text->get()));
    }
    if (*pct > 100) {
      return errorAt(node, key, "a percentage must be between 0% and 100%, got " + quote(text->get()));
    }
    out = Amount{true, *pct};
    return okStatus();
  }

  Status readRoot(const toml::table& root, Plan& plan) {
    FLOTILLA_TRY(checkKeys(root, "", {"app", "version", "change", "artifact", "target", "waves", "deploy", "health"}));

    const toml::node* app = root.get("app");
    if (app == nullptr) return missing(root, "app");
    FLOTILLA_TRY(readString(*app, "app", plan.app));
    if (!validAppName(plan.app)) {
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
    return okStatus();
  }

  Status readChange(const toml::table& table, Plan& plan) const {
    FLOTILLA_TRY(checkKeys(table, "change", {"commit", "committed_at"}));
    ChangeInfo change;
    if (const toml::node* commit = table.get("commit")) {
      FLOTILLA_TRY(readString(*commit, "change.commit", change.commit));
    }
    if (const toml::node* at = table.get("committed_at")) {
      FLOTILLA_TRY(readTimestamp(*at, "change.committed_at", change.committed_at));
    }
    plan.change = std::move(change);
    return okStatus();
  }

  Status readTimestamp(const toml::node& node, std::string_view key, std::optional<common::SysTime>& out) const {
    static constexpr const char* kExample = "2026-11-26T09:12:00Z";
    if (const auto* text = node.as_string()) {
      Result<common::SysTime> parsed = common::parseRfc3339(text->get());
      if (!parsed) return errorAt(node, key, parsed.error().message);
      out = *parsed;
      return okStatus();
    }
    const auto* value = node.as_date_time();
    if (value == nullptr) {
      return wrongType(node, key, std::string("a date-time with a UTC offset like ") + kExample);
    }
    const toml::date_time& dt = value->get();
    if (!dt.offset) {
      return errorAt(node, key, std::string("needs a UTC offset, e.g. ") + kExample);
    }
    if (dt.date.year < 1700 || dt.date.year > 2200) {
      return errorAt(node, key, "year out of range (1700-2200)");
    }
    std::chrono::year_month_day ymd{std::chrono::year{dt.date.year}, std::chrono::month{dt.date.month},
                                    std::chrono::day{dt.date.day}};
    auto local = std::chrono::sys_days{ymd} + std::chrono::hours(dt.time.hour) + std::chrono::minutes(dt.time.minute) +
                 std::chrono::seconds(dt.time.second) + std::chrono::nanoseconds(dt.time.nanosecond);
    auto utc = local - std::chrono::minutes(dt.offset->minutes);
    out = std::chrono::time_point_cast<common::SysTime::duration>(utc);
    return okStatus();
  }

  Status readArtifact(const toml::table& table, Plan& plan) {
    FLOTILLA_TRY(checkKeys(table, "artifact", {"file", "signature"}));
    const toml::node* file = table.get("file");
    if (file == nullptr) return missing(table, "artifact.file");
    std::string name;
    FLOTILLA_TRY(readNonEmptyString(*file, "artifact.file", name));
    std::filesystem::path path(name);
    plan.artifact_file = path.is_absolute() || base_dir_.empty() ? path : base_dir_ / path;
    artifact_where_ = file->source();
    if (const toml::node* sig = table.get("signature")) {
      std::string sig_name;
      FLOTILLA_TRY(readNonEmptyString(*sig, "artifact.signature", sig_name));
      std::filesystem::path sp(sig_name);
      plan.artifact_signature = sp.is_absolute() || base_dir_.empty() ? sp : base_dir_ / sp;
    }
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

    if (const toml::node* sizes = table.get("sizes")) {
      const toml::array* array = sizes->as_array();
      if (array == nullptr) {
        return wrongType(*sizes, "waves.sizes", "an array of counts and percentages");
      }
      if (array->empty()) return errorAt(*sizes, "waves.sizes", "needs at least one wave");
      waves.sizes.clear();
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
        waves.sizes.push_back(amount);
      }
    }

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
    if (const toml::node* node = table.get("approval")) {
      std::string value;
      FLOTILLA_TRY(readString(*node, "waves.approval", value));
      if (value == "auto") {
        waves.approval = Approval::kAuto;
      } else if (value == "manual") {
        waves.approval = Approval::kManual;
      } else {
        return errorAt(*node, "waves.approval", "expected \"auto\" or \"manual\", got " + quote(value));
      }
    }
    if (const toml::node* node = table.get("on_failure")) {
      std::string value;
      FLOTILLA_TRY(readString(*node, "waves.on_failure", value));
      if (value == "rollback") {
        waves.on_failure = OnFailure::kRollback;
      } else if (value == "pause") {
        waves.on_failure = OnFailure::kPause;
      } else if (value == "halt") {
        waves.on_failure = OnFailure::kHalt;
      } else {
        return errorAt(*node, "waves.on_failure", "expected \"rollback\", \"pause\" or \"halt\", got " + quote(value));
      }
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

  Status checkHostPort(const toml::node& node, std::string_view key, std::string_view target) const {
    // Host variables expand on the agent; "${HOST}:${PORT}" can only be checked there.
    if (target.find("${") != std::string_view::npos) return okStatus();
    auto bad = [&](std::string_view why) {
      return errorAt(
          node, key,
          std::string(why) + " in " + quote(target) + " (expected \"host:port\" with a port from 1 to 65535)");
    };
    std::size_t colon = target.rfind(':');
    if (colon == std::string_view::npos) return bad("missing port");
    if (colon == 0) return bad("missing host");
    std::string_view port = target.substr(colon + 1);
    if (port.empty()) return bad("missing port");
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || port.front() == '+') {
      return bad("bad port");
    }
    if (value < 1 || value > 65535) return bad("port out of range");
    return okStatus();
  }

  std::string source_;
  std::filesystem::path base_dir_;
  toml::source_region artifact_where_;
};

bool inSet(char c, std::string_view extra) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || extra.find(c) != std::string_view::npos;
}

}  // namespace

std::size_t Amount::resolve(std::size_t total) const {
  // Compared as doubles before any cast, so absurd values clamp instead of
  // overflowing (and NaN means nothing).
  double hosts = value;
  if (percent) {
    // Percentages round up; the small slack keeps 10% of 30 at 3 despite binary
    // floating point (30 * 10 / 100 is 3.0000000000000004).
    hosts = std::ceil(static_cast<double>(total) * value / 100.0 - 1e-9);
  }
  if (!(hosts > 0)) return 0;
  if (hosts >= static_cast<double>(total)) return total;
  return static_cast<std::size_t>(hosts);
}

std::string Amount::toString() const {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  std::string out = ec == std::errc() ? std::string(buf, end) : std::to_string(value);
  if (percent) out += '%';
  return out;
}

const char* toString(Approval a) {
  switch (a) {
    case Approval::kAuto:
      return "auto";
    case Approval::kManual:
      return "manual";
  }
  return "auto";
}

const char* toString(OnFailure f) {
  switch (f) {
    case OnFailure::kRollback:
      return "rollback";
    case OnFailure::kPause:
      return "pause";
    case OnFailure::kHalt:
      return "halt";
  }
  return "rollback";
}

bool validAppName(std::string_view app) {
  if (app.empty() || app.size() > 64) return false;
  if (!inSet(app.front(), "")) return false;
  return std::all_of(app.begin(), app.end(), [](char c) { return inSet(c, "._-"); });
}

bool validVersion(std::string_view version) {
  if (version.empty() || version.size() > 128) return false;
  auto alnum = [](char c) { return inSet(c, "") || (c >= 'A' && c <= 'Z'); };
  if (!alnum(version.front())) return false;
  return std::all_of(version.begin(), version.end(),
                     [&](char c) { return alnum(c) || std::string_view("._+-").find(c) != std::string_view::npos; });
}

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
