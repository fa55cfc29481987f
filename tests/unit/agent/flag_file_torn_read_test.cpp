// flags.json is replaced atomically (issue 13, point 4): while the Deployer
// rolls out 1,000 flag sets one after another, other threads read flags.json
// 100,000 times, as an app's file watcher would, and every read is one whole,
// valid flag set.
#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "flotilla/common/fs.h"
#include "flotilla/flags/flag_set.h"
#include "support/deployer_rig.h"
#include "support/fake_host_os.h"

namespace {

// Flag sets of different sizes, so a read that mixed two would not parse or
// would not say its own version.
std::string numberedSet(int n) {
  std::string flags;
  for (int i = 0; i <= n % 7; ++i)
    flags += (i ? "," : "") + std::string("\"f") + std::to_string(i) +
             R"(":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off"})";
  return R"({"metadata":{"version":")" + std::to_string(n) + R"("},"flags":{)" + flags + "}}";
}

}  // namespace

TEST_CASE("1000 flag set updates during 100000 concurrent reads of flags.json: no torn or invalid read",
          "[agent][flags]") {
  using flotilla::protocol::Phase;
  flotilla::testing::FakeHostOs os;
  flotilla::testing::DeployerRig rig(os);
  rig.restartAgent();
  const flotilla::protocol::OrderSpec no_checks;
  auto push = [&](int n) {
    auto a = rig.addContent("set-" + std::to_string(n) + ".json", numberedSet(n));
    return rig.execute(rig.order("flags:web", "f-" + std::to_string(n), a, no_checks));
  };
  REQUIRE(push(0) == Phase::kHealthy);
  const auto live = rig.appDir("web") / "flags.json";

  constexpr int kUpdates = 1000;
  constexpr int kReads = 100000;
  constexpr int kReaders = 4;
  std::atomic<bool> writing{true};
  std::atomic<int> reads{0};
  std::atomic<int> bad{0};
  std::mutex mu;
  std::string first_bad;
  std::set<std::string> seen;  // versions the readers saw
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&] {
      std::set<std::string> mine;
      while (writing.load() || reads.load() < kReads) {
        reads.fetch_add(1);
        auto text = flotilla::common::readFile(live);
        auto set =
            text ? flotilla::flags::FlagSet::parse(*text) : flotilla::Result<flotilla::flags::FlagSet>(text.error());
        if (!set) {
          bad.fetch_add(1);
          std::lock_guard lock(mu);
          if (first_bad.empty()) first_bad = set.error().message;
          continue;
        }
        mine.insert(set->metadata().value("version", "?"));
      }
      std::lock_guard lock(mu);
      seen.insert(mine.begin(), mine.end());
    });
  }
  int healthy = 0;
  for (int n = 1; n <= kUpdates; ++n) healthy += push(n) == Phase::kHealthy ? 1 : 0;
  writing.store(false);
  for (auto& t : readers) t.join();

  INFO("first bad read: " << first_bad);
  CHECK(healthy == kUpdates);
  CHECK(bad.load() == 0);
  CHECK(reads.load() >= kReads);
  // The reads overlapped the updates: they saw many of the versions.
  CHECK(seen.size() > 10);
  CHECK(flotilla::flags::FlagSet::parse(flotilla::common::readFile(live).value()).ok());
}
