#include "flotilla/agent/journal.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "flotilla/common/fs.h"
#include "support/cluster.h"

namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using flotilla::Errc;
using flotilla::agent::AppState;
using flotilla::agent::FinishedOrder;
using flotilla::agent::InFlightOrder;
using flotilla::agent::Journal;
using flotilla::agent::JournalState;
using flotilla::agent::OrderLedger;
using flotilla::agent::ReleaseInfo;
using flotilla::protocol::OrderBody;
using flotilla::protocol::Phase;
using flotilla::protocol::Report;
using flotilla::testing::TempDir;

// Spec bytes are msgpack, so they hold NULs and high bytes; the journal must keep them exactly.
const std::string kBinarySpec = std::string(
                                    "\x82\xa6"
                                    "deploy\x00\xff\x7f",
                                    11) +
                                std::string(1, '\0');

JournalState sampleState() {
  JournalState s;
  AppState web;
  web.current = "1.4.2";
  web.previous = "1.4.1";
  web.sequence = 17;
  web.releases["1.4.1"] = ReleaseInfo{std::string(64, 'a'), kBinarySpec};
  web.releases["1.4.2"] = ReleaseInfo{std::string(64, 'b'), "plain"};
  web.last_order =
      FinishedOrder{"ord-8", 17, "deploy", "1.4.2", Phase::kHealthy, "healthy for 10s", "1.4.2", 1700000000123};
  s.apps["web"] = web;
  AppState api;
  api.sequence = std::numeric_limits<std::uint64_t>::max();
  s.apps["api"] = api;
  InFlightOrder o;
  o.order_id = "ord-9";
  o.app = "web";
  o.version = "1.5.0";
  o.previous = "1.4.2";
  o.previous_previous = "1.4.1";
  o.action = "deploy";
  o.sequence = 18;
  o.phase = "probation";
  o.digest = std::string(64, 'c');
  o.spec = kBinarySpec;
  s.order = o;
  return s;
}

void requireSame(const JournalState& a, const JournalState& b) {
  REQUIRE(a.apps.size() == b.apps.size());
  for (const auto& [name, x] : a.apps) {
    INFO("app " << name);
    REQUIRE(b.apps.count(name) == 1);
    const auto& y = b.apps.at(name);
    CHECK(x.current == y.current);
    CHECK(x.previous == y.previous);
    CHECK(x.sequence == y.sequence);
    CHECK(x.last_order == y.last_order);
    REQUIRE(x.releases.size() == y.releases.size());
    for (const auto& [v, r] : x.releases) {
      INFO("release " << v);
      REQUIRE(y.releases.count(v) == 1);
      CHECK(r.digest == y.releases.at(v).digest);
      CHECK(r.spec == y.releases.at(v).spec);
    }
  }
  REQUIRE(a.order.has_value() == b.order.has_value());
  if (a.order) {
    const auto& x = *a.order;
    const auto& y = *b.order;
    CHECK(x.order_id == y.order_id);
    CHECK(x.app == y.app);
    CHECK(x.version == y.version);
    CHECK(x.previous == y.previous);
    CHECK(x.previous_previous == y.previous_previous);
    CHECK(x.action == y.action);
    CHECK(x.sequence == y.sequence);
    CHECK(x.phase == y.phase);
    CHECK(x.digest == y.digest);
    CHECK(x.spec == y.spec);
  }
}

// parse() must refuse `text` with kCorrupt and a message containing `hint`.
void requireParseError(const std::string& text, const std::string& hint) {
  INFO("journal text: " << text);
  auto r = Journal::parse(text);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::kCorrupt);
  CHECK_THAT(r.error().message, Contains(hint));
}

void writeText(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

}  // namespace

TEST_CASE("journal: serialize then parse gives the same state", "[journal]") {
  const JournalState s = sampleState();
  auto parsed = Journal::parse(Journal::serialize(s));
  REQUIRE(parsed.ok());
  requireSame(s, *parsed);
}

TEST_CASE("journal: a state without an order in flight round-trips without one", "[journal]") {
  JournalState s = sampleState();
  s.order.reset();
  const std::string text = Journal::serialize(s);
  CHECK_FALSE(nlohmann::json::parse(text).contains("order"));
  auto parsed = Journal::parse(text);
  REQUIRE(parsed.ok());
  CHECK_FALSE(parsed->order.has_value());
  requireSame(s, *parsed);
}

TEST_CASE("journal: an empty state round-trips", "[journal]") {
  auto parsed = Journal::parse(Journal::serialize(JournalState{}));
  REQUIRE(parsed.ok());
  CHECK(parsed->apps.empty());
  CHECK_FALSE(parsed->order.has_value());
}

TEST_CASE("journal: serialized text is a versioned JSON object with hex specs", "[journal]") {
  const auto j = nlohmann::json::parse(Journal::serialize(sampleState()));
  CHECK(j.at("version") == 1);
  CHECK(j.at("apps").at("web").at("current") == "1.4.2");
  CHECK(j.at("apps").at("web").at("releases").at("1.4.2").at("spec") == "706c61696e");  // "plain"
  CHECK(j.at("order").at("phase") == "probation");
}

TEST_CASE("journal: missing optional fields take their defaults", "[journal]") {
  auto parsed = Journal::parse(R"({"version":1,"apps":{"web":{}},"order":null})");
  REQUIRE(parsed.ok());
  REQUIRE(parsed->apps.count("web") == 1);
  const auto& web = parsed->apps.at("web");
  CHECK(web.current.empty());
  CHECK(web.previous.empty());
  CHECK(web.sequence == 0);
  CHECK(web.releases.empty());
  CHECK_FALSE(parsed->order.has_value());
}

TEST_CASE("journal: each app's last finished order round-trips", "[journal]") {
  JournalState s = sampleState();
  s.apps["api"].last_order = FinishedOrder{"ord-3", 3, "rollback", "0.9", Phase::kRevertFailed, "", "", -5};
  auto parsed = Journal::parse(Journal::serialize(s));
  REQUIRE(parsed.ok());
  REQUIRE(parsed->apps.at("web").last_order.has_value());
  CHECK(*parsed->apps.at("web").last_order == *s.apps.at("web").last_order);
  CHECK(*parsed->apps.at("api").last_order == *s.apps.at("api").last_order);
  const auto j = nlohmann::json::parse(Journal::serialize(s));
  CHECK(j.at("apps").at("web").at("last_order").at("phase") == "healthy");
  CHECK(j.at("apps").at("web").at("last_order").at("id") == "ord-8");
}

TEST_CASE("journal: a journal written before last_order existed still loads", "[journal]") {
  // The exact shape an agent without last_order wrote (version 1).
  auto parsed = Journal::parse(R"({"apps":{"web":{"current":"2","previous":"1","releases":{"2":{"digest":"","spec":""}},
    "sequence":4}},"order":{"id":"o-5","app":"web","version":"3","previous":"2","action":"deploy","sequence":5,
    "phase":"probation","digest":"","spec":""},"version":1})");
  REQUIRE(parsed.ok());
  CHECK(parsed->apps.at("web").current == "2");
  CHECK_FALSE(parsed->apps.at("web").last_order.has_value());
  CHECK(parsed->order->previous_previous.empty());
  // And what this agent writes for it has no last_order either.
  CHECK_FALSE(nlohmann::json::parse(Journal::serialize(*parsed)).at("apps").at("web").contains("last_order"));
}

TEST_CASE("journal: a last_order that is not a terminal report is refused", "[journal]") {
  auto with = [](const std::string& last) { return R"({"version":1,"apps":{"web":{"last_order":)" + last + "}}}"; };
  requireParseError(with("[]"), "apps.web.last_order must be an object");
  requireParseError(with(R"({"id":"o","phase":"probation"})"), "apps.web.last_order.phase");
  requireParseError(with(R"({"id":"o","phase":"exploded"})"), "apps.web.last_order.phase");
  requireParseError(with(R"({"id":"o","phase":"healthy","sequence":"7"})"), "'sequence'");
  requireParseError(with(R"({"id":"o","phase":"healthy","at_ms":1.5})"), "'at_ms'");
  requireParseError(with(R"({"id":"o","phase":"healthy","at_ms":18446744073709551615})"), "'at_ms'");
}

TEST_CASE("journal: text that is not a JSON object is refused", "[journal]") {
  requireParseError("", "not a JSON object");
  requireParseError("{", "not a JSON object");
  requireParseError("{\"version\":1,}", "not a JSON object");
  requireParseError("[1,2]", "not a JSON object");
  requireParseError("null", "not a JSON object");
  requireParseError("\"journal\"", "not a JSON object");
  requireParseError(std::string("{\"version\":1,\"apps\":{\"w\xff\":{}}}"), "not a JSON object");
}

TEST_CASE("journal: a missing or unsupported version is refused", "[journal]") {
  requireParseError(R"({"apps":{}})", "unsupported journal version");
  requireParseError(R"({"version":0})", "unsupported journal version");
  requireParseError(R"({"version":2,"apps":{}})", "unsupported journal version");
  requireParseError(R"({"version":"1"})", "'version' must be an unsigned integer");
  requireParseError(R"({"version":-1})", "'version' must be an unsigned integer");
  requireParseError(R"({"version":1.0})", "'version' must be an unsigned integer");
}

TEST_CASE("journal: fields of the wrong type are refused with their name", "[journal]") {
  requireParseError(R"({"version":1,"apps":[]})", "'apps' must be an object");
  requireParseError(R"({"version":1,"apps":{"web":"1.0"}})", "apps.web must be an object");
  requireParseError(R"({"version":1,"apps":{"web":{"current":1}}})", "'current' must be a string");
  requireParseError(R"({"version":1,"apps":{"web":{"previous":null}}})", "'previous' must be a string");
  requireParseError(R"({"version":1,"apps":{"web":{"sequence":"3"}}})", "'sequence' must be an unsigned integer");
  requireParseError(R"({"version":1,"apps":{"web":{"sequence":-3}}})", "'sequence' must be an unsigned integer");
  requireParseError(R"({"version":1,"apps":{"web":{"sequence":1.5}}})", "'sequence' must be an unsigned integer");
  requireParseError(R"({"version":1,"apps":{"web":{"releases":[]}}})", "apps.web.releases must be an object");
  requireParseError(R"({"version":1,"apps":{"web":{"releases":{"1.0":"x"}}}})",
                    "apps.web.releases.1.0 must be an object");
  requireParseError(R"({"version":1,"apps":{"web":{"releases":{"1.0":{"digest":7}}}}})", "'digest' must be a string");
  requireParseError(R"({"version":1,"order":[]})", "'order' must be an object");
  requireParseError(R"({"version":1,"order":{"id":5}})", "'id' must be a string");
  requireParseError(R"({"version":1,"order":{"sequence":true}})", "'sequence' must be an unsigned integer");
  requireParseError(R"({"version":1,"order":{"phase":["probation"]}})", "'phase' must be a string");
}

TEST_CASE("journal: spec fields that are not hex are refused", "[journal]") {
  requireParseError(R"({"version":1,"apps":{"web":{"releases":{"1.0":{"spec":"zz"}}}}})",
                    "apps.web.releases.1.0.spec: bad hex");
  requireParseError(R"({"version":1,"apps":{"web":{"releases":{"1.0":{"spec":"abc"}}}}})",
                    "apps.web.releases.1.0.spec: bad hex");
  requireParseError(R"({"version":1,"order":{"spec":"0g"}})", "order.spec: bad hex");
  requireParseError(R"({"version":1,"order":{"spec":"a"}})", "order.spec: bad hex");
}

TEST_CASE("journal: deeply nested JSON is refused without crashing", "[journal]") {
  const std::size_t depth = 100000;
  std::string text = R"({"version":1,"apps":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
  auto r = Journal::parse(text);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::kCorrupt);
}

TEST_CASE("journal: open() on a directory without a journal starts empty", "[journal]") {
  TempDir tmp("flotilla-journal");
  const fs::path state_dir = tmp.path() / "state" / "nested";
  auto j = Journal::open(state_dir);
  REQUIRE(j.ok());
  CHECK(j->state().apps.empty());
  CHECK_FALSE(j->state().order.has_value());
  // The state directory is created private; nothing is written until save().
  CHECK(fs::is_directory(state_dir));
  struct stat st {};
  REQUIRE(::stat(state_dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  CHECK_FALSE(fs::exists(state_dir / "journal.json"));
}

TEST_CASE("journal: save() then open() restores the state", "[journal]") {
  TempDir tmp("flotilla-journal");
  {
    auto j = Journal::open(tmp.path());
    REQUIRE(j.ok());
    j->state() = sampleState();
    REQUIRE(j->save().ok());
  }
  auto again = Journal::open(tmp.path());
  REQUIRE(again.ok());
  requireSame(sampleState(), again->state());
}

TEST_CASE("journal: save() replaces the previous content and leaves no temp files", "[journal]") {
  TempDir tmp("flotilla-journal");
  auto j = Journal::open(tmp.path());
  REQUIRE(j.ok());
  j->state() = sampleState();
  REQUIRE(j->save().ok());
  j->state().order.reset();
  j->state().apps.erase("api");
  REQUIRE(j->save().ok());

  auto again = Journal::open(tmp.path());
  REQUIRE(again.ok());
  CHECK_FALSE(again->state().order.has_value());
  CHECK(again->state().apps.count("api") == 0);
  CHECK(again->state().apps.count("web") == 1);

  std::size_t entries = 0;
  for (const auto& e : fs::directory_iterator(tmp.path())) {
    INFO("entry " << e.path());
    CHECK(e.path().filename() == "journal.json");
    ++entries;
  }
  CHECK(entries == 1);
}

TEST_CASE("journal: the file is written with mode 0600", "[journal]") {
  TempDir tmp("flotilla-journal");
  auto j = Journal::open(tmp.path());
  REQUIRE(j.ok());
  j->state() = sampleState();
  REQUIRE(j->save().ok());
  struct stat st {};
  REQUIRE(::stat((tmp.path() / "journal.json").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("journal: open() on a corrupt file is an error naming the file", "[journal]") {
  TempDir tmp("flotilla-journal");
  const fs::path file = tmp.path() / "journal.json";

  SECTION("truncated JSON") {
    auto full = Journal::serialize(sampleState());
    writeText(file, full.substr(0, full.size() / 2));
    auto j = Journal::open(tmp.path());
    REQUIRE_FALSE(j.ok());
    CHECK(j.error().code == Errc::kCorrupt);
    CHECK_THAT(j.error().message, Contains(file.string()));
    CHECK_THAT(j.error().message, Contains("not a JSON object"));
  }
  SECTION("a newer journal version") {
    writeText(file, R"({"version":2,"apps":{}})");
    auto j = Journal::open(tmp.path());
    REQUIRE_FALSE(j.ok());
    CHECK_THAT(j.error().message, Contains(file.string()));
    CHECK_THAT(j.error().message, Contains("unsupported journal version"));
  }
  SECTION("an empty file") {
    writeText(file, "");
    auto j = Journal::open(tmp.path());
    REQUIRE_FALSE(j.ok());
    CHECK_THAT(j.error().message, Contains(file.string()));
  }
}

// Bug: serialize() hands strings to nlohmann::json::dump() with the default
// strict UTF-8 handling, so a name that is not valid UTF-8 (an order id or
// digest is any msgpack string the coordinator signed; decodeOrderBody checks
// only app, version and action) makes dump() throw json::type_error out of
// serialize() and Journal::save(), and from there out of Deployer::execute()
// on the agent's worker thread. STYLE.md: no exception crosses a module
// boundary. save() should return an error (or escape the bytes), not throw.
TEST_CASE("journal: strings that are not UTF-8 do not make save() throw", "[journal]") {
  TempDir tmp("flotilla-journal");
  auto j = Journal::open(tmp.path());
  REQUIRE(j.ok());
  j->state() = sampleState();
  j->state().order->order_id = "ord-\xff\xfe";
  CHECK_NOTHROW(Journal::serialize(j->state()));
  CHECK_NOTHROW((void)j->save());
}

// ---------------------------------------------------------------------------
// OrderLedger: which orders are repeats, and what to report again

namespace {

OrderBody body(const std::string& id, const std::string& app, std::uint64_t sequence) {
  OrderBody b;
  b.order_id = id;
  b.app = app;
  b.version = "v" + std::to_string(sequence);
  b.sequence = sequence;
  return b;
}

Report report(const OrderBody& b, Phase phase, const std::string& live = "") {
  Report r;
  r.order_id = b.order_id;
  r.app = b.app;
  r.version = b.version;
  r.sequence = b.sequence;
  r.phase = phase;
  r.live_version = live;
  return r;
}

}  // namespace

TEST_CASE("ledger: a new order is not a repeat", "[journal][ledger]") {
  OrderLedger ledger;
  CHECK_FALSE(ledger.repeatOf(body("o-1", "web", 1)).repeat);
  CHECK(ledger.latestReports().empty());
}

TEST_CASE("ledger: the order in hand is a repeat answered with its latest report", "[journal][ledger]") {
  OrderLedger ledger;
  const auto o = body("o-1", "web", 1);
  ledger.accepted(o);
  // Queued, nothing reported yet: a repeat with nothing to say.
  auto queued = ledger.repeatOf(o);
  CHECK(queued.repeat);
  CHECK_FALSE(queued.latest.has_value());

  ledger.reported(report(o, Phase::kFetching));
  ledger.reported(report(o, Phase::kProbation, "v1"));
  auto busy = ledger.repeatOf(o);
  REQUIRE(busy.latest.has_value());
  CHECK(busy.latest->phase == Phase::kProbation);
  CHECK(busy.latest->order_id == "o-1");
  REQUIRE(ledger.latestReports().size() == 1);
  CHECK(ledger.latestReports()[0].phase == Phase::kProbation);
}

TEST_CASE("ledger: the app's last finished order is a repeat answered with its terminal report", "[journal][ledger]") {
  OrderLedger ledger;
  const auto first = body("o-1", "web", 1), second = body("o-2", "web", 2);
  for (const auto& o : {first, second}) {
    ledger.accepted(o);
    ledger.reported(report(o, Phase::kAccepted));
    ledger.reported(report(o, Phase::kReverted, "v0"));
  }
  auto again = ledger.repeatOf(second);
  REQUIRE(again.latest.has_value());
  CHECK(again.latest->phase == Phase::kReverted);
  CHECK(again.latest->live_version == "v0");
  // Only the last finished order per app is remembered: an older one is new
  // to the ledger (and the agent refuses it as a replay).
  CHECK_FALSE(ledger.repeatOf(first).repeat);
  REQUIRE(ledger.latestReports().size() == 1);
  CHECK(ledger.latestReports()[0].order_id == "o-2");
}

TEST_CASE("ledger: the same order id with another app or sequence is not a repeat", "[journal][ledger]") {
  OrderLedger ledger;
  const auto o = body("o-1", "web", 3);
  ledger.accepted(o);
  ledger.reported(report(o, Phase::kHealthy, "v3"));
  CHECK(ledger.repeatOf(o).repeat);
  CHECK_FALSE(ledger.repeatOf(body("o-1", "web", 4)).repeat);
  CHECK_FALSE(ledger.repeatOf(body("o-1", "api", 3)).repeat);
  CHECK_FALSE(ledger.repeatOf(body("o-2", "web", 3)).repeat);
}

TEST_CASE("ledger: latestReports gives one report per app finished and per order in hand", "[journal][ledger]") {
  OrderLedger ledger;
  const auto web = body("w-1", "web", 1), api = body("a-1", "api", 1), web2 = body("w-2", "web", 2);
  ledger.accepted(web);
  ledger.reported(report(web, Phase::kHealthy, "v1"));
  ledger.accepted(api);
  ledger.reported(report(api, Phase::kFailed));
  ledger.accepted(web2);
  ledger.reported(report(web2, Phase::kRestarting, "v2"));
  auto all = ledger.latestReports();
  REQUIRE(all.size() == 3);
  // Finished orders first, then the one in hand, so its phase is the last word.
  CHECK(all[2].order_id == "w-2");
  CHECK(all[2].phase == Phase::kRestarting);
  std::set<std::string> ids{all[0].order_id, all[1].order_id};
  CHECK(ids == std::set<std::string>{"w-1", "a-1"});
}

TEST_CASE("ledger: seeded from the journal it knows the last finished orders and the order in flight",
          "[journal][ledger]") {
  const JournalState s = sampleState();
  OrderLedger ledger(s);
  auto finished = ledger.repeatOf(body("ord-8", "web", 17));
  REQUIRE(finished.latest.has_value());
  const Report r = *finished.latest;
  CHECK(r.phase == Phase::kHealthy);
  CHECK(r.app == "web");
  CHECK(r.version == "1.4.2");
  CHECK(r.message == "healthy for 10s");
  CHECK(r.live_version == "1.4.2");
  CHECK(r.at_ms == 1700000000123);
  // The order in flight is a repeat until recover() reports how it ended.
  auto in_flight = ledger.repeatOf(body("ord-9", "web", 18));
  CHECK(in_flight.repeat);
  CHECK_FALSE(in_flight.latest.has_value());
  ledger.reported(report(body("ord-9", "web", 18), Phase::kReverted, "1.4.2"));
  REQUIRE(ledger.repeatOf(body("ord-9", "web", 18)).latest.has_value());
  CHECK_FALSE(ledger.repeatOf(body("ord-8", "web", 17)).repeat);
}
