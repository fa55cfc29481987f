// Which hosts a rollout covers and in what order, and how its plan's wave sizes
// and failure budgets resolve against them: pure functions the Rollout and the
// coordinator call before and while building one.
#include "flotilla/coordinator/rollout.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "flotilla/common/crypto.h"

namespace flotilla::coordinator {

std::vector<std::string> orderHosts(const std::string& rollout_id, std::vector<std::string> agent_ids) {
  std::vector<std::pair<std::string, std::string>> keyed;
  keyed.reserve(agent_ids.size());
  for (auto& id : agent_ids) {
    std::string k = common::blake2bHex(common::asBytes(rollout_id + "/" + id));
    keyed.emplace_back(std::move(k), std::move(id));
  }
  std::sort(keyed.begin(), keyed.end());
  std::vector<std::string> out;
  out.reserve(keyed.size());
  for (auto& [k, id] : keyed) out.push_back(std::move(id));
  return out;
}

protocol::WavePolicy rollbackPolicy(protocol::WavePolicy p) {
  p.sizes = {protocol::Amount{true, 100}};
  p.max_parallel = std::max<std::size_t>(p.max_parallel, 1000);
  p.bake = common::Millis(0);
  p.approval = protocol::Approval::kAuto;
  p.on_failure = protocol::OnFailure::kHalt;
  return p;
}

bool labelsMatch(const std::map<std::string, std::string>& want, const std::map<std::string, std::string>& have) {
  for (const auto& [k, v] : want) {
    auto it = have.find(k);
    if (it == have.end() || it->second != v) return false;
  }
  return true;
}

std::vector<std::size_t> planWaveEnds(const std::vector<protocol::Amount>& sizes, std::size_t hosts) {
  std::vector<std::size_t> ends;
  std::size_t last = 0;
  for (const auto& s : sizes) {
    std::size_t e = std::min(s.resolve(hosts), hosts);
    if (e > last) {
      ends.push_back(e);
      last = e;
    }
  }
  if (last < hosts) ends.push_back(hosts);
  return ends;
}

std::size_t resolveBudget(const protocol::Amount& budget, std::size_t wave_hosts) {
  if (!budget.percent) return static_cast<std::size_t>(budget.value);
  return static_cast<std::size_t>(std::floor(static_cast<double>(wave_hosts) * budget.value / 100.0 + 1e-9));
}

}  // namespace flotilla::coordinator
