#include "flagd_operators.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "flotilla/flags/js_value.h"
#include "flotilla/flags/murmur3.h"
#include "flotilla/flags/sem_ver.h"

namespace flotilla::flags {
namespace {

// flagd-core refuses a bucket list whose weights sum beyond a signed 32-bit integer.
constexpr double kMaxTotalWeight = 2147483647.0;

struct Bucket {
  Json variant;
  std::uint64_t weight = 1;
};

bool bucketsFrom(const Json& args, size_t first, std::vector<Bucket>& buckets, double& total) {
  for (size_t i = first; i < args.size(); ++i) {
    const Json& entry = args[i];
    if (!entry.is_array() || entry.empty() || entry.size() > 2) return false;
    Bucket bucket;
    if (entry[0].is_string() || entry[0].is_number() || entry[0].is_boolean()) {
      bucket.variant = entry[0];
    } else if (!entry[0].is_null()) {
      return false;
    }
    if (entry.size() == 2) {
      if (!entry[1].is_number()) return false;
      double weight = entry[1].get<double>();
      if (weight != std::trunc(weight)) return false;
      // A negative weight (a rollout computed below zero) counts as 0, as in flagd-core.
      if (weight > kMaxTotalWeight) weight = kMaxTotalWeight + 1;
      bucket.weight = weight < 0 ? 0 : static_cast<std::uint64_t>(weight);
    }
    total += static_cast<double>(bucket.weight);
    buckets.push_back(std::move(bucket));
  }
  return true;
}

Json compareStrings(const Json& args, bool prefix) {
  if (!args.is_array() || args.size() != 2 || !args[0].is_string() || !args[1].is_string()) return nullptr;
  const auto& text = args[0].get_ref<const std::string&>();
  const auto& part = args[1].get_ref<const std::string&>();
  if (part.size() > text.size()) return false;
  return prefix ? text.compare(0, part.size(), part) == 0
                : text.compare(text.size() - part.size(), part.size(), part) == 0;
}

}  // namespace

Json fractionalOperator(const Json& args, const Json& context) {
  if (!args.is_array() || args.empty()) return nullptr;
  auto flagd = context.find("$flagd");
  if (flagd == context.end() || !jsTruthy(*flagd)) return nullptr;
  std::string bucketBy;
  size_t first = 0;
  if (args[0].is_string()) {
    bucketBy = args[0].get<std::string>();
    first = 1;
  } else {
    auto key = context.find("targetingKey");
    if (key == context.end() || !jsTruthy(*key)) return nullptr;
    Json flagKey = flagd->is_object() && flagd->contains("flagKey") ? (*flagd)["flagKey"] : Json();
    bucketBy = (flagKey.is_null() ? std::string("undefined") : jsToString(flagKey)) + jsToString(*key);
  }
  std::vector<Bucket> buckets;
  double total = 0;
  if (!bucketsFrom(args, first, buckets, total) || total > kMaxTotalWeight) return nullptr;
  const std::uint64_t hash = murmur3Js(bucketBy);
  const std::uint64_t bucket = (hash * static_cast<std::uint64_t>(total)) >> 32;
  std::uint64_t sum = 0;
  for (const Bucket& entry : buckets) {
    sum += entry.weight;
    if (sum > bucket) return entry.variant;
  }
  return nullptr;
}

Json semVerOperator(const Json& args) {
  if (!args.is_array() || args.size() != 3) return nullptr;
  auto left = parseSemVer(jsToString(args[0]));
  auto right = parseSemVer(jsToString(args[2]));
  if (!left || !right) return nullptr;
  const std::string op = jsToString(args[1]);
  const int order = compareSemVer(*left, *right);
  if (op == "=") return order == 0;
  if (op == "!=") return order != 0;
  if (op == "<") return order < 0;
  if (op == "<=") return order <= 0;
  if (op == ">=") return order >= 0;
  if (op == ">") return order > 0;
  if (op == "^") return left->major == right->major;
  if (op == "~") return left->major == right->major && left->minor == right->minor;
  return nullptr;
}

Json startsWithOperator(const Json& args) { return compareStrings(args, true); }
Json endsWithOperator(const Json& args) { return compareStrings(args, false); }

}  // namespace flotilla::flags
