#include "flotilla/protocol/flag_app.h"

#include <catch2/catch.hpp>

#include "flotilla/protocol/messages.h"
#include "flotilla/protocol/plan.h"

using namespace flotilla::protocol;

TEST_CASE("the flag sets of an app are rolled out as the app flags:APP", "[protocol][flags]") {
  CHECK(flagAppOf("web") == "flags:web");
  CHECK(flaggedApp("flags:web") == std::optional<std::string>("web"));
  CHECK_FALSE(flaggedApp("web").has_value());
  CHECK_FALSE(flaggedApp("flags:").has_value());
  CHECK_FALSE(flaggedApp("flags:Web").has_value());
  CHECK_FALSE(flaggedApp("flags:flags:web").has_value());
  CHECK_FALSE(flaggedApp("flags:../etc").has_value());

  CHECK(validOrderApp("web"));
  CHECK(validOrderApp("flags:web"));
  CHECK_FALSE(validOrderApp("flags:"));
  CHECK_FALSE(validOrderApp("flag:web"));
  // A flag app is never a plan's app: plans name real apps only.
  CHECK_FALSE(validAppName("flags:web"));
}

TEST_CASE("an order for a flag app decodes, one for a bad app name does not", "[protocol][flags]") {
  OrderBody b;
  b.order_id = "o1";
  b.target = "h1";
  b.rollout_id = "flags:web-1";
  b.app = "flags:web";
  b.version = "f-0123456789abcdef";
  b.action = "deploy";
  b.artifact_digest = std::string(64, 'a');
  b.spec_digest = std::string(64, 'b');
  b.sequence = 1;
  auto ok = decodeOrderBody(encodeOrderBody(b));
  REQUIRE(ok);
  CHECK(ok->app == "flags:web");
  b.app = "flags:../x";
  CHECK_FALSE(decodeOrderBody(encodeOrderBody(b)));
}
