#pragma once
// Fields: reads the fields of one control-protocol reply object for the
// from_json functions of control.cpp (private to the protocol library).
//
// Strict (a reply on the wire): a missing field, or one of the wrong JSON
// type, throws MalformedReply with the field's path ("rollout.waves[1].hosts").
// Lenient (a status snapshot the coordinator stored earlier): such a field
// reads as empty. A nullable field may be null in both modes.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "flotilla/protocol/control.h"

namespace flotilla::protocol::control::detail {

// "a string", "-1", "an array": what a field held, for the error message.
inline std::string typeName(const json& v) {
  if (v.is_number_integer()) return v.dump();
  if (v.is_number_float()) return "a fractional number";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}

class Fields {
 public:
  Fields(const json& j, std::string path, bool strict) : j_(j), path_(std::move(path)), strict_(strict) {
    if (!j_.is_object()) fail("", "expected an object, got " + typeName(j_));
  }

  std::string str(const char* key) const {
    const json* v = find(key);
    if (!v || v->is_string()) return v ? v->get<std::string>() : std::string();
    wrong(key, "a string", *v);
    return std::string();
  }
  std::optional<std::string> optStr(const char* key) const {
    const json* v = find(key);
    if (!v || v->is_null()) return std::nullopt;
    if (v->is_string()) return v->get<std::string>();
    wrong(key, "a string or null", *v);
    return std::nullopt;
  }
  std::uint64_t count(const char* key) const {
    const json* v = find(key);
    if (!v) return 0;
    if (v->is_number_unsigned() || (v->is_number_integer() && v->get<std::int64_t>() >= 0))
      return v->get<std::uint64_t>();
    wrong(key, "a non-negative integer", *v);
    return 0;
  }
  std::int64_t integer(const char* key) const {
    const json* v = find(key);
    if (!v || v->is_number_integer()) return v ? v->get<std::int64_t>() : 0;
    wrong(key, "an integer", *v);
    return 0;
  }
  std::optional<int> optInt(const char* key) const {
    const json* v = find(key);
    if (!v || v->is_null()) return std::nullopt;
    if (v->is_number_integer()) return v->get<int>();
    wrong(key, "an integer or null", *v);
    return std::nullopt;
  }
  double number(const char* key) const {
    const json* v = find(key);
    if (!v || v->is_number()) return v ? v->get<double>() : 0;
    wrong(key, "a number", *v);
    return 0;
  }
  std::optional<double> optNumber(const char* key, bool may_be_absent = false) const {
    const json* v = may_be_absent && !j_.contains(key) ? nullptr : find(key);
    if (!v || v->is_null()) return std::nullopt;
    if (v->is_number()) return v->get<double>();
    wrong(key, "a number or null", *v);
    return std::nullopt;
  }
  bool boolean(const char* key) const {
    const json* v = find(key);
    if (!v || v->is_boolean()) return v && v->get<bool>();
    wrong(key, "true or false", *v);
    return false;
  }
  std::map<std::string, std::string> textMap(const char* key) const {
    std::map<std::string, std::string> out;
    const json* v = find(key);
    if (!v) return out;
    if (!v->is_object()) {
      wrong(key, "an object", *v);
      return out;
    }
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (it->is_string())
        out[it.key()] = it->get<std::string>();
      else if (strict_)
        fail(std::string(key) + "." + it.key(), "expected a string, got " + typeName(*it));
    }
    return out;
  }
  std::vector<std::string> strings(const char* key) const {
    std::vector<std::string> out;
    const json* v = find(key);
    if (!v) return out;
    if (!v->is_array()) {
      wrong(key, "an array of strings", *v);
      return out;
    }
    for (std::size_t i = 0; i < v->size(); ++i) {
      if ((*v)[i].is_string())
        out.push_back((*v)[i].get<std::string>());
      else if (strict_)
        fail(std::string(key) + "[" + std::to_string(i) + "]", "expected a string, got " + typeName((*v)[i]));
    }
    return out;
  }
  // An object field read by `read` with the field's path; nullopt when null
  // (and `nullable`) or, lenient, when absent or not an object.
  template <typename T, typename Read>
  std::optional<T> object(const char* key, bool nullable, Read read) const {
    const json* v = find(key);
    if (!v || (nullable && v->is_null())) return std::nullopt;
    if (!v->is_object()) {
      wrong(key, nullable ? "an object or null" : "an object", *v);
      return std::nullopt;
    }
    T out;
    read(Fields(*v, at(key) + ".", strict_), out);
    return out;
  }
  template <typename T, typename Read>
  std::vector<T> list(const char* key, Read read) const {
    std::vector<T> out;
    const json* v = find(key);
    if (!v) return out;
    if (!v->is_array()) {
      wrong(key, "an array", *v);
      return out;
    }
    for (std::size_t i = 0; i < v->size(); ++i) {
      T item;
      if ((*v)[i].is_object() || strict_)
        read(Fields((*v)[i], at(key) + "[" + std::to_string(i) + "].", strict_), item);
      out.push_back(std::move(item));
    }
    return out;
  }
  template <typename T, typename Read>
  std::map<std::string, T> objectMap(const char* key, Read read) const {
    std::map<std::string, T> out;
    const json* v = find(key);
    if (!v) return out;
    if (!v->is_object()) {
      wrong(key, "an object", *v);
      return out;
    }
    for (auto it = v->begin(); it != v->end(); ++it)
      if (it->is_object() || strict_) read(Fields(*it, at(key) + "." + it.key() + ".", strict_), out[it.key()]);
    return out;
  }
  bool has(const char* key) const { return j_.contains(key); }
  bool strict() const { return strict_; }

 private:
  std::string at(const char* key) const { return path_ + key; }
  const json* find(const char* key) const {
    if (!j_.is_object()) return nullptr;
    auto it = j_.find(key);
    if (it != j_.end()) return &*it;
    if (strict_) fail(key, "missing");
    return nullptr;
  }
  void wrong(const char* key, const char* expected, const json& got) const {
    if (strict_) fail(key, std::string("expected ") + expected + ", got " + typeName(got));
  }
  void fail(const std::string& key, const std::string& problem) const {
    if (!strict_) return;
    std::string field = path_ + key;
    if (!field.empty() && field.back() == '.') field.pop_back();
    throw MalformedReply(field.empty() ? "reply" : field, problem);
  }

  const json& j_;
  std::string path_;
  bool strict_;
};

// Reads one analysed wave (control_analysis.cpp), for the status document too.
void readAnalysisWave(const Fields& f, AnalysisWaveDoc& w);
// Reads a rollout's approvals (control_policy.cpp), for the status document.
void readApprovals(const Fields& f, ApprovalsDoc& a);

}  // namespace flotilla::protocol::control::detail
