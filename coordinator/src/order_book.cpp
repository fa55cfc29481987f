#include "flotilla/coordinator/order_book.h"

namespace flotilla::coordinator {

std::string OrderBook::open(OrderRef ref, std::string order_id) {
  if (order_id.empty()) order_id = ref.rollout_id + "/" + ref.agent_id + "/" + std::to_string(ref.sequence);
  by_agent_[ref.agent_id].insert(order_id);
  orders_[order_id] = std::move(ref);
  return order_id;
}

void OrderBook::close(const std::string& order_id) {
  auto it = orders_.find(order_id);
  if (it == orders_.end()) return;
  if (auto a = by_agent_.find(it->second.agent_id); a != by_agent_.end()) {
    a->second.erase(order_id);
    if (a->second.empty()) by_agent_.erase(a);
  }
  orders_.erase(it);
}

OrderRef* OrderBook::find(const std::string& order_id) {
  auto it = orders_.find(order_id);
  return it == orders_.end() ? nullptr : &it->second;
}

const std::set<std::string>& OrderBook::ofAgent(const std::string& agent_id) const {
  static const std::set<std::string> kNone;
  auto it = by_agent_.find(agent_id);
  return it == by_agent_.end() ? kNone : it->second;
}

bool OrderBook::busyWith(const std::string& agent_id, const std::string& app) const {
  for (const auto& id : ofAgent(agent_id))
    if (auto o = orders_.find(id); o != orders_.end() && o->second.app == app) return true;
  return false;
}

std::vector<std::string> OrderBook::ofRollout(const std::string& rollout_id) const {
  std::vector<std::string> out;
  for (const auto& [id, ref] : orders_)
    if (ref.rollout_id == rollout_id && !ref.converge) out.push_back(id);
  return out;
}

std::vector<std::string> OrderBook::dueForRetry(common::SteadyTime now, common::Millis retry) const {
  std::vector<std::string> out;
  for (const auto& [id, ref] : orders_)
    if (!ref.reported && now - ref.last_sent >= retry) out.push_back(id);
  return out;
}

void setArtifactSource(ReleaseData& data, const protocol::Plan& plan) {
  data.url = plan.artifact_url;
  if (plan.artifact_digest) data.digest_algorithm = plan.artifact_digest->algorithm;
}

void OrderBook::queue(const std::string& order_id, const ReleaseData& release, common::SteadyTime now) {
  auto it = orders_.find(order_id);
  if (it == orders_.end()) return;
  OrderRef& ref = it->second;
  OutgoingOrder out;
  out.spec = release.spec;
  auto& body = out.body;
  body.artifact_digest = release.digest;
  body.artifact_size = release.size;
  body.release_signature = release.signature;
  body.artifact_url = release.url;
  body.artifact_digest_algorithm = release.digest_algorithm;
  body.order_id = order_id;
  body.target = ref.agent_id;
  body.rollout_id = ref.rollout_id;
  body.app = ref.app;
  body.version = ref.version;
  body.action = ref.rollback ? "rollback" : "deploy";
  body.sequence = ref.sequence;
  out.agent_id = ref.agent_id;
  outbox_.push_back(std::move(out));
  ref.last_sent = now;
}

void OrderBook::reserve(const std::string& app, std::uint64_t first, std::uint64_t end) {
  seq_app_ = app;
  seq_next_ = first;
  seq_end_ = end;
}

std::optional<std::uint64_t> OrderBook::takeReserved(const std::string& app) {
  if (app == seq_app_ && seq_next_ < seq_end_) return seq_next_++;
  return std::nullopt;
}

}  // namespace flotilla::coordinator
