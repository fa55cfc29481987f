#include "flotilla/protocol/endpoint_list.h"

#include <algorithm>
#include <cstdlib>

namespace flotilla::protocol {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

constexpr std::string_view kTcp = "tcp://";
constexpr std::string_view kIpc = "ipc://";

}  // namespace

Result<std::vector<std::string>> parseEndpointList(std::string_view text, std::string_view what) {
  std::vector<std::string> out;
  const std::string where(what);
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string_view item = trim(text.substr(start, comma == std::string_view::npos ? text.npos : comma - start));
    if (item.empty())
      return Error(Errc::kInvalidArgument, where + " '" + std::string(text) +
                                               "': an empty endpoint; separate endpoints with single commas, e.g. "
                                               "tcp://a:7700,tcp://b:7700");
    if (item.substr(0, kTcp.size()) != kTcp && item.substr(0, kIpc.size()) != kIpc)
      return Error(Errc::kInvalidArgument,
                   where + " '" + std::string(item) + "': expected tcp://HOST:PORT or ipc://PATH");
    if (std::find(out.begin(), out.end(), item) != out.end())
      return Error(Errc::kInvalidArgument, where + " '" + std::string(item) + "': listed twice");
    out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

bool concreteEndpoint(std::string_view endpoint) {
  if (endpoint.substr(0, kIpc.size()) == kIpc) return endpoint.size() > kIpc.size();
  if (endpoint.substr(0, kTcp.size()) != kTcp) return false;
  const std::string_view address = endpoint.substr(kTcp.size());
  const std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == address.size()) return false;
  const std::string_view host = address.substr(0, colon);
  return host != "*" && host != "0.0.0.0" && host != "[::]" && host != "::" && host != "[*]";
}

EndpointList::EndpointList(std::vector<std::string> endpoints) : endpoints_(std::move(endpoints)) {
  if (endpoints_.empty()) std::abort();  // the configuration readers refuse an empty list
  current_ = endpoints_.front();
}

const std::string& EndpointList::advance() {
  // From an endpoint followed off the list, go back to the list where it was
  // left: the next after the one that named the leader.
  index_ = (index_ + 1) % endpoints_.size();
  current_ = endpoints_[index_];
  on_list_ = true;
  return current_;
}

bool EndpointList::followable(std::string_view leader) const {
  return !leader.empty() &&
         (std::find(endpoints_.begin(), endpoints_.end(), leader) != endpoints_.end() || concreteEndpoint(leader));
}

const std::string& EndpointList::select(std::size_t position) {
  if (position >= endpoints_.size()) std::abort();  // a caller's bug
  index_ = position;
  current_ = endpoints_[index_];
  on_list_ = true;
  return current_;
}

const std::string& EndpointList::follow(std::string_view leader) {
  if (!leader.empty()) {
    auto it = std::find(endpoints_.begin(), endpoints_.end(), leader);
    if (it != endpoints_.end()) {
      index_ = static_cast<std::size_t>(it - endpoints_.begin());
      current_ = *it;
      on_list_ = true;
      return current_;
    }
    if (concreteEndpoint(leader)) {
      current_ = std::string(leader);
      on_list_ = false;
      return current_;
    }
  }
  return advance();
}

}  // namespace flotilla::protocol
