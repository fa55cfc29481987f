#include "flotilla/coordinator/init_from.h"

#include <sys/stat.h>

#include <toml++/toml.h>

#include <algorithm>
#include <sstream>
#include <vector>

#include "flotilla/common/crypto.h"
#include "flotilla/common/fs.h"
#include "flotilla/coordinator/config.h"

namespace flotilla::coordinator {
namespace {

namespace fs = std::filesystem;

// A file coordinator.toml names relative to its directory, to copy along.
struct NamedFile {
  fs::path source;       // where the first coordinator reads it
  std::string relative;  // where DIR2's coordinator.toml names it
  bool secret = false;   // copied 0600 whatever its mode
};

// The store password of DIR2 when DIR names one by an absolute path.
constexpr const char* kCopiedPassword = "keys/store.password";

bool isFileKey(std::string_view key) {
  return key == "ci_keys" || (key.size() > 5 && key.substr(key.size() - 5) == "_file");
}

bool staysInside(const fs::path& rel) {
  return rel.is_relative() && std::none_of(rel.begin(), rel.end(), [](const fs::path& p) { return p == ".."; });
}

// Every relative path under a *_file key or in ci_keys, anywhere in the table.
// One that climbs out of the directory ("../x") is rewritten absolute instead:
// copying it could land on the original.
void collectFiles(toml::node& node, const fs::path& from_dir, std::string_view key, std::vector<NamedFile>& out) {
  if (toml::table* t = node.as_table()) {
    for (auto& [k, v] : *t) collectFiles(v, from_dir, k.str(), out);
    return;
  }
  if (toml::array* arr = node.as_array()) {
    for (auto& el : *arr) collectFiles(el, from_dir, key, out);
    return;
  }
  auto* s = node.as_string();
  if (!s || !isFileKey(key) || s->get().empty()) return;
  const bool password = key == "password_file";
  if (password && fs::path(s->get()).is_absolute()) {
    // Copied whatever its path: the second coordinator must not depend on the first's files.
    out.push_back({s->get(), kCopiedPassword, true});
    *s = kCopiedPassword;
    return;
  }
  if (fs::path(s->get()).is_absolute()) return;
  if (!staysInside(s->get())) {
    *s = (from_dir / s->get()).lexically_normal().string();
    return;
  }
  out.push_back({from_dir / s->get(), s->get(), password});
}

Status copyNamedFile(const fs::path& dir, const NamedFile& f) {
  const fs::path& src = f.source;
  const fs::path dst = dir / f.relative;
  auto text = common::readFile(src);
  if (!text) return text.error().context(src.string() + " (named in coordinator.toml)");
  struct stat st {};
  const mode_t mode = f.secret ? 0600 : (::stat(src.c_str(), &st) == 0 ? (st.st_mode & 0777) : 0600);
  FLOTILLA_TRY(common::ensureDir(dst.parent_path(), 0700));
  return common::atomicWriteFile(dst, *text, mode);
}

Status checkTarget(const fs::path& dir, const fs::path& from_dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && fs::equivalent(dir, from_dir, ec))
    return Error(Errc::kInvalidArgument, dir.string() + " is the first coordinator's directory; give a new one");
  if (!fs::exists(dir, ec)) return {};
  if (!fs::is_directory(dir, ec))
    return Error(Errc::kAlreadyExists, dir.string() + " exists and is not a directory; give a new or empty directory");
  if (!fs::is_empty(dir, ec))
    return Error(Errc::kAlreadyExists,
                 dir.string() +
                     " exists and is not empty; refusing to write a coordinator over it (give a new or "
                     "empty directory)");
  return {};
}

// coordinator.toml for DIR2: DIR's, with DIR2's own addresses and files.
std::string secondConfig(toml::table root, const InitFromOptions& opts, const fs::path& dir) {
  auto set = [&root](const char* section, const char* key, std::string value) {
    if (!root.get(section) || !root.get(section)->is_table()) root.insert_or_assign(section, toml::table{});
    root[section].as_table()->insert_or_assign(key, std::move(value));
  };
  set("agents", "listen", opts.listen);
  set("control", "endpoint", opts.control.empty() ? "ipc://" + (dir / "control.sock").string() : opts.control);
  set("store", "file", "flotilla.db");
  set("store", "artifacts", "artifacts");
  set("keys", "plan_secret", "keys/plan.key");
  set("keys", "plan_public", "keys/plan.pub");
  set("keys", "curve_secret", "keys/curve.key");
  set("keys", "curve_public", "keys/curve.pub");
  if (toml::table* http = root["http"].as_table(); http && !opts.http.empty())
    http->insert_or_assign("listen", opts.http);
  else
    root.insert_or_assign("http", opts.http);
  std::ostringstream os;
  os << "# Flotilla coordinator made with `flotilla-coordinator init --from`: the keys, store and settings\n"
     << "# of another coordinator, with its own addresses (docs/ha.md). Paths are relative to this file's\n"
     << "# directory.\n"
     << root << "\n";
  return os.str();
}

Status writeKeys(const CoordinatorConfig& first, const fs::path& dir) {
  FLOTILLA_TRY(common::ensureDir(dir / "keys", 0700));
  FLOTILLA_TRY(common::writeSecretFile(dir / "keys/plan.key", common::toHex(first.plan_key.secret_key) + "\n"));
  FLOTILLA_TRY(common::atomicWriteFile(dir / "keys/plan.pub", common::toHex(first.plan_key.public_key) + "\n"));
  FLOTILLA_TRY(common::writeSecretFile(dir / "keys/curve.key", common::toHex(first.curve_key.secret_key) + "\n"));
  FLOTILLA_TRY(common::atomicWriteFile(dir / "keys/curve.pub", common::toHex(first.curve_key.public_key) + "\n"));
  // Agents that pinned an older plan key follow the chain to the current one.
  if (fs::exists(first.dir / "keys/rotations")) {
    auto chain = common::readFile(first.dir / "keys/rotations");
    if (!chain) return chain.error();
    FLOTILLA_TRY(common::atomicWriteFile(dir / "keys/rotations", *chain, 0644));
  }
  return {};
}

// DIR2/join.toml: DIR's, with DIR2's endpoint added to the list.
Status writeJoin(const fs::path& from_dir, const fs::path& dir, const std::string& endpoint) {
  const fs::path first_join = from_dir / "join.toml";
  if (!fs::exists(first_join)) return {};
  toml::table join;
  try {
    join = toml::parse_file(first_join.string());
  } catch (const toml::parse_error& e) {
    return Error(Errc::kInvalidArgument, first_join.string() + ": " + std::string(e.description()));
  }
  toml::array endpoints;
  if (const toml::array* arr = join["coordinator"].as_array())
    endpoints = *arr;
  else if (auto one = join["coordinator"].value<std::string>())
    endpoints.push_back(*one);
  const bool listed = std::any_of(endpoints.begin(), endpoints.end(),
                                  [&](const toml::node& n) { return n.value<std::string>() == endpoint; });
  if (!listed) endpoints.push_back(endpoint);
  join.insert_or_assign("coordinator", endpoints);
  std::ostringstream os;
  os << "# Give this file to `flotilla-agent init --join`: agents try these coordinators in order and follow\n"
     << "# the leader (docs/ha.md). It holds a join token: keep it secret.\n"
     << join << "\n";
  return common::writeSecretFile(dir / "join.toml", os.str());
}

}  // namespace

Status initCoordinatorFrom(const InitFromOptions& opts) {
  const fs::path from_file =
      fs::absolute(fs::is_regular_file(opts.from) ? opts.from : opts.from / "coordinator.toml").lexically_normal();
  const fs::path from_dir = from_file.parent_path();
  const fs::path dir = fs::absolute(opts.dir).lexically_normal();
  if (!fs::exists(from_file))
    return Error(Errc::kNotFound, "--from " + opts.from.string() + ": no " + from_file.string() +
                                      " (give the directory of the coordinator to copy)");
  auto first = loadCoordinatorConfig(from_file);
  if (!first) return first.error().context("--from");
  if (first->store_url.empty())
    return Error(Errc::kInvalidArgument,
                 "--from " + from_file.string() +
                     ": has no store.url: its record is in a SQLite file that only it can use, and a second "
                     "coordinator on a file of its own would not share the rollouts, agents and events; move the "
                     "first coordinator to PostgreSQL (store.url, docs/postgresql.md), then make the second");
  FLOTILLA_TRY(checkTarget(dir, from_dir));
  toml::table root;
  try {
    root = toml::parse_file(from_file.string());
  } catch (const toml::parse_error& e) {
    return Error(Errc::kInvalidArgument, from_file.string() + ": " + std::string(e.description()));
  }
  std::vector<NamedFile> files;
  collectFiles(root, from_dir, "", files);

  FLOTILLA_TRY(common::ensureDir(dir, 0700));
  FLOTILLA_TRY(writeKeys(*first, dir));
  for (const auto& f : files) FLOTILLA_TRY(copyNamedFile(dir, f));
  const fs::path config_file = dir / "coordinator.toml";
  FLOTILLA_TRY(common::atomicWriteFile(config_file, secondConfig(std::move(root), opts, dir), 0640));
  auto second = loadCoordinatorConfig(config_file);
  if (!second) return second.error();
  return writeJoin(from_dir, dir, opts.advertise.empty() ? advertisedEndpoint(opts.listen) : opts.advertise);
}

}  // namespace flotilla::coordinator
