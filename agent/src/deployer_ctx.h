#pragma once
// What deployer.cpp and flag_deploy.cpp share of the Deployer's insides: the
// working state of the order in hand. Private to the agent library.

#include <string>

#include "flotilla/agent/deployer.h"

namespace flotilla::agent {

struct Deployer::Ctx {
  protocol::OrderBody body;
  protocol::OrderSpec spec;  // host variables expanded
  std::string raw_spec;      // as signed, kept in the journal
  std::string previous;      // live before this order
  std::string previous_previous;
};

// 64 lowercase hex characters: the only digest that may name a file under state/downloads.
inline bool isDigest(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace flotilla::agent
