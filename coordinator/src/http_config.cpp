// coordinator.toml's `http` key: where /metrics, /healthz and the dashboard are
// served and who may read them (docs/dashboard.md "Configuration").
#include "http_config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <sstream>

#include "flotilla/common/fs.h"

namespace flotilla::coordinator {
namespace {

namespace fs = std::filesystem;

// The shortest token accepted: 128 bits as hex.
constexpr std::size_t kMinTokenChars = 32;

Error bad(const fs::path& file, const toml::source_region& r, const std::string& key, const std::string& what) {
  std::ostringstream os;
  os << file.string() << ":" << r.begin.line << ":" << r.begin.column << ": " << key << ": " << what;
  return Error(Errc::kInvalidArgument, os.str());
}

Status readToken(const fs::path& file, const toml::node& at, HttpConfig& out) {
  auto text = common::readFile(out.token_file);
  if (!text) return bad(file, at.source(), "http.token_file", out.token_file.string() + ": " + text.error().message);
  std::string token = *text;
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.size() < kMinTokenChars || token.find_first_of(" \t\r\n") != std::string::npos)
    return bad(file, at.source(), "http.token_file",
               out.token_file.string() + ": expected one token of at least " + std::to_string(kMinTokenChars) +
                   " characters without spaces (e.g. `openssl rand -hex 32`)");
  out.token = std::move(token);
  return {};
}

Status readTable(const fs::path& file, const toml::table& t, HttpConfig& out) {
  for (auto& [k, v] : t) {
    const std::string key(k.str());
    if (key != "listen" && key != "token_file" && key != "metrics_public" && key != "dashboard")
      return bad(file, k.source(), "http." + key, "unknown key");
  }
  auto str = [&](const char* key, std::string& into) -> Status {
    const toml::node* n = t.get(key);
    if (!n) return {};
    auto v = n->value<std::string>();
    if (!v) return bad(file, n->source(), std::string("http.") + key, "expected a string");
    into = *v;
    return {};
  };
  auto flag = [&](const char* key, std::optional<bool>& into) -> Status {
    const toml::node* n = t.get(key);
    if (!n) return {};
    auto v = n->value<bool>();
    if (!v || !n->is_boolean()) return bad(file, n->source(), std::string("http.") + key, "expected true or false");
    into = *v;
    return {};
  };
  FLOTILLA_TRY(str("listen", out.listen));
  std::string token_file;
  FLOTILLA_TRY(str("token_file", token_file));
  std::optional<bool> metrics_public, dashboard;
  FLOTILLA_TRY(flag("metrics_public", metrics_public));
  FLOTILLA_TRY(flag("dashboard", dashboard));
  out.metrics_public = metrics_public.value_or(false);
  if (!token_file.empty()) {
    out.token_file = fs::path(token_file).is_absolute() ? fs::path(token_file) : file.parent_path() / token_file;
    FLOTILLA_TRY(readToken(file, *t.get("token_file"), out));
  }
  if (out.listen.empty()) return {};
  const std::string host = out.listen.substr(0, out.listen.rfind(':'));
  const bool guarded = !out.token.empty() || isLoopbackHost(host);
  if (dashboard.value_or(false) && !guarded)
    return bad(file, t.get("dashboard")->source(), "http.token_file",
               "the dashboard on the non-loopback address " + out.listen +
                   " needs a token (http.token_file), or set http.dashboard = false");
  out.dashboard = dashboard.value_or(guarded);
  return {};
}

}  // namespace

bool isLoopbackHost(const std::string& host_in) {
  std::string host = host_in;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return std::tolower(c); });
  if (host == "localhost") return true;
  // Addresses only, parsed whole: a name such as 127.example.com is anyone's name
  // pointed wherever its owner likes (DNS rebinding), not this machine.
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) return std::memcmp(&v6, &in6addr_loopback, sizeof v6) == 0;
  return false;
}

Status readHttp(const fs::path& file, const toml::table& root, HttpConfig& out) {
  const toml::node* n = root.get("http");
  if (!n) return {};
  if (const toml::table* t = n->as_table()) return readTable(file, *t, out);
  auto v = n->value<std::string>();
  if (!v || !n->is_string()) return bad(file, n->source(), "http", "expected \"HOST:PORT\" or an [http] table");
  out.listen = *v;
  // The shorthand serves the dashboard only where no token is needed: loopback.
  out.dashboard = !out.listen.empty() && isLoopbackHost(out.listen.substr(0, out.listen.rfind(':')));
  return {};
}

}  // namespace flotilla::coordinator
