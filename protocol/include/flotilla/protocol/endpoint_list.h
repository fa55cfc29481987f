#pragma once
// The coordinators a client may talk to (issue 12, docs/ha.md "Agents and
// consoles"): an agent's [coordinator] endpoint list or a console's --control
// list. One is current; a standby's not_leader answer names the leader, which
// the client follows, and a client that gets no answer moves on to the next.
//
// Which named leaders are followed: one of the list, or any endpoint with a
// concrete address (tcp://HOST:PORT with a HOST that is not a wildcard, or
// ipc://PATH). Following one off the list is safe because the answer that
// named it came from a coordinator already authenticated (CURVE with the
// coordinator's public key, or the control socket's file permissions), and the
// client talks to the named endpoint with the same coordinator key: an
// endpoint that does not hold the coordinator's secret key completes no
// handshake. A wildcard (tcp://*:7700, tcp://0.0.0.0:7700) names no host, so
// the client goes on with its list instead. An endpoint followed off the list
// is tried once; moving on from it returns to the list where it left off.
//
// Pure and single-threaded: no sockets, no clock.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "flotilla/common/result.h"

namespace flotilla::protocol {

// "tcp://a:7700, tcp://b:7700" -> the endpoints, spaces trimmed. An empty
// item, a duplicate or a scheme other than tcp:// or ipc:// is kInvalidArgument
// naming it; `what` says where the text came from (e.g. "--control").
Result<std::vector<std::string>> parseEndpointList(std::string_view text, std::string_view what);
// Whether `endpoint` may be followed when a not_leader answer names it (above).
bool concreteEndpoint(std::string_view endpoint);

class EndpointList {
 public:
  // `endpoints` must not be empty (aborts otherwise: the configuration
  // readers refuse an empty list).
  explicit EndpointList(std::vector<std::string> endpoints);

  const std::string& current() const { return current_; }
  const std::vector<std::string>& endpoints() const { return endpoints_; }
  std::size_t size() const { return endpoints_.size(); }
  // Whether current() is one of the list (not a leader followed off it).
  bool onList() const { return on_list_; }
  // The list position current() is, or (off the list) the one it was followed from.
  std::size_t position() const { return index_; }
  // Whether follow(leader) would go to `leader` itself.
  bool followable(std::string_view leader) const;

  // Moves to the next endpoint of the list (round robin) and returns it.
  const std::string& advance();
  // A not_leader answer naming `leader` ("" = unknown): moves to it when it is
  // on the list or concrete, else to the next of the list; returns current().
  const std::string& follow(std::string_view leader);
  // Moves to the list's endpoint at `position` (< size()).
  const std::string& select(std::size_t position);

 private:
  std::vector<std::string> endpoints_;
  std::size_t index_ = 0;  // the list position current() is or last was
  std::string current_;
  bool on_list_ = true;
};

}  // namespace flotilla::protocol
