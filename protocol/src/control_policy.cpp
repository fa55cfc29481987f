// The control protocol's `policy` and `approve` requests, their replies, and a
// rollout's approvals document (control.h).
#include "flotilla/protocol/control.h"
#include "reply_fields.h"

namespace flotilla::protocol::control {
namespace {

using detail::Fields;

void readGate(const Fields& f, GateDoc& g) {
  g.gate = f.str("gate");
  g.open = f.boolean("open");
  g.applies = f.boolean("applies");
  g.why = f.str("why");
  g.changes_at = f.optStr("changes_at");
}

}  // namespace

void detail::readApprovals(const Fields& f, ApprovalsDoc& a) {
  a.required = f.count("required");
  a.have = f.count("have");
  a.by = f.strings("by");
  a.ttl = f.str("ttl");
}

void to_json(json& j, const ApproveRequest& r) { j = {{"cmd", kApprove}, {"rollout", r.rollout}}; }
void from_json(const json& j, ApproveRequest& r) {
  auto it = j.find("rollout");
  r.rollout = it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

void to_json(json& j, const ApprovalsDoc& a) {
  j = {{"required", a.required}, {"have", a.have}, {"by", a.by}, {"ttl", a.ttl}};
}
void from_json(const json& j, ApprovalsDoc& a) { detail::readApprovals(Fields(j, "", true), a); }

void to_json(json& j, const PolicyRequest& r) {
  j = {{"cmd", kPolicy}};
  if (!r.plan.empty()) {
    j["plan"] = r.plan;
    j["plan_name"] = r.plan_name;
  }
}
void from_json(const json& j, PolicyRequest& r) {
  auto text = [&](const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  r.plan = text("plan");
  r.plan_name = text("plan_name");
}

void to_json(json& j, const GateDoc& g) {
  j = {{"gate", g.gate},
       {"open", g.open},
       {"applies", g.applies},
       {"why", g.why},
       {"changes_at", g.changes_at ? json(*g.changes_at) : json(nullptr)}};
}
void from_json(const json& j, GateDoc& g) { readGate(Fields(j, "", true), g); }

void to_json(json& j, const PolicyReply& r) { j = {{"ok", true}, {"now", r.now}, {"gates", r.gates}}; }
void from_json(const json& j, PolicyReply& r) {
  Fields f(j, "", true);
  r.now = f.str("now");
  r.gates = f.list<GateDoc>("gates", readGate);
}

}  // namespace flotilla::protocol::control
