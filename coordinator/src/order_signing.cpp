#include "flotilla/coordinator/order_signing.h"

#include <thread>

#include "flotilla/protocol/order.h"

namespace flotilla::coordinator {

std::vector<std::string> signOrders(const std::vector<OutgoingOrder*>& batch, const common::SigningKeyPair& plan_key) {
  std::vector<std::string> encoded(batch.size());
  auto sign = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i)
      encoded[i] = protocol::encode(protocol::signOrder(std::move(batch[i]->body), *batch[i]->spec, plan_key));
  };
  if (batch.size() >= kParallelSignAt) {
    const std::size_t half = batch.size() / 2;
    std::thread helper(sign, half, batch.size());
    sign(0, half);
    helper.join();
  } else {
    sign(0, batch.size());
  }
  return encoded;
}

}  // namespace flotilla::coordinator
