#!/usr/bin/env python3
"""Writes the inputs of vectors.json; `node evaluate.js vectors.json --record` then fills in what
flagd-core answers. Run both after changing a vector, and review the diff of vectors.json."""
import json
import os
import random

V = lambda name, default=None: {"var": name} if default is None else {"var": [name, default]}

ctx = {
    "targetingKey": "user-42",
    "email": "ada@example.com",
    "name": "Ada",
    "age": 36,
    "score": 7.5,
    "zero": 0,
    "neg": -3,
    "numstr": "12",
    "empty": "",
    "nothing": None,
    "yes": True,
    "no": False,
    "tags": ["beta", "eu", 3],
    "emptylist": [],
    "emptyobj": {},
    "user": {"plan": "pro", "org": {"id": "o-1", "size": 250}},
    "dotted.key": "escaped",
    "version": "1.4.2",
    "prerelease": "2.0.0-rc.1",
    "unicode": "héllo wörld",
    "list2": [[1, 2], 3],
}

logic = []


def L(name, rule, context="main"):
    logic.append({"name": name, "rule": rule, "context": context})


# var
L("var simple", {"var": "name"})
L("var number", {"var": "age"})
L("var dotted path", {"var": "user.org.id"})
L("var missing with default", {"var": ["user.org.missing", "fallback"]})
L("var missing no default", {"cat": ["<", {"var": "absent"}, ">"]})
L("var null value takes default", {"var": ["nothing", "dflt"]})
L("var array index", {"var": "tags.1"})
L("var escaped dot", {"var": "dotted\\.key"})
L("var flagKey", {"var": "$flagd.flagKey"})
L("var targetingKey", {"var": "targetingKey"})
L("var timestamp is recent", {"if": [{"<": [1700000000, {"var": "$flagd.timestamp"}, 4000000000]}, "recent", "stale"]})
L("var default from expression", {"var": ["absent", {"cat": ["d", "e"]}]})
L("var whole context has flagKey", {"var": ["", "x"]} if False else {"in": ["probe", {"cat": [{"var": "$flagd.flagKey"}]}]})
L("var of list value", {"var": "tags"})
# if
L("if then", {"if": [{"var": "yes"}, "then", "else"]})
L("if else", {"if": [{"var": "no"}, "then", "else"]})
L("if else-if chain", {"if": [{"var": "no"}, "a", {"var": "zero"}, "b", {"var": "age"}, "c", "d"]})
L("if no else gives null", {"if": [{"var": "no"}, "a"]})
L("if one argument", {"if": [{"cat": ["only"]}]})
L("if empty", {"if": []})
L("if empty list falsy", {"if": [{"var": "emptylist"}, "t", "f"]})
L("if empty object falsy", {"if": [{"var": "emptyobj"}, "t", "f"]})
L("if empty string falsy", {"if": [{"var": "empty"}, "t", "f"]})
L("if string truthy", {"if": [{"var": "name"}, "t", "f"]})
L("if nonempty list truthy", {"if": [{"var": "tags"}, "t", "f"]})
# equality
for op in ["==", "===", "!=", "!=="]:
    for a, b, label in [
        (V("age"), 36, "number number"),
        (V("numstr"), 12, "numeric string number"),
        (V("name"), "Ada", "string string"),
        (V("name"), "ada", "string other case"),
        (V("nothing"), None, "null null"),
        (V("nothing"), 0, "null zero"),
        (V("zero"), None, "zero null"),
        (V("no"), 0, "false zero"),
        (V("yes"), 1, "true one"),
        (V("yes"), "true", "true string"),
        (V("empty"), 0, "empty string zero"),
        (V("name"), 1, "string number"),
        (V("tags"), "beta", "array string"),
        (V("score"), 7.5, "float"),
    ]:
        L(f"{op} {label}", {op: [a, b]})
# relational
for op in ["<", "<=", ">", ">="]:
    for args, label in [
        ([V("age"), 40], "number"),
        ([V("age"), 36], "equal"),
        ([V("numstr"), 9], "numeric string vs number"),
        ([V("numstr"), "9"], "strings compare as strings"),
        ([V("name"), "Bob"], "string string"),
        ([V("nothing"), 1], "null number"),
        ([V("nothing"), "a"], "null string"),
        ([V("yes"), 0], "bool number"),
        ([V("name"), 3], "nan string"),
        ([V("tags"), 3], "array"),
        ([30, V("age"), 40], "between inside"),
        ([36, V("age"), 40], "between at low edge"),
        ([37, V("age"), 40], "between below"),
        ([30, V("age"), 36], "between at high edge"),
        ([1, 2, 3, 4], "four args"),
    ]:
        L(f"{op} {label}", {op: args})
# not
L("! true", {"!": [V("yes")]})
L("! unary object", {"!": V("emptylist")})
L("! empty string", {"!": V("empty")})
L("! list arg", {"!": [V("tags")]})
L("!! value", {"!!": [V("name")]})
L("!! zero", {"!!": [V("zero")]})
L("!! empty list", {"!!": V("emptylist")})
L("!! missing", {"!!": [V("absent")]})
# and / or
L("and all true returns last", {"and": [V("yes"), V("name"), V("age")]})
L("and first falsy returned", {"and": [V("age"), V("zero"), V("name")]})
L("and empty", {"and": []})
L("or first truthy", {"or": [V("zero"), V("empty"), V("name")]})
L("or all falsy returns last", {"or": [V("zero"), V("no"), V("empty")]})
L("or short-circuits errors", {"or": [V("yes"), {"/": [1, V("zero")]}]})
L("and short-circuits errors", {"and": [V("no"), {"/": [1, V("zero")]}]})
# in
L("in array", {"in": ["beta", V("tags")]})
L("in array absent", {"in": ["gamma", V("tags")]})
L("in array number strict", {"in": ["3", V("tags")]})
L("in string", {"in": ["example", V("email")]})
L("in string absent", {"in": ["nope", V("email")]})
L("in string number needle", {"in": [4, {"cat": ["a4b"]}]})
L("in missing haystack", {"in": ["x", V("absent")]})
L("in empty string haystack", {"in": ["", V("empty")]})
L("in number haystack errors", {"in": ["1", V("age")]})
L("in object haystack errors", {"in": ["plan", V("user")]})
# cat
L("cat strings", {"cat": [V("name"), " <", V("email"), ">"]})
L("cat numbers", {"cat": [V("age"), "-", V("score"), "-", 1.5e-7, "-", 1e21, "-", 1e-6, "-", 123456789012, "-", -0.5]})
L("cat booleans", {"cat": [V("yes"), V("no")]})
L("cat null from var", {"cat": ["a", V("absent"), "b"]})
L("cat constant null skipped", {"cat": ["a", None, "b"]})
L("cat array", {"cat": [V("tags"), "|", V("list2")]})
L("cat object", {"cat": [V("user")]})
L("cat single string", {"cat": "alone"})
L("cat unicode", {"cat": [V("unicode"), "!"]})
# substr
for args, label in [
    ([V("email"), 4], "from"),
    ([V("email"), 0, 3], "from length"),
    ([V("email"), -11], "negative from"),
    ([V("email"), 4, -4], "negative length"),
    ([V("email"), -11, -4], "both negative"),
    ([V("email"), 100], "past end"),
    ([V("email"), 2, 0], "zero length"),
    ([V("unicode"), 1, 4], "unicode"),
    ([V("email"), "2", "3"], "string indexes"),
    ([V("age"), 1], "number errors"),
]:
    L(f"substr {label}", {"substr": args})
# arithmetic
for op in ["+", "-", "*", "/", "%"]:
    for args, label in [
        ([V("age"), 4], "numbers"),
        ([V("numstr"), 3], "numeric string"),
        ([V("score"), 2], "float"),
        ([V("age"), V("nothing")], "null operand"),
        ([V("age"), V("yes")], "bool operand"),
        ([V("age"), V("name")], "nan operand"),
        ([V("age"), V("tags")], "array operand"),
        ([V("age"), V("zero")], "zero second"),
        ([V("age"), 4, 2], "three"),
        ([V("neg")], "one"),
    ]:
        L(f"{op} {label}", {op: args})
L("+ no args", {"+": []})
L("* no args", {"*": []})
L("+ unary string", {"+": V("numstr")})
L("- unary", {"-": V("age")})
L("+ over list value", {"+": V("emptylist")})
L("% negative", {"%": [V("neg"), 2]})
L("/ fraction", {"/": [1, 3, V("age")]})
L("literal divide by zero is a parse error", {"/": [V("age"), 0]})
L("literal nan string is a parse error", {"+": [V("age"), "abc"]})
L("literal array operand is a parse error", {"*": [V("age"), [1]]})
# min / max
for op in ["min", "max"]:
    L(f"{op} numbers", {op: [V("age"), 3, V("score"), V("neg")]})
    L(f"{op} single", {op: [V("age")]})
    L(f"{op} empty errors", {op: []})
    L(f"{op} string errors", {op: [V("age"), V("numstr")]})
    L(f"{op} null errors", {op: [V("age"), V("nothing")]})
# merge
L("merge lists", {"cat": [{"merge": [V("tags"), ["x"], "y", V("list2")]}]})
L("merge in", {"in": ["x", {"merge": [V("tags"), ["x"]]}]})
L("merge empty", {"cat": [{"merge": []}, "|"]})
# missing / missing_some
L("missing none", {"cat": [{"missing": ["name", "email"]}, "|"]})
L("missing some", {"cat": [{"missing": ["name", "absent", "user.org.id", "user.nope", "nothing"]}, "|"]})
L("missing under falsy parent", {"cat": [{"missing": ["zero.x", "empty.y"]}, "|"]})
L("missing as condition", {"if": [{"missing": ["absent"]}, "incomplete", "complete"]})
L("missing_some satisfied", {"missing_some": [1, ["absent", "name"]]})
L("missing_some unsatisfied", {"missing_some": [2, ["absent", "name", "other"]]})
L("missing_some zero", {"missing_some": [0, ["absent"]]})
L("missing_some as condition", {"if": [{"missing_some": [2, ["absent", "name", "other"]]}, "incomplete", "complete"]})
L("missing_some satisfied as condition", {"if": [{"missing_some": [1, ["absent", "name"]]}, "incomplete", "complete"]})
# starts_with / ends_with
for op in ["starts_with", "ends_with"]:
    L(f"{op} match", {op: [V("email"), "ada@" if op == "starts_with" else "example.com"]})
    L(f"{op} no match", {op: [V("email"), "bob"]})
    L(f"{op} empty affix", {op: [V("email"), ""]})
    L(f"{op} longer affix", {op: [V("name"), "Ada Lovelace"]})
    L(f"{op} non-string gives null", {op: [V("age"), "3"]})
    L(f"{op} wrong arity gives null", {op: [V("email")]})
    L(f"{op} missing var gives null", {op: [V("absent"), "x"]})
# sem_ver
for op, right in [("=", "1.4.2"), ("!=", "1.4.2"), ("<", "1.5.0"), ("<=", "1.4.2"), (">", "1.4.10"), (">=", "1.4.2"),
                  ("^", "1.9.0"), ("^", "2.0.0"), ("~", "1.4.9"), ("~", "1.5.0")]:
    L(f"sem_ver {op} {right}", {"sem_ver": [V("version"), op, right]})
for left, op, right, label in [
    ("v1.4.2", "=", "1.4.2", "v prefix"),
    ("V1.4.2", "=", "1.4.2", "V prefix"),
    ("1", "=", "1.0.0", "partial major"),
    ("1.4", "<", "1.4.1", "partial minor"),
    ("2.0.0-rc.1", "<", "2.0.0", "prerelease below release"),
    ("2.0.0-rc.2", ">", "2.0.0-rc.10", "numeric prerelease"),
    ("2.0.0-alpha", "<", "2.0.0-alpha.1", "shorter prerelease"),
    ("2.0.0-alpha.beta", ">", "2.0.0-alpha.1", "alphanumeric above numeric"),
    ("1.0.0+build.1", "=", "1.0.0+build.2", "build ignored"),
    ("not-a-version", "=", "1.0.0", "invalid"),
    ("2.0.0.0", "=", "2.0.0", "four parts"),
    ("01.2.3", "=", "1.2.3", "leading zero"),
    ("1.2.3", "?", "1.2.3", "unknown operator"),
    (" 1.2.3 ", "=", "1.2.3", "spaces"),
]:
    L(f"sem_ver {label}", {"sem_ver": [left, op, right]})
L("sem_ver number operand", {"sem_ver": [1.4, "<", V("version")]})
L("sem_ver wrong arity", {"sem_ver": [V("version"), "="]})
L("sem_ver from context prerelease", {"sem_ver": [V("prerelease"), ">=", "2.0.0-beta"]})
# fractional
L("fractional default bucketing", {"fractional": [["a", 50], ["b", 50]]})
L("fractional explicit key", {"fractional": [V("email"), ["a", 25], ["b", 25], ["c", 50]]})
L("fractional cat key", {"fractional": [{"cat": [V("$flagd.flagKey"), V("email")]}, ["a", 50], ["b", 50]]})
L("fractional no weights", {"fractional": [V("email"), ["a"], ["b"], ["c"]]})
L("fractional odd weights", {"fractional": [V("email"), ["a", 3], ["b", 7], ["c", 11]]})
L("fractional zero weight", {"fractional": [V("email"), ["a", 0], ["b", 1]]})
L("fractional negative weight", {"fractional": [V("email"), ["a", -5], ["b", 1]]})
L("fractional all zero", {"fractional": [V("email"), ["a", 0], ["b", 0]]})
L("fractional float weight", {"fractional": [V("email"), ["a", 1.5], ["b", 1]]})
L("fractional too heavy", {"fractional": [V("email"), ["a", 2147483647], ["b", 1]]})
L("fractional boolean variant", {"fractional": [V("email"), [True, 1]]})
L("fractional number variant", {"fractional": [V("email"), [7, 1]]})
L("fractional null variant", {"fractional": [V("email"), [None, 1]]})
L("fractional variant from var", {"fractional": [V("email"), [V("name"), 1]]})
L("fractional object variant", {"fractional": [V("email"), [V("user"), 1]]})
L("fractional bad entry", {"fractional": [V("email"), "a"]})
L("fractional long entry", {"fractional": [V("email"), ["a", 1, 2]]})
L("fractional no targetingKey", {"fractional": [["a", 50], ["b", 50]]}, "no-targeting-key")
L("fractional numeric targetingKey", {"fractional": [["a", 50], ["b", 50]]}, "numeric-targeting-key")
L("fractional empty", {"fractional": []})
L("fractional key only", {"fractional": [V("email")]})
L("fractional unicode key", {"fractional": ["héllo wörld ✓ 𝄞", ["a", 1], ["b", 1], ["c", 1], ["d", 1]]})
for n in range(12):
    L(f"fractional key length {n}", {"fractional": ["k" * n, ["a", 1], ["b", 1], ["c", 1], ["d", 1], ["e", 1]]})
# composition and operators flagd rejects
L("nested composition", {"if": [{"and": [{"starts_with": [V("email"), "ada"]}, {">=": [V("age"), 18]},
                                         {"in": [V("user.plan"), ["pro", "team"]]}]},
                                {"fractional": [["gold", 10], ["silver", 90]]}, "none"]})
L("unknown operator is a parse error", {"frobnicate": [1]})
L("constant min of nothing is a parse error", {"if": [{"min": []}, "a", "b"]})
L("constant rule folded", {"if": [{"==": [1, "1"]}, {"cat": ["x", None]}, "b"]})

# Random rules (seeded, so the file is reproducible): they reach the corners of flagd-core's
# json-logic-engine (coercions, its compiled code's shared `prev`, folded constants) that
# hand-written vectors miss.
RANDOM_CTX = {"s": "abc", "n": 5, "f": 2.5, "z": 0, "e": "", "nul": None, "t": True, "fa": False,
              "arr": [1, "a", None], "obj": {"k": 1}, "v": "1.2.3", "neg": -7, "numstr": "42", "ws": " 3 ",
              "hex": "0x10", "big": 1e21, "sp": "ab.cd", "targetingKey": "tk-1"}
RANDOM_OPS = ["==", "===", "!=", "!==", "<", "<=", ">", ">=", "in", "+", "-", "*", "/", "%", "min", "max", "merge",
              "cat", "substr", "starts_with", "ends_with", "and", "or", "if", "!", "!!", "missing", "missing_some",
              "sem_ver", "fractional"]
rng = random.Random(20261201)


def random_literal():
    return rng.choice([0, 1, -1, 2, 3.5, "a", "abc", "", "0", "1", "1.2.3", "2.0.0-rc.1", "x.y", None, True, False,
                       [1, 2], ["a"], 1e-7, "ab", "  5  ", 10, 100])


def random_rule(depth):
    if depth <= 0 or rng.random() < 0.3:
        if rng.random() < 0.5:
            key = rng.choice(list(RANDOM_CTX) + ["missing.key", "obj.k", "arr.1"])
            return {"var": key} if rng.random() < 0.8 else {"var": [key, random_literal()]}
        return random_literal()
    op = rng.choice(RANDOM_OPS)
    n = rng.choice([1, 2, 2, 2, 3])
    if op == "missing":
        return {op: [rng.choice(list(RANDOM_CTX) + ["q", "obj.k", "obj.q"]) for _ in range(n)]}
    if op == "missing_some":
        return {op: [rng.choice([0, 1, 2]), [rng.choice(list(RANDOM_CTX) + ["q"]) for _ in range(3)]]}
    if op == "sem_ver":
        return {op: [random_rule(depth - 1), rng.choice(["=", "!=", "<", "<=", ">", ">=", "^", "~", "?"]),
                     random_rule(depth - 1)]}
    if op == "fractional":
        buckets = [[rng.choice(["a", "b", random_rule(0)]), rng.choice([0, 1, 5, 50, -1])] for _ in range(n)]
        return {op: ([random_rule(depth - 1)] if rng.random() < 0.5 else []) + buckets}
    return {op: [random_rule(depth - 1) for _ in range(n)]}


for i in range(600):
    rule = random_rule(rng.randint(1, 5))
    L(f"random {i}", rule if isinstance(rule, dict) else {"cat": [rule]}, "random")

cases = []
sets = {}


def flag(variants, default, targeting=None, state="ENABLED", metadata=None):
    f = {"state": state, "variants": variants}
    if default is not False:
        f["defaultVariant"] = default
    if targeting is not None:
        f["targeting"] = targeting
    if metadata is not None:
        f["metadata"] = metadata
    return f


onoff = {"on": True, "off": False}
sets["main"] = {
    "$schema": "https://flagd.dev/schema/v0/flags.json",
    "metadata": {"flagSetId": "shop", "version": "7"},
    "$evaluators": {
        # flagd-core substitutes evaluators in document order: one that uses another comes first.
        "staff_or_pro": {"or": [{"$ref": "is_staff"}, {"$ref": "is_pro"}]},
        "is_staff": {"ends_with": [V("email"), "@example.com"]},
        "is_pro": {"==": [V("user.plan"), "pro"]},
    },
    "flags": {
        "bool-static": flag(onoff, "on"),
        "bool-disabled": flag(onoff, "on", state="DISABLED"),
        "string-static": flag({"red": "#f00", "blue": "#00f"}, "blue", metadata={"owner": "web", "version": "8"}),
        "number-static": flag({"one": 1, "pi": 3.14159}, "pi"),
        "object-static": flag({"a": {"x": 1}, "b": {"y": [1, 2], "z": None}}, "b"),
        "no-default": flag({"a": "A", "b": "B"}, False, {"if": [{"$ref": "is_staff"}, "a", None]}),
        "null-default": flag({"a": "A"}, None),
        "empty-targeting": flag(onoff, "off", {}),
        "staff": flag(onoff, "off", {"if": [{"$ref": "is_staff"}, "on", None]}),
        "staff-or-pro": flag(onoff, "off", {"if": [{"$ref": "staff_or_pro"}, "on", "off"]}),
        "by-version": flag({"new": "v2", "old": "v1"}, "old", {"if": [{"sem_ver": [V("version"), ">=", "2.0.0"]}, "new", None]}),
        "bool-result": flag({"true": "yes", "false": "no"}, "false", {"starts_with": [V("email"), "ada"]}),
        "number-result": flag({"3": "three", "4": "four"}, "3", {"+": [V("n"), 1]}),
        "missing-variant": flag(onoff, "off", {"cat": ["o", "n", "x"]}),
        "error-rule": flag(onoff, "off", {"if": [{">": [{"/": [1, V("zero")]}, 0]}, "on", "off"]}),
        "object-result": flag(onoff, "off", {"var": "user"}),
        "rollout": flag({"on": True, "off": False}, "off", {"fractional": [["on", 5], ["off", 95]]}),
        "rollout-by-org": flag({"on": True, "off": False}, "off", {"fractional": [{"cat": [V("$flagd.flagKey"), V("user.org.id")]}, ["on", 50], ["off", 50]]}),
        "flagkey": flag({"flagkey": "k", "other": "o"}, "other", {"if": [{"==": [V("$flagd.flagKey"), "flagkey"]}, "flagkey", "other"]}),
    },
}
users = [
    {"targetingKey": "u-1", "email": "ada@example.com", "user": {"plan": "free", "org": {"id": "o-1"}}, "version": "2.1.0", "n": 2},
    {"targetingKey": "u-2", "email": "bob@other.org", "user": {"plan": "pro", "org": {"id": "o-2"}}, "version": "1.9.9", "n": 3},
    {"targetingKey": "u-3", "email": "eve@other.org", "user": {"plan": "free", "org": {"id": "o-1"}}, "version": "garbage", "zero": 0},
    {},
]
for flag_key, f in sets["main"]["flags"].items():
    types = ["boolean", "string", "number", "object"]
    for t in types:
        for i, u in enumerate(users):
            if t != {bool: "boolean", str: "string", int: "number", float: "number", dict: "object"}[type(next(iter(f["variants"].values())))] and i > 0:
                continue
            cases.append({"name": f"{flag_key} as {t} user {i}", "set": "main", "flag": flag_key, "type": t, "context": u})
cases.append({"name": "not found", "set": "main", "flag": "nope", "type": "boolean", "context": {}})

# Fractional at fine percentages, over 10,000 keys each.
def fine(name, weights):
    return flag({k: k for k in weights}, list(weights)[-1], {"fractional": [[k, w] for k, w in weights.items()]})

sets["fine"] = {"flags": {
    "f-1-999": fine("f-1-999", {"on": 1, "off": 999}),
    "f-5-95": fine("f-5-95", {"on": 5, "off": 95}),
    "f-thirds": fine("f-thirds", {"a": 1, "b": 1, "c": 1}),
    "f-permille": fine("f-permille", {"on": 25, "off": 9975}),
}}
sets["ramp-5"] = {"flags": {"ramp": fine("ramp", {"on": 5, "off": 95})}}
sets["ramp-20"] = {"flags": {"ramp": fine("ramp", {"on": 20, "off": 80})}}
sets["ramp-100"] = {"flags": {"ramp": fine("ramp", {"on": 100, "off": 0})}}
sweeps = []
for flag_key, weights in [("f-1-999", {"on": 1, "off": 999}), ("f-5-95", {"on": 5, "off": 95}),
                          ("f-thirds", {"a": 1, "b": 1, "c": 1}), ("f-permille", {"on": 25, "off": 9975})]:
    sweeps.append({"name": flag_key, "set": "fine", "flag": flag_key, "type": "string",
                   "keys": {"prefix": "user-", "count": 10000}, "weights": weights})
for s in ["ramp-5", "ramp-20", "ramp-100"]:
    sweeps.append({"name": s, "set": s, "flag": "ramp", "type": "string", "keys": {"prefix": "host-", "count": 10000},
                   "weights": sets[s]["flags"]["ramp"]["targeting"]["fractional"] and
                   {e[0]: e[1] for e in sets[s]["flags"]["ramp"]["targeting"]["fractional"]}})
monotonic = [{"before": "ramp-5", "after": "ramp-20", "variant": "on"},
             {"before": "ramp-20", "after": "ramp-100", "variant": "on"}]

rejected = [
    {"name": "unknown operator", "flag": "f", "document": {"flags": {"f": flag(onoff, "on", {"frobnicate": [1]})}}},
    {"name": "bad state", "flag": "f", "document": {"flags": {"f": flag(onoff, "on", state="MAYBE")}}},
    {"name": "default not a variant", "flag": "f", "document": {"flags": {"f": flag(onoff, "maybe")}}},
    {"name": "unknown $ref", "flag": "f", "document": {"flags": {"f": flag(onoff, "on", {"if": [{"$ref": "nope"}, "on", "off"]})}}},
    {"name": "evaluator using an earlier one", "flag": "f", "document": {
        "$evaluators": {"a": {"==": [V("x"), 1]}, "b": {"!": [{"$ref": "a"}]}},
        "flags": {"f": flag(onoff, "on", {"if": [{"$ref": "b"}, "on", "off"]})}}},
    {"name": "literal division by zero", "flag": "f", "document": {"flags": {"f": flag(onoff, "on", {"/": [1, 0]})}}},
]

def compact(document):
    """The vectors one per line, so a change shows as a readable diff."""
    lines = []
    for key, value in document.items():
        if isinstance(value, list):
            items = ",\n".join("  " + json.dumps(item, ensure_ascii=False) for item in value)
            lines.append(f" {json.dumps(key)}: [\n{items}\n ]")
        elif isinstance(value, dict) and key in ("sets", "contexts"):
            items = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in value.items())
            lines.append(f" {json.dumps(key)}: {{\n{items}\n }}")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


out = {
    "comment": "Shared vectors: tests/flags_js/evaluate.js checks flagd-core gives the expect fields, "
               "tests/unit/flags/vectors_test.cpp checks the C++ evaluator does. Inputs from make_vectors.py.",
    "contexts": {"main": ctx, "no-targeting-key": {k: v for k, v in ctx.items() if k != "targetingKey"},
                 "numeric-targeting-key": dict(ctx, targetingKey=12345), "random": RANDOM_CTX},
    "logic": logic, "sets": sets, "cases": cases, "sweeps": sweeps, "monotonic": monotonic, "rejected": rejected,
}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.json"), "w") as f:
    f.write(compact(out))
print(len(logic), "logic,", len(cases), "cases,", len(sweeps), "sweeps,", len(monotonic), "monotonic,", len(rejected), "rejected")
