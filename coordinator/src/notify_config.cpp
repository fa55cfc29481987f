#include <toml++/toml.h>

#include <array>
#include <map>
#include <sstream>

#include "flotilla/common/crypto.h"
#include "flotilla/common/duration.h"
#include "flotilla/coordinator/notify_config.h"
#include "notify_toml.h"

namespace flotilla::coordinator {
namespace {

namespace fs = std::filesystem;

constexpr std::array<std::pair<NotifyEvent, const char*>, 5> kEventNames{{
    {NotifyEvent::kSubmitted, "submitted"},
    {NotifyEvent::kWaveSucceeded, "wave_succeeded"},
    {NotifyEvent::kWaveFailed, "wave_failed"},
    {NotifyEvent::kPaused, "paused"},
    {NotifyEvent::kFinished, "finished"},
}};

constexpr std::size_t kMaxQueue = 1000000;

Error bad(const fs::path& file, const toml::source_region& r, const std::string& key, const std::string& what) {
  std::ostringstream os;
  os << file.string() << ":" << r.begin.line << ":" << r.begin.column << ": " << key << ": " << what;
  return Error(Errc::kInvalidArgument, os.str());
}

// A list of strings; `check` says what is wrong with one ("" = fine).
template <typename Check>
Result<std::set<std::string>> readNames(const fs::path& file, const toml::node& n, const std::string& key,
                                        Check check) {
  const toml::array* arr = n.as_array();
  if (!arr) return bad(file, n.source(), key, "expected an array of strings");
  std::set<std::string> out;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& el = (*arr)[i];
    const std::string at = key + "[" + std::to_string(i) + "]";
    auto v = el.value<std::string>();
    if (!v || v->empty()) return bad(file, el.source(), at, "expected a non-empty string");
    if (std::string why = check(*v); !why.empty()) return bad(file, el.source(), at, why);
    out.insert(*v);
  }
  return out;
}

std::string knownEvents() {
  std::string s;
  for (const auto& [e, name] : kEventNames) s += std::string(s.empty() ? "" : ", ") + name;
  return s;
}

bool validName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

Status readString(const fs::path& file, const toml::table& t, const char* key, const std::string& prefix,
                  std::string& out) {
  const toml::node* n = t.get(key);
  if (!n) return {};
  auto v = n->value<std::string>();
  if (!v) return bad(file, n->source(), prefix + key, "expected a string");
  out = *v;
  return {};
}

Status readSecret(const fs::path& file, const fs::path& dir, const toml::table& t, const std::string& prefix,
                  NotifyTarget& target) {
  std::string secret_file;
  FLOTILLA_TRY(readString(file, t, "secret_file", prefix, secret_file));
  if (secret_file.empty()) return {};
  const fs::path path = fs::path(secret_file).is_absolute() ? fs::path(secret_file) : dir / secret_file;
  auto text = common::readSecretFile(path);  // refused unless readable by its owner only
  if (!text) return bad(file, t.get("secret_file")->source(), prefix + "secret_file", text.error().message);
  std::string secret = *text;
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.size() < 16)
    return bad(file, t.get("secret_file")->source(), prefix + "secret_file",
               path.string() + " holds fewer than 16 bytes: too short for a signing secret");
  target.secret = std::move(secret);
  return {};
}

Status readLimits(const fs::path& file, const toml::table& t, const std::string& prefix, NotifyTarget& target) {
  std::string timeout;
  FLOTILLA_TRY(readString(file, t, "timeout", prefix, timeout));
  if (!timeout.empty()) {
    auto d = common::parseDuration(timeout);
    if (!d || d->count() <= 0)
      return bad(file, t.get("timeout")->source(), prefix + "timeout", "expected a positive duration such as \"10s\"");
    target.timeout = *d;
  }
  if (const toml::node* q = t.get("queue")) {
    auto n = q->value<std::int64_t>();
    if (!n || *n < 1 || *n > static_cast<std::int64_t>(kMaxQueue))
      return bad(file, q->source(), prefix + "queue", "expected a number of events from 1 to 1000000");
    target.queue = static_cast<std::size_t>(*n);
  }
  return {};
}

Status readEvents(const fs::path& file, const toml::table& t, const std::string& prefix, NotifyTarget& target) {
  const toml::node* n = t.get("events");
  if (!n) return bad(file, t.source(), prefix + "events", "missing: list what to send (" + knownEvents() + ")");
  auto names = readNames(file, *n, prefix + "events", [](const std::string& v) {
    return notifyEventFromName(v) ? std::string() : "unknown event '" + v + "' (known: " + knownEvents() + ")";
  });
  if (!names) return names.error();
  if (names->empty()) return bad(file, n->source(), prefix + "events", "is empty: list what to send");
  for (const auto& name : *names) target.events.insert(*notifyEventFromName(name));
  return {};
}

Result<NotifyTarget> readTarget(const fs::path& file, const fs::path& dir, const toml::table& t,
                                const std::string& prefix) {
  for (auto& [k, v] : t) {
    const std::string key(k.str());
    if (key != "name" && key != "url" && key != "events" && key != "apps" && key != "secret_file" && key != "format" &&
        key != "timeout" && key != "queue")
      return bad(file, k.source(), prefix + key, "unknown key");
  }
  NotifyTarget target;
  FLOTILLA_TRY(readString(file, t, "url", prefix, target.url));
  if (!t.get("url")) return bad(file, t.source(), prefix + "url", "missing: the webhook's http:// or https:// URL");
  if (urlOrigin(target.url).empty())
    return bad(file, t.get("url")->source(), prefix + "url", "expected an http:// or https:// URL with a host");
  FLOTILLA_TRY(readEvents(file, t, prefix, target));
  if (const toml::node* apps = t.get("apps")) {
    auto names = readNames(file, *apps, prefix + "apps", [](const std::string&) { return std::string(); });
    if (!names) return names.error();
    target.apps = std::move(*names);
  }
  std::string format = "json";
  FLOTILLA_TRY(readString(file, t, "format", prefix, format));
  if (format == "slack")
    target.format = NotifyFormat::kSlack;
  else if (format != "json")
    return bad(file, t.get("format")->source(), prefix + "format", "expected \"json\" or \"slack\"");
  FLOTILLA_TRY(readSecret(file, dir, t, prefix, target));
  FLOTILLA_TRY(readLimits(file, t, prefix, target));
  FLOTILLA_TRY(readString(file, t, "name", prefix, target.name));
  if (target.name.empty()) {
    const std::string origin = urlOrigin(target.url);
    for (char c : origin.substr(origin.find("//") + 2))
      target.name += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ? c : '_';
  } else if (!validName(target.name)) {
    return bad(file, t.get("name")->source(), prefix + "name", "expected 1 to 64 letters, digits, '-', '_' or '.'");
  }
  return target;
}

}  // namespace

const char* toString(NotifyEvent e) {
  for (const auto& [k, name] : kEventNames)
    if (k == e) return name;
  return "?";
}

std::optional<NotifyEvent> notifyEventFromName(std::string_view name) {
  for (const auto& [k, n] : kEventNames)
    if (name == n) return k;
  return std::nullopt;
}

std::string urlOrigin(const std::string& url) {
  std::size_t scheme_end = 0;
  if (url.rfind("http://", 0) == 0)
    scheme_end = 7;
  else if (url.rfind("https://", 0) == 0)
    scheme_end = 8;
  else
    return "";
  const std::size_t host_end = url.find_first_of("/?#", scheme_end);
  std::string origin = url.substr(0, host_end);
  if (origin.size() == scheme_end || origin.find_first_of(" @") != std::string::npos) return "";
  return origin;
}

Status readNotifyTargets(const fs::path& file, const fs::path& dir, const toml::table& root,
                         std::vector<NotifyTarget>& out) {
  const toml::node* n = root.get("notify");
  if (!n) return {};
  const toml::array* arr = n->as_array();
  if (!arr || !arr->is_array_of_tables()) return bad(file, n->source(), "notify", "expected [[notify]] tables");
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::table& t = *(*arr)[i].as_table();
    const std::string prefix = "notify[" + std::to_string(i) + "].";
    auto target = readTarget(file, dir, t, prefix);
    if (!target) return target.error();
    if (auto [it, fresh] = seen.emplace(target->name, i); !fresh)
      return bad(file, t.source(), prefix + "name",
                 "'" + target->name + "' is also the name of notify[" + std::to_string(it->second) +
                     "]: give each target its own name");
    out.push_back(std::move(*target));
  }
  return {};
}

}  // namespace flotilla::coordinator
