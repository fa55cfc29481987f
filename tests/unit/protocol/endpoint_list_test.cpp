// EndpointList: the order a client tries its coordinators in, and which
// leaders a not_leader answer may send it to.
#include "flotilla/protocol/endpoint_list.h"

#include <catch2/catch.hpp>

using flotilla::Errc;
using flotilla::protocol::concreteEndpoint;
using flotilla::protocol::EndpointList;
using flotilla::protocol::parseEndpointList;

TEST_CASE("endpoint list: a comma-separated list is read in order, spaces trimmed", "[protocol][endpoints]") {
  auto one = parseEndpointList("ipc:///run/c.sock", "--control");
  REQUIRE(one.ok());
  CHECK(*one == std::vector<std::string>{"ipc:///run/c.sock"});
  auto two = parseEndpointList("tcp://a:7701, tcp://b:7701 ", "--control");
  REQUIRE(two.ok());
  CHECK(*two == std::vector<std::string>{"tcp://a:7701", "tcp://b:7701"});
}

TEST_CASE("endpoint list: an empty item, a duplicate or another scheme is refused by name", "[protocol][endpoints]") {
  auto empty = parseEndpointList("tcp://a:1,,tcp://b:1", "--control");
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().code == Errc::kInvalidArgument);
  CHECK_THAT(empty.error().message, Catch::StartsWith("--control 'tcp://a:1,,tcp://b:1': an empty endpoint"));
  auto twice = parseEndpointList("tcp://a:1,tcp://a:1", "--control");
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.error().message == "--control 'tcp://a:1': listed twice");
  auto scheme = parseEndpointList("tcp://a:1,udp://b:1", "FLOTILLA_CONTROL");
  REQUIRE_FALSE(scheme.ok());
  CHECK(scheme.error().message == "FLOTILLA_CONTROL 'udp://b:1': expected tcp://HOST:PORT or ipc://PATH");
  CHECK_FALSE(parseEndpointList("", "--control").ok());
}

TEST_CASE("endpoint list: only an endpoint with a concrete address may be followed off the list",
          "[protocol][endpoints]") {
  CHECK(concreteEndpoint("tcp://10.0.0.2:7700"));
  CHECK(concreteEndpoint("tcp://coord-b.example:7700"));
  CHECK(concreteEndpoint("ipc:///var/lib/flotilla/control.sock"));
  CHECK_FALSE(concreteEndpoint("tcp://*:7700"));
  CHECK_FALSE(concreteEndpoint("tcp://0.0.0.0:7700"));
  CHECK_FALSE(concreteEndpoint("tcp://[::]:7700"));
  CHECK_FALSE(concreteEndpoint("tcp://host"));
  CHECK_FALSE(concreteEndpoint("tcp://host:"));
  CHECK_FALSE(concreteEndpoint("ipc://"));
  CHECK_FALSE(concreteEndpoint("inproc://x"));
  CHECK_FALSE(concreteEndpoint(""));
}

TEST_CASE("endpoint list: advance goes round the list in order", "[protocol][endpoints]") {
  EndpointList list({"tcp://a:1", "tcp://b:1", "tcp://c:1"});
  CHECK(list.current() == "tcp://a:1");
  CHECK(list.advance() == "tcp://b:1");
  CHECK(list.advance() == "tcp://c:1");
  CHECK(list.advance() == "tcp://a:1");
  CHECK(list.onList());
}

TEST_CASE("endpoint list: follow goes to the named leader, on the list or concrete, else to the next",
          "[protocol][endpoints]") {
  EndpointList list({"tcp://a:1", "tcp://b:1", "tcp://c:1"});
  CHECK(list.follow("tcp://c:1") == "tcp://c:1");
  CHECK(list.onList());
  CHECK(list.follow("") == "tcp://a:1");                         // unknown: the next after c
  CHECK(list.follow("tcp://0.0.0.0:1") == "tcp://b:1");          // a wildcard names no host
  CHECK(list.follow("tcp://10.9.9.9:1") == "tcp://10.9.9.9:1");  // off the list, but concrete
  CHECK_FALSE(list.onList());
  // Moving on from it returns to the list after the endpoint that named it.
  CHECK(list.advance() == "tcp://c:1");
  CHECK(list.onList());
}

TEST_CASE("endpoint list: a single endpoint follows a named leader and comes back to itself", "[protocol][endpoints]") {
  EndpointList list({"tcp://a:1"});
  CHECK(list.follow("") == "tcp://a:1");
  CHECK(list.follow("tcp://b:1") == "tcp://b:1");
  CHECK(list.advance() == "tcp://a:1");
}

TEST_CASE("endpoint list: select and followable", "[protocol][endpoints]") {
  EndpointList list({"tcp://a:1", "tcp://b:1"});
  CHECK(list.select(1) == "tcp://b:1");
  CHECK(list.position() == 1);
  CHECK(list.followable("tcp://a:1"));
  CHECK(list.followable("tcp://10.1.1.1:9"));
  CHECK_FALSE(list.followable(""));
  CHECK_FALSE(list.followable("tcp://*:1"));
  list.follow("tcp://10.1.1.1:9");
  CHECK(list.position() == 1);  // where it was followed from
}
