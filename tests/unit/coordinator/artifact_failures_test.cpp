#include "flotilla/coordinator/artifact_failures.h"

#include <catch2/catch.hpp>

using flotilla::coordinator::ArtifactFailures;

TEST_CASE("artifact failures are counted by the reason in the agent's message", "[coordinator][artifact_url]") {
  CHECK(ArtifactFailures::reasonOf("artifact digest mismatch: the order names sha256:ab (3 bytes), received ...") ==
        "digest_mismatch");
  CHECK(ArtifactFailures::reasonOf(
            "fetching artifact: http://s/a: truncated: received 10 of the 20 bytes the order names") == "truncated");
  CHECK(ArtifactFailures::reasonOf("fetching artifact: http://s/a: longer than the order says: ...") == "too_long");
  CHECK(ArtifactFailures::reasonOf("fetching artifact: http://s/a: not downloaded within fetch_timeout (2s), ...") ==
        "timeout");
  CHECK(ArtifactFailures::reasonOf("fetching artifact: download did not finish within fetch_timeout") == "timeout");
  CHECK(ArtifactFailures::reasonOf("fetching artifact: https://s/a: server certificate not trusted") == "unavailable");
  CHECK(ArtifactFailures::reasonOf("artifact of 9 bytes exceeds max_artifact_bytes 8") == "too_large");
  CHECK(ArtifactFailures::reasonOf("before_switch: ./bin/migrate exited with status 1").empty());
  CHECK(ArtifactFailures::reasonOf("").empty());
}

TEST_CASE("only artifact failures become label values", "[coordinator][artifact_url]") {
  ArtifactFailures f;
  f.count("artifact digest mismatch: x");
  f.count("artifact digest mismatch: y");
  f.count("restart: exited with status 3");
  f.count("fetching artifact: http://s/a: HTTP 404");
  CHECK(f.byReason() == std::map<std::string, std::uint64_t>{{"digest_mismatch", 2}, {"unavailable", 1}});
}
