#pragma once
// JavaScript's view of JSON values, as flagd's own evaluator (@openfeature/flagd-core, which runs
// json-logic-engine) sees them: truthiness, ToNumber, ToString, loose and strict equality and
// the relational operators. Targeting rules written for flagd expect these coercions, so the
// JSONLogic operators (json_logic.h) use them instead of C++'s. Pure functions; any thread.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace flotilla::flags {

using Json = nlohmann::json;

// json-logic-engine's truthiness: null, false, 0, NaN, "" and also [] and {} are false.
bool jsTruthy(const Json& value);

// ECMAScript ToNumber for primitives (null 0, booleans 0/1, strings parsed as JS does: trimmed,
// "" is 0, 0x/0o/0b prefixes, Infinity; anything else NaN). Arrays and objects give NaN.
double jsToNumber(const Json& value);
double jsStringToNumber(std::string_view text);

// ECMAScript ToString: numbers as JS prints them (1, 0.5, 1e+21), arrays joined by ",",
// objects "[object Object]".
std::string jsToString(const Json& value);
std::string jsNumberToString(double number);

// A double as JSON: an integer when it is one (and fits), so results compare and print as JS does.
Json jsNumber(double number);

// `===` on JSON values: same type and value; arrays and objects are never identical here
// (JS compares them by reference and targeting never builds the same one twice).
bool jsStrictEquals(const Json& a, const Json& b);
// `==` between primitives (null, booleans, numbers, strings).
bool jsLooseEquals(const Json& a, const Json& b);

// UTF-8 to the UTF-16 code units JS strings are made of (invalid bytes become U+FFFD), and back.
std::u16string jsUtf16(std::string_view utf8);
std::string jsUtf8(std::u16string_view utf16);

// Whether arrays and objects nest more than `limit` levels; recurses at most `limit` deep.
bool jsonDeeperThan(const Json& value, int limit);
// The same for JSON text, without parsing it (strings are skipped): run before parsing untrusted
// text, since parsed values are copied and destroyed recursively.
bool jsonTextDeeperThan(std::string_view text, int limit);

enum class Relation { kLess, kLessEqual, kGreater, kGreaterEqual };
// `<`, `<=`, `>`, `>=` between primitives: strings compare as strings, otherwise as numbers.
bool jsRelate(Relation relation, const Json& a, const Json& b);

}  // namespace flotilla::flags
