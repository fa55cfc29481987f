#pragma once
// Shared by the fuzz targets and make_corpus: the fixed plan key that signs the
// seed orders, the agent context they are verified in, and a check that aborts
// (libFuzzer reports an abort as a crash and saves the input).

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <sodium.h>

#include "flotilla/common/crypto.h"
#include "flotilla/protocol/order.h"

#define FUZZ_CHECK(cond)                                                                     \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

namespace flotilla::fuzz {

// Seed orders name this agent, are valid at kNow and carry sequences above
// kHighestSequence, so the verifier accepts them unmutated.
inline constexpr std::string_view kAgentId = "agent-1";
inline constexpr std::int64_t kNow = 1'800'000'000;
inline constexpr std::uint64_t kHighestSequence = 3;

// Deterministic keys, so the committed seeds stay signed by the keys the
// target trusts. Call after common::initCrypto().
inline common::SigningKeyPair keyFromSeed(unsigned char first) {
  std::array<unsigned char, crypto_sign_SEEDBYTES> seed{};
  for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<unsigned char>(first + i);
  common::SigningKeyPair key;
  crypto_sign_seed_keypair(key.public_key.data(), key.secret_key.data(), seed.data());
  return key;
}
inline common::SigningKeyPair fixedPlanKey() { return keyFromSeed(0xf1); }
inline common::SigningKeyPair fixedReleaseKey() { return keyFromSeed(0x52); }

// The agent the seeds are addressed to; with `release_key`, it also demands
// artifacts signed by that offline release key.
inline protocol::VerifyContext verifyContext(const common::PublicKey& plan_key,
                                             const common::PublicKey* release_key = nullptr) {
  protocol::VerifyContext ctx;
  ctx.plan_key = plan_key;
  ctx.agent_id = std::string(kAgentId);
  ctx.now_unix_s = kNow;
  ctx.highest_sequence = kHighestSequence;
  if (release_key != nullptr) ctx.release_keys.push_back(*release_key);
  return ctx;
}

}  // namespace flotilla::fuzz
