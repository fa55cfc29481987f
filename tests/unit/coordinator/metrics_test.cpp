#include "flotilla/coordinator/metrics.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using flotilla::Errc;
using flotilla::coordinator::changeFailureRateBand;
using flotilla::coordinator::computeDora;
using flotilla::coordinator::deploymentFrequencyBand;
using flotilla::coordinator::DoraBand;
using flotilla::coordinator::DoraReport;
using flotilla::coordinator::leadTimeBand;
using flotilla::coordinator::MetricsQuery;
using flotilla::coordinator::recoveryTimeBand;
using flotilla::coordinator::RolloutRecord;
using flotilla::coordinator::ScopeMetrics;
using flotilla::coordinator::toJson;
using flotilla::coordinator::toPrometheus;
using nlohmann::json;

namespace {

constexpr std::int64_t kMin = 60'000;
constexpr std::int64_t kHour = 3'600'000;
constexpr std::int64_t kDay = 86'400'000;
constexpr std::int64_t kNov1 = 1'793'491'200'000;  // 2026-11-01T00:00:00Z
constexpr std::int64_t kDec1 = kNov1 + 30 * kDay;  // 2026-12-01T00:00:00Z
constexpr std::int64_t kNow = kDec1 + 12 * kHour;  // 2026-12-01T12:00:00Z

// 2026-11-<day> hh:mm UTC.
constexpr std::int64_t nov(int day, int hh, int mm = 0) { return kNov1 + (day - 1) * kDay + hh * kHour + mm * kMin; }

RolloutRecord rec(const std::string& app, const std::string& state, std::int64_t finished,
                  std::optional<std::int64_t> committed = std::nullopt, std::int64_t submitted = 0) {
  static int serial = 0;
  RolloutRecord r;
  r.id = "r" + std::to_string(++serial);
  r.app = app;
  r.version = "1.0." + std::to_string(serial);
  r.state = state;
  r.submitted_at_ms = submitted != 0 ? submitted : (finished > 0 ? finished - 5 * kMin : kNow - kHour);
  r.started_at_ms = r.submitted_at_ms;
  r.finished_at_ms = finished;
  r.committed_at_ms = committed;
  return r;
}

DoraReport report(const std::vector<RolloutRecord>& records, int days, std::int64_t now = kNow,
                  const std::string& app = "") {
  auto r = computeDora(records, MetricsQuery{app, days, now});
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.ok());
  return *r;
}

// A reference into `r`: copy out of it when `r` is a temporary.
const ScopeMetrics& appOf(const DoraReport& r, const std::string& app) {
  auto it = r.apps.find(app);
  REQUIRE(it != r.apps.end());
  return it->second;
}

}  // namespace

TEST_CASE("deployment frequency counts successes finished within the window ending now", "[metrics]") {
  std::vector<RolloutRecord> rs = {
      rec("web", "succeeded", kNow - 7 * kDay),      // exactly at the window start: out
      rec("web", "succeeded", kNow - 7 * kDay + 1),  // just inside
      rec("web", "succeeded", kDec1 - 1),            // 2026-11-30T23:59:59.999Z
      rec("web", "succeeded", kDec1),                // 2026-12-01T00:00:00.000Z
      rec("web", "succeeded", kNow),                 // exactly now: in
      rec("web", "succeeded", kNow + 1),             // after now: out
      rec("web", "running", 0),
      rec("web", "succeeded", 0),  // terminal but without a finish time: ignored
      rec("web", "failed", nov(30, 8)),
      rec("web", "aborted", nov(30, 9)),
      rec("web", "exploded", nov(30, 10)),  // unknown state: ignored
  };

  SECTION("7 days") {
    DoraReport r = report(rs, 7);
    const auto& df = appOf(r, "web").deployment_frequency;
    CHECK(df.deployments == 4);
    CHECK(df.per_day == 4.0 / 7.0);
    CHECK(df.band == DoraBand::kHigh);
  }
  SECTION("1 day: only the three since yesterday noon") {
    DoraReport r = report(rs, 1);
    const auto& df = appOf(r, "web").deployment_frequency;
    CHECK(df.deployments == 3);
    CHECK(df.per_day == 3.0);
    CHECK(df.band == DoraBand::kElite);
  }
  SECTION("30 days (default) takes in the one at the 7-day edge") {
    DoraReport r = report(rs, 30);
    const auto& df = appOf(r, "web").deployment_frequency;
    CHECK(df.deployments == 5);
    CHECK(df.per_day == 5.0 / 30.0);
    CHECK(df.band == DoraBand::kHigh);
    CHECK(r.window_start_ms == kNow - 30 * kDay);
  }
  SECTION("the window moves with now") {
    DoraReport r = report(rs, 1, kNow + 1);  // (Nov 30 12:00:00.001, Dec 1 12:00:00.001]
    CHECK(appOf(r, "web").deployment_frequency.deployments == 4);
  }
  SECTION("no deployment at all is low, not n/a") {
    DoraReport r = report({rec("web", "failed", nov(30, 8))}, 30);
    const auto& df = appOf(r, "web").deployment_frequency;
    CHECK(df.deployments == 0);
    CHECK(df.per_day == 0.0);
    CHECK(df.band == DoraBand::kLow);
  }
}

TEST_CASE("lead time is the median of finish minus committed_at over successes", "[metrics]") {
  std::vector<RolloutRecord> rs = {
      rec("web", "succeeded", kDec1 + 30 * kMin, kDec1 - 30 * kMin),   // 1h, across midnight
      rec("web", "succeeded", nov(29, 12), nov(29, 10)),               // 2h
      rec("web", "succeeded", nov(28, 18), std::nullopt, nov(28, 8)),  // 10h from submission
      rec("web", "failed", nov(27, 12), nov(1, 0)),                    // failures have no lead time
  };

  SECTION("odd count: the middle value") {
    const auto lt = appOf(report(rs, 30), "web").lead_time;
    REQUIRE(lt.median_seconds);
    CHECK(*lt.median_seconds == 7200.0);
    CHECK(lt.rollouts == 3);
    CHECK(lt.from_submission == 1);
    CHECK(lt.band == DoraBand::kElite);
  }
  SECTION("even count: the mean of the two middle values") {
    rs.push_back(rec("web", "succeeded", nov(22, 0), nov(20, 0)));  // 48h
    const auto lt = appOf(report(rs, 30), "web").lead_time;
    REQUIRE(lt.median_seconds);
    CHECK(*lt.median_seconds == 21600.0);  // (2h + 10h) / 2
    CHECK(lt.rollouts == 4);
    CHECK(lt.band == DoraBand::kElite);
  }
  SECTION("even count keeps half milliseconds") {
    std::vector<RolloutRecord> two = {rec("web", "succeeded", nov(20, 0) + 1000, nov(20, 0)),
                                      rec("web", "succeeded", nov(21, 0) + 1001, nov(21, 0))};
    const auto lt = appOf(report(two, 30), "web").lead_time;
    REQUIRE(lt.median_seconds);
    CHECK(*lt.median_seconds == 1.0005);
  }
  SECTION("a success outside the window is not in the sample") {
    const auto lt = appOf(report(rs, 1), "web").lead_time;  // only the 1h one
    REQUIRE(lt.median_seconds);
    CHECK(*lt.median_seconds == 3600.0);
    CHECK(lt.rollouts == 1);
    CHECK(lt.from_submission == 0);
  }
}

TEST_CASE("lead time falls back to submission, clamps skew and skips rollouts without times", "[metrics]") {
  std::vector<RolloutRecord> rs = {
      rec("web", "succeeded", nov(20, 12), std::int64_t{0}, nov(20, 11, 30)),  // committed_at 0: from submission, 30m
      rec("web", "succeeded", nov(21, 12), nov(21, 12, 5)),                    // committed after finish: 0
  };
  RolloutRecord no_times = rec("web", "succeeded", nov(22, 12));
  no_times.submitted_at_ms = 0;
  rs.push_back(no_times);

  const auto m = appOf(report(rs, 30), "web");
  CHECK(m.deployment_frequency.deployments == 3);
  REQUIRE(m.lead_time.median_seconds);
  CHECK(*m.lead_time.median_seconds == 900.0);  // (0 + 30m) / 2
  CHECK(m.lead_time.rollouts == 2);
  CHECK(m.lead_time.from_submission == 1);
}

TEST_CASE("lead time without a success is null and n/a", "[metrics]") {
  const auto lt = appOf(report({rec("web", "failed", nov(20, 0), nov(19, 0))}, 30), "web").lead_time;
  CHECK_FALSE(lt.median_seconds);
  CHECK(lt.rollouts == 0);
  CHECK(lt.band == DoraBand::kNone);
}

TEST_CASE("change failure rate counts failed and rolled back over finished, aborted apart", "[metrics]") {
  std::vector<RolloutRecord> rs;
  for (int d = 1; d <= 6; ++d) rs.push_back(rec("web", "succeeded", nov(10 + d, 12)));
  rs.push_back(rec("web", "failed", nov(20, 12)));
  rs.push_back(rec("web", "rolled_back", nov(21, 12)));
  rs.push_back(rec("web", "aborted", nov(22, 12)));
  rs.push_back(rec("web", "aborted", nov(23, 12)));
  rs.push_back(rec("web", "running", 0));
  rs.push_back(rec("web", "rolling_back", 0));
  rs.push_back(rec("web", "failed", nov(1, 12)));  // before the window

  const auto cfr = appOf(report(rs, 30), "web").change_failure_rate;
  REQUIRE(cfr.rate);
  CHECK(*cfr.rate == 0.25);
  CHECK(cfr.failed == 2);
  CHECK(cfr.finished == 8);
  CHECK(cfr.aborted == 2);
  CHECK(cfr.band == DoraBand::kHigh);
}

TEST_CASE("rework rate is unplanned deployments, by plan or by rollback, over deployments", "[metrics]") {
  std::vector<RolloutRecord> rs;
  for (int d = 1; d <= 6; ++d) rs.push_back(rec("web", "succeeded", nov(10 + d, 12)));
  auto hotfix = rec("web", "succeeded", nov(20, 12));
  hotfix.unplanned = true;  // [change] unplanned = true
  rs.push_back(hotfix);
  auto back = rec("web", "succeeded", nov(21, 12));
  back.unplanned = true;  // a rollback to an earlier release
  rs.push_back(back);
  auto failed_fix = rec("web", "failed", nov(22, 12));
  failed_fix.unplanned = true;  // not a deployment: not counted
  rs.push_back(failed_fix);
  auto old_fix = rec("web", "succeeded", nov(1, 12));
  old_fix.unplanned = true;  // before the window
  rs.push_back(old_fix);
  rs.push_back(rec("api", "succeeded", nov(23, 12)));

  const auto r = report(rs, 30);
  const auto web = appOf(r, "web").rework_rate;
  CHECK(web.deployments == 8);
  CHECK(web.unplanned == 2);
  REQUIRE(web.rate);
  CHECK(*web.rate == 0.25);
  CHECK(r.fleet->rework_rate.deployments == 9);
  CHECK(r.fleet->rework_rate.unplanned == 2);
  // No deployment, no rate.
  CHECK_FALSE(appOf(report({rec("db", "failed", nov(20, 12))}, 30), "db").rework_rate.rate);
  // In the JSON and on /metrics.
  const json j = toJson(r);
  CHECK(j["apps"]["web"]["rework_rate"] == json{{"rate", 0.25}, {"unplanned", 2}, {"deployments", 8}});
  const std::string text = toPrometheus(r);
  CHECK(text.find("\nflotilla_dora_rework_rate{app=\"web\"} 0.25\n") != std::string::npos);
  CHECK(text.find("\nflotilla_dora_unplanned_deployments 2\n") != std::string::npos);
}

TEST_CASE("change failure rate with only aborted rollouts is null and n/a", "[metrics]") {
  const auto cfr = appOf(report({rec("web", "aborted", nov(20, 0))}, 30), "web").change_failure_rate;
  CHECK_FALSE(cfr.rate);
  CHECK(cfr.failed == 0);
  CHECK(cfr.finished == 0);
  CHECK(cfr.aborted == 1);
  CHECK(cfr.band == DoraBand::kNone);
}

TEST_CASE("recovery time runs from a failure to the same app's next success", "[metrics]") {
  // Window of 7 days: (Nov 24 12:00, Dec 1 12:00].
  std::vector<RolloutRecord> rs = {
      rec("web", "failed", nov(24, 11)),           // before the window: not measured
      rec("web", "succeeded", nov(24, 13)),        //   its recovery lies in the window
      rec("web", "failed", nov(25, 10)),           // recovered after 1h
      rec("web", "rolled_back", nov(25, 10, 30)),  // recovered after 30m by the same success
      rec("web", "aborted", nov(25, 10, 45)),      // neither a failure nor a recovery
      rec("web", "succeeded", nov(25, 11)),
      rec("web", "failed", nov(27, 23)),  // recovered after 2h, across midnight
      rec("web", "succeeded", nov(28, 1)),
      rec("web", "failed", nov(30, 9)),       // unrecovered as of now
      rec("api", "succeeded", nov(30, 10)),   //   another app's success does not count
      rec("web", "succeeded", kNow + kHour),  //   nor a success after now
  };

  SECTION("as of now") {
    DoraReport r = report(rs, 7);
    const auto& web = appOf(r, "web");
    REQUIRE(web.recovery_time.median_seconds);
    CHECK(*web.recovery_time.median_seconds == 3600.0);  // 30m, 1h, 2h
    CHECK(web.recovery_time.recoveries == 3);
    CHECK(web.recovery_time.unrecovered == 1);
    CHECK(web.recovery_time.band == DoraBand::kHigh);  // exactly 1h is no longer elite
    CHECK(web.deployment_frequency.deployments == 3);
    CHECK(web.change_failure_rate.failed == 4);
    CHECK(web.change_failure_rate.finished == 7);
    CHECK(web.change_failure_rate.aborted == 1);
    CHECK(*web.change_failure_rate.rate == 4.0 / 7.0);
    CHECK(web.change_failure_rate.band == DoraBand::kLow);

    const auto& api = appOf(r, "api");
    CHECK_FALSE(api.recovery_time.median_seconds);
    CHECK(api.recovery_time.recoveries == 0);
    CHECK(api.recovery_time.unrecovered == 0);
    CHECK(api.recovery_time.band == DoraBand::kNone);
    CHECK(*api.change_failure_rate.rate == 0.0);
    CHECK(api.change_failure_rate.band == DoraBand::kElite);

    REQUIRE(r.fleet);
    CHECK(*r.fleet->recovery_time.median_seconds == 3600.0);
    CHECK(r.fleet->recovery_time.recoveries == 3);
    CHECK(r.fleet->recovery_time.unrecovered == 1);
    CHECK(r.fleet->deployment_frequency.deployments == 4);
    CHECK(*r.fleet->change_failure_rate.rate == 0.5);
  }
  SECTION("two hours later the last failure has recovered") {
    // Window (Nov 24 14:00, Dec 1 14:00]: the Nov 24 13:00 success has left it.
    const auto web = appOf(report(rs, 7, kNow + 2 * kHour), "web");
    REQUIRE(web.recovery_time.median_seconds);
    CHECK(*web.recovery_time.median_seconds == 5400.0);  // 30m, 1h, 2h, 28h: (1h + 2h) / 2
    CHECK(web.recovery_time.recoveries == 4);
    CHECK(web.recovery_time.unrecovered == 0);
    CHECK(web.deployment_frequency.deployments == 3);
  }
}

TEST_CASE("fleet recovery pools each app's own recoveries", "[metrics]") {
  std::vector<RolloutRecord> rs = {
      rec("web", "failed", nov(10, 12)),         // web: 50m
      rec("api", "succeeded", nov(10, 12, 5)),   //   not web's recovery
      rec("web", "succeeded", nov(10, 12, 50)),  //   web recovers
      rec("api", "failed", nov(11, 12)),         // api: 10m
      rec("api", "succeeded", nov(11, 12, 10)),  //   api recovers
  };
  DoraReport r = report(rs, 30);
  CHECK(*appOf(r, "web").recovery_time.median_seconds == 3000.0);
  CHECK(*appOf(r, "api").recovery_time.median_seconds == 600.0);
  REQUIRE(r.fleet);
  CHECK(*r.fleet->recovery_time.median_seconds == 1800.0);  // (10m + 50m) / 2
  CHECK(r.fleet->recovery_time.recoveries == 2);
  CHECK(r.fleet->recovery_time.band == DoraBand::kElite);
}

TEST_CASE("fleet and per-app figures are kept apart", "[metrics]") {
  std::vector<RolloutRecord> rs = {
      rec("web", "succeeded", nov(20, 12), nov(20, 11)),  // 1h
      rec("web", "succeeded", nov(21, 12), nov(21, 9)),   // 3h
      rec("api", "succeeded", nov(22, 12), nov(19, 12)),  // 3 days
      rec("api", "failed", nov(23, 12)),
      rec("old", "succeeded", nov(1, 0)),  // only before the window: still listed
  };

  SECTION("no filter: the fleet and every app") {
    DoraReport r = report(rs, 30);
    REQUIRE(r.fleet);
    CHECK(r.fleet->deployment_frequency.deployments == 3);
    CHECK(r.fleet->deployment_frequency.per_day == 0.1);
    CHECK(*r.fleet->lead_time.median_seconds == 10800.0);  // 1h, 3h, 72h
    CHECK(*r.fleet->change_failure_rate.rate == 0.25);
    REQUIRE(r.apps.size() == 3);
    CHECK(*appOf(r, "web").lead_time.median_seconds == 7200.0);
    CHECK(*appOf(r, "api").lead_time.median_seconds == 259200.0);
    CHECK(appOf(r, "api").lead_time.band == DoraBand::kHigh);
    CHECK(*appOf(r, "api").change_failure_rate.rate == 0.5);
    CHECK(*appOf(r, "web").change_failure_rate.rate == 0.0);
    CHECK(appOf(r, "old").deployment_frequency.deployments == 0);
    CHECK_FALSE(appOf(r, "old").change_failure_rate.rate);
  }
  SECTION("an app filter: that app only, no fleet") {
    DoraReport r = report(rs, 30, kNow, "api");
    CHECK_FALSE(r.fleet);
    REQUIRE(r.apps.size() == 1);
    CHECK(appOf(r, "api").deployment_frequency.deployments == 1);
    CHECK(appOf(r, "api").change_failure_rate.failed == 1);
  }
  SECTION("an unknown app is reported empty") {
    DoraReport r = report(rs, 30, kNow, "nosuch");
    REQUIRE(r.apps.size() == 1);
    const auto& m = appOf(r, "nosuch");
    CHECK(m.deployment_frequency.deployments == 0);
    CHECK(m.deployment_frequency.band == DoraBand::kLow);
    CHECK(m.lead_time.band == DoraBand::kNone);
    CHECK(m.change_failure_rate.band == DoraBand::kNone);
    CHECK(m.recovery_time.band == DoraBand::kNone);
  }
}

TEST_CASE("computeDora rejects a window under a day and a missing now", "[metrics]") {
  auto zero = computeDora({}, MetricsQuery{"", 0, kNow});
  REQUIRE_FALSE(zero.ok());
  CHECK(zero.error().code == Errc::kInvalidArgument);
  auto negative = computeDora({}, MetricsQuery{"", -3, kNow});
  REQUIRE_FALSE(negative.ok());
  auto no_now = computeDora({}, MetricsQuery{"", 30, 0});
  REQUIRE_FALSE(no_now.ok());
  CHECK(no_now.error().code == Errc::kInvalidArgument);
}

TEST_CASE("deployment frequency bands: >= 1/day, >= 1/week, >= 1/30 days", "[metrics]") {
  CHECK(deploymentFrequencyBand(30, 30) == DoraBand::kElite);
  CHECK(deploymentFrequencyBand(1, 1) == DoraBand::kElite);
  CHECK(deploymentFrequencyBand(29, 30) == DoraBand::kHigh);
  CHECK(deploymentFrequencyBand(1, 7) == DoraBand::kHigh);
  CHECK(deploymentFrequencyBand(5, 30) == DoraBand::kHigh);    // 1 per 6 days
  CHECK(deploymentFrequencyBand(4, 30) == DoraBand::kMedium);  // 1 per 7.5 days
  CHECK(deploymentFrequencyBand(1, 8) == DoraBand::kMedium);
  CHECK(deploymentFrequencyBand(1, 30) == DoraBand::kMedium);
  CHECK(deploymentFrequencyBand(1, 31) == DoraBand::kLow);
  CHECK(deploymentFrequencyBand(0, 30) == DoraBand::kLow);
}

TEST_CASE("lead time bands: < 1 day, < 1 week, < 30 days", "[metrics]") {
  CHECK(leadTimeBand(0.0) == DoraBand::kElite);
  CHECK(leadTimeBand(kDay - 0.5) == DoraBand::kElite);
  CHECK(leadTimeBand(kDay) == DoraBand::kHigh);
  CHECK(leadTimeBand(7 * kDay - 0.5) == DoraBand::kHigh);
  CHECK(leadTimeBand(7 * kDay) == DoraBand::kMedium);
  CHECK(leadTimeBand(30 * kDay - 1) == DoraBand::kMedium);
  CHECK(leadTimeBand(30 * kDay) == DoraBand::kLow);
  CHECK(leadTimeBand(200 * kDay) == DoraBand::kLow);
}

TEST_CASE("change failure rate bands: nearest cluster, cut at 7.5%, 15%, 30%", "[metrics]") {
  CHECK(changeFailureRateBand(0, 1) == DoraBand::kElite);
  CHECK(changeFailureRateBand(3, 40) == DoraBand::kElite);   // 7.5%
  CHECK(changeFailureRateBand(1, 13) == DoraBand::kMedium);  // 7.7%
  CHECK(changeFailureRateBand(1, 10) == DoraBand::kMedium);  // medium's own 10%
  CHECK(changeFailureRateBand(3, 20) == DoraBand::kMedium);  // 15%
  CHECK(changeFailureRateBand(4, 26) == DoraBand::kHigh);    // 15.4%
  CHECK(changeFailureRateBand(1, 5) == DoraBand::kHigh);     // high's own 20%
  CHECK(changeFailureRateBand(3, 10) == DoraBand::kHigh);    // 30%
  CHECK(changeFailureRateBand(4, 13) == DoraBand::kLow);     // 30.8%
  CHECK(changeFailureRateBand(1, 1) == DoraBand::kLow);
  CHECK(changeFailureRateBand(0, 0) == DoraBand::kNone);
}

TEST_CASE("recovery time bands: < 1 hour elite, < 1 day high, else low", "[metrics]") {
  CHECK(recoveryTimeBand(0.0) == DoraBand::kElite);
  CHECK(recoveryTimeBand(kHour - 0.5) == DoraBand::kElite);
  CHECK(recoveryTimeBand(kHour) == DoraBand::kHigh);
  CHECK(recoveryTimeBand(kDay - 0.5) == DoraBand::kHigh);
  CHECK(recoveryTimeBand(kDay) == DoraBand::kLow);
  CHECK(recoveryTimeBand(40 * kDay) == DoraBand::kLow);
}

TEST_CASE("band names", "[metrics]") {
  using flotilla::coordinator::toString;
  CHECK(std::string(toString(DoraBand::kElite)) == "elite");
  CHECK(std::string(toString(DoraBand::kHigh)) == "high");
  CHECK(std::string(toString(DoraBand::kMedium)) == "medium");
  CHECK(std::string(toString(DoraBand::kLow)) == "low");
  CHECK(std::string(toString(DoraBand::kNone)) == "n/a");
}

TEST_CASE("toJson has stable names, seconds, and null with n/a for missing data", "[metrics]") {
  std::vector<RolloutRecord> rs = {rec("web", "succeeded", nov(20, 12), nov(20, 10)),  // 2h
                                   rec("web", "aborted", nov(21, 12))};
  json j = toJson(report(rs, 30));

  std::set<std::string> top;
  for (auto& [k, v] : j.items()) top.insert(k);
  CHECK(top == std::set<std::string>{"app", "window_days", "window_start", "generated_at", "fleet", "apps"});
  CHECK(j["app"].is_null());
  CHECK(j["window_days"] == 30);
  CHECK(j["generated_at"] == "2026-12-01T12:00:00Z");
  CHECK(j["window_start"] == "2026-11-01T12:00:00Z");
  REQUIRE(j["apps"].contains("web"));
  CHECK(j["apps"].size() == 1);
  CHECK(j["fleet"] == j["apps"]["web"]);

  const json& web = j["apps"]["web"];
  CHECK(web["deployment_frequency"] ==
        json{{"per_day", 1.0 / 30.0}, {"deployments", 1}, {"flag_changes", 0}, {"band", "medium"}});
  CHECK(web["lead_time"] ==
        json{{"median_seconds", 7200.0}, {"rollouts", 1}, {"from_submission", 0}, {"band", "elite"}});
  CHECK(web["change_failure_rate"] ==
        json{{"rate", 0.0}, {"failed", 0}, {"flag_failed", 0}, {"finished", 1}, {"aborted", 1}, {"band", "elite"}});
  CHECK(web["recovery_time"] ==
        json{{"median_seconds", nullptr}, {"recoveries", 0}, {"unrecovered", 0}, {"band", "n/a"}});

  json one = toJson(report(rs, 7, kNow, "web"));
  CHECK(one["app"] == "web");
  CHECK(one["fleet"].is_null());
  CHECK(one["window_days"] == 7);
  CHECK(one["apps"]["web"]["deployment_frequency"]["deployments"] == 0);
  CHECK(one["apps"]["web"]["lead_time"]["median_seconds"].is_null());
  CHECK(one["apps"]["web"]["lead_time"]["band"] == "n/a");
  CHECK(one["apps"]["web"]["change_failure_rate"]["rate"].is_null());
}

TEST_CASE("toPrometheus exports gauges with HELP and TYPE, fleet without an app label", "[metrics]") {
  std::vector<RolloutRecord> rs = {rec("web", "succeeded", nov(20, 12), nov(20, 10)),  // 2h
                                   rec("web", "failed", nov(21, 12)),
                                   rec("we\"b\\", "succeeded", nov(22, 12), nov(22, 11, 30))};
  std::string text = toPrometheus(report(rs, 30));
  auto has = [&](const std::string& s) {
    INFO(s);
    CHECK(text.find(s) != std::string::npos);
  };

  has("# HELP flotilla_dora_window_seconds ");
  has("# TYPE flotilla_dora_window_seconds gauge\nflotilla_dora_window_seconds 2592000\n");
  CHECK(text.find("window_days") == std::string::npos);
  has("# TYPE flotilla_dora_deployment_frequency_per_day gauge\n");
  has("\nflotilla_dora_deployment_frequency_per_day 0.06666666666666667\n");
  has("\nflotilla_dora_deployment_frequency_per_day{app=\"web\"} 0.03333333333333333\n");
  has("\nflotilla_dora_deployments 2\n");
  has("\nflotilla_dora_deployments{app=\"web\"} 1\n");
  has("\nflotilla_dora_lead_time_seconds{app=\"web\"} 7200\n");
  has("\nflotilla_dora_lead_time_seconds 4500\n");  // (30m + 2h) / 2
  has("\nflotilla_dora_lead_time_from_submission{app=\"web\"} 0\n");
  has("\nflotilla_dora_change_failure_rate{app=\"web\"} 0.5\n");
  has("\nflotilla_dora_change_failures{app=\"web\"} 1\n");
  has("\nflotilla_dora_finished_rollouts{app=\"web\"} 2\n");
  has("\nflotilla_dora_aborted_rollouts{app=\"web\"} 0\n");
  has("\nflotilla_dora_unrecovered_failures{app=\"web\"} 1\n");
  has("\nflotilla_dora_recoveries 0\n");
  has("\nflotilla_dora_band{key=\"deployment_frequency\",band=\"medium\"} 1\n");
  has("\nflotilla_dora_band{app=\"web\",key=\"change_failure_rate\",band=\"low\"} 1\n");
  has("\nflotilla_dora_band{app=\"web\",key=\"recovery_time\",band=\"n/a\"} 1\n");
  has("\nflotilla_dora_deployments{app=\"we\\\"b\\\\\"} 1\n");
  CHECK(text.find("flotilla_dora_recovery_time_seconds{") == std::string::npos);  // no data: no sample
  CHECK(text.find("\nflotilla_dora_recovery_time_seconds ") == std::string::npos);
  CHECK(text.find("NaN") == std::string::npos);

  // Every sample belongs to a family announced by HELP and TYPE lines before it.
  std::set<std::string> helped, typed;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    INFO(line);
    REQUIRE_FALSE(line.empty());
    std::istringstream words(line);
    std::string first, name;
    words >> first;
    if (first == "#") {
      std::string kind;
      words >> kind >> name;
      (kind == "HELP" ? helped : typed).insert(name);
      continue;
    }
    name = first.substr(0, first.find('{'));
    CHECK(helped.count(name) == 1);
    CHECK(typed.count(name) == 1);
  }
  CHECK(text.back() == '\n');
}

namespace {

// A flag rollout of `app`: a push, or with `kill` a kill (as FlagRollouts names them).
RolloutRecord flagRec(const std::string& app, const std::string& state, std::int64_t finished, bool kill,
                      std::int64_t submitted = 0) {
  RolloutRecord r = rec("flags:" + app, state, finished, std::nullopt, submitted);
  r.plan_name = kill ? "flag kill new-ui" : "flag push flags.json";
  r.unplanned = kill;
  return r;
}

}  // namespace

TEST_CASE("flag rollouts are deployments of their app, counted apart as flag changes", "[metrics][flags]") {
  const std::vector<RolloutRecord> records{
      rec("web", "succeeded", nov(20, 10)), flagRec("web", "succeeded", nov(21, 10), false),
      flagRec("web", "rolled_back", nov(22, 10), false), flagRec("web", "succeeded", nov(22, 11), false)};
  DoraReport r = report(records, 30);
  REQUIRE(r.apps.count("web") == 1);
  CHECK(r.apps.count("flags:web") == 0);
  const ScopeMetrics& web = r.apps.at("web");
  CHECK(web.deployment_frequency.deployments == 3);
  CHECK(web.deployment_frequency.flag_changes == 2);
  CHECK(web.change_failure_rate.failed == 1);
  CHECK(web.change_failure_rate.flag_failed == 1);
  CHECK(web.change_failure_rate.finished == 4);
  CHECK(web.recovery_time.recoveries == 1);
  CHECK(*web.recovery_time.median_seconds == Approx(3600.0));
  CHECK(r.fleet->deployment_frequency.flag_changes == 2);
  // Asked for by app, flag rollouts are the app's.
  DoraReport only = report(records, 30, kNow, "web");
  CHECK(only.apps.at("web").deployment_frequency.deployments == 3);
  auto j = toJson(r);
  CHECK(j["apps"]["web"]["deployment_frequency"]["flag_changes"] == 2);
  CHECK(j["apps"]["web"]["change_failure_rate"]["flag_failed"] == 1);
  CHECK(toPrometheus(r).find("flotilla_dora_flag_deployments{app=\"web\"} 2") != std::string::npos);
}

TEST_CASE("a kill fails the flag push it remedies, recovers it and is rework", "[metrics][flags]") {
  // Pushed at 10:00 (done 10:05), killed at 12:00 (done 12:00:30).
  const std::int64_t killed_at = nov(21, 12);
  const std::vector<RolloutRecord> records{flagRec("web", "succeeded", nov(21, 10, 5), false, nov(21, 10)),
                                           flagRec("web", "succeeded", killed_at + 30'000, true, killed_at)};
  const ScopeMetrics web = report(records, 30).apps.at("web");
  CHECK(web.change_failure_rate.failed == 1);
  CHECK(web.change_failure_rate.flag_failed == 1);
  CHECK(web.change_failure_rate.finished == 2);
  CHECK(web.deployment_frequency.deployments == 1);  // the kill; the push failed
  CHECK(web.recovery_time.recoveries == 1);
  CHECK(*web.recovery_time.median_seconds == Approx(30.0));
  CHECK(web.rework_rate.unplanned == 1);
  CHECK(*web.rework_rate.rate == Approx(1.0));
}

TEST_CASE("a kill superseding a push in progress fails it, an earlier failure stays as it was", "[metrics][flags]") {
  const std::int64_t killed_at = nov(21, 12);
  // The push was aborted by the kill: a failed change, not an operator's abort.
  const std::vector<RolloutRecord> superseded{flagRec("web", "aborted", killed_at, false, nov(21, 11)),
                                              flagRec("web", "succeeded", killed_at + 10'000, true, killed_at)};
  const ScopeMetrics a = report(superseded, 30).apps.at("web");
  CHECK(a.change_failure_rate.aborted == 0);
  CHECK(a.change_failure_rate.flag_failed == 1);
  CHECK(*a.recovery_time.median_seconds == Approx(10.0));
  // A push rolled back already is one failure, not two; a release is never remedied by a kill.
  const std::vector<RolloutRecord> rolled{rec("web", "succeeded", nov(21, 9)),
                                          flagRec("web", "rolled_back", nov(21, 11), false, nov(21, 10)),
                                          flagRec("web", "succeeded", killed_at + 10'000, true, killed_at)};
  const ScopeMetrics b = report(rolled, 30).apps.at("web");
  CHECK(b.change_failure_rate.failed == 1);
  CHECK(b.deployment_frequency.deployments == 2);
  // A push an operator aborted the day before was not aborted by the kill: it stays an abort.
  const std::vector<RolloutRecord> earlier{flagRec("web", "aborted", nov(20, 11), false, nov(20, 10)),
                                           flagRec("web", "succeeded", killed_at + 10'000, true, killed_at)};
  const ScopeMetrics c = report(earlier, 30).apps.at("web");
  CHECK(c.change_failure_rate.aborted == 1);
  CHECK(c.change_failure_rate.failed == 0);
}
