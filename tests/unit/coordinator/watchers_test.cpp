#include "flotilla/coordinator/watchers.h"

#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

using flotilla::coordinator::Watchers;

namespace {

// A control socket where some peers are gone: sends to them fail.
struct FakeSocket {
  std::set<std::string> gone;
  std::vector<std::pair<std::string, std::string>> sent;
  Watchers::Send send() {
    return [this](const std::string& rid, const std::string& text) {
      if (gone.count(rid)) return false;
      sent.emplace_back(rid, text);
      return true;
    };
  }
};

}  // namespace

TEST_CASE("watchers: a push reaches every watcher of the rollout and no other", "[coordinator][watchers]") {
  Watchers w;
  FakeSocket sock;
  w.add("web-1", "c1");
  w.add("web-1", "c2");
  w.add("db-1", "c3");
  CHECK(w.count() == 3);
  CHECK(w.push("web-1", "tick", sock.send()) == 0);
  CHECK(sock.sent.size() == 2);
  CHECK(w.push("nobody-1", "tick", sock.send()) == 0);
  CHECK(sock.sent.size() == 2);
}

TEST_CASE("watchers: watching again is one watcher", "[coordinator][watchers]") {
  Watchers w;
  w.add("web-1", "c1");
  w.add("web-1", "c1");
  CHECK(w.count() == 1);
}

TEST_CASE("watchers: a console that went away stops being a watcher at the next push", "[coordinator][watchers]") {
  Watchers w;
  FakeSocket sock;
  w.add("web-1", "c1");
  w.add("web-1", "c2");
  w.add("db-1", "c1");
  sock.gone.insert("c1");
  CHECK(w.push("web-1", "tick", sock.send()) == 1);
  CHECK(w.count() == 1);  // c1 is gone from db-1 too
  CHECK_FALSE(w.any("db-1"));
  CHECK(w.any("web-1"));
  sock.sent.clear();
  CHECK(w.push("web-1", "tick", sock.send()) == 0);
  REQUIRE(sock.sent.size() == 1);
  CHECK(sock.sent[0].first == "c2");
  sock.gone.insert("c2");
  CHECK(w.push("web-1", "tick", sock.send()) == 1);
  CHECK(w.count() == 0);
  CHECK_FALSE(w.any("web-1"));
}

TEST_CASE("watchers: a rollout that ends has no watchers left", "[coordinator][watchers]") {
  Watchers w;
  w.add("web-1", "c1");
  w.add("db-1", "c1");
  w.endRollout("web-1");
  CHECK(w.count() == 1);
  CHECK_FALSE(w.any("web-1"));
  w.drop("c1");
  CHECK(w.count() == 0);
  w.drop("c1");
  CHECK(w.count() == 0);
}
