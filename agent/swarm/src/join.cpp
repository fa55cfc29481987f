#include "flotilla/swarm/join.h"

#include <sstream>

#include <toml++/toml.h>

namespace flotilla::swarm {
namespace {

std::string where(const std::filesystem::path& file, const toml::source_region& r) {
  std::ostringstream os;
  os << file.string() << ":" << r.begin.line << ":" << r.begin.column;
  return os.str();
}

Result<std::string> stringKey(const std::filesystem::path& file, const toml::table& t, const char* key, bool required) {
  const toml::node* n = t.get(key);
  if (!n) {
    if (required) return Error(Errc::kInvalidArgument, file.string() + ": " + key + ": missing");
    return std::string();
  }
  auto v = n->value<std::string>();
  if (!v) return Error(Errc::kInvalidArgument, where(file, n->source()) + ": " + key + ": expected a string");
  return *v;
}

Result<common::PublicKey> keyKey(const std::filesystem::path& file, const toml::table& t, const char* key) {
  auto s = stringKey(file, t, key, true);
  if (!s) return s.error();
  auto k = common::publicKeyFromHex(*s);
  if (!k)
    return Error(Errc::kInvalidArgument,
                 where(file, t.get(key)->source()) + ": " + key + ": expected 64 hex characters");
  return *k;
}

}  // namespace

Result<JoinInfo> loadJoinFile(const std::filesystem::path& file) {
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    return Error(Errc::kInvalidArgument, where(file, e.source()) + ": " + std::string(e.description()));
  }
  JoinInfo j;
  if (const toml::array* list = root["coordinator"].as_array()) {
    for (const auto& el : *list) {
      auto e = el.value<std::string>();
      if (!e) return Error(Errc::kInvalidArgument, where(file, el.source()) + ": coordinator: expected a string");
      j.endpoints.push_back(*e);
    }
    if (j.endpoints.empty())
      return Error(Errc::kInvalidArgument, where(file, list->source()) + ": coordinator: is empty");
  } else {
    auto endpoint = stringKey(file, root, "coordinator", true);
    if (!endpoint) return endpoint.error();
    j.endpoints.push_back(*endpoint);
  }
  auto ckey = keyKey(file, root, "coordinator_key");
  if (!ckey) return ckey.error();
  j.coordinator_key = *ckey;
  auto pkey = keyKey(file, root, "plan_key");
  if (!pkey) return pkey.error();
  j.plan_key = *pkey;
  auto token = stringKey(file, root, "token", false);
  if (!token) return token.error();
  j.token = *token;
  return j;
}

}  // namespace flotilla::swarm
