#pragma once
// flagd's custom targeting operators, as @openfeature/flagd-core implements them. Each takes
// its arguments already evaluated and answers null where flagd-core answers null (bad
// arguments are not errors there: the rule falls through to the default variant).

#include <nlohmann/json.hpp>

namespace flotilla::flags {

using Json = nlohmann::json;

// ["bucketBy"?, [variant, weight]...]: the variant whose weight range holds
// (murmur3(bucketBy) * totalWeight) >> 32; bucketBy defaults to $flagd.flagKey + targetingKey.
Json fractionalOperator(const Json& args, const Json& context);
// [version, operator, version] with operator one of = != < <= > >= ^ ~.
Json semVerOperator(const Json& args);
// [text, prefix] / [text, suffix], both strings.
Json startsWithOperator(const Json& args);
Json endsWithOperator(const Json& args);

}  // namespace flotilla::flags
