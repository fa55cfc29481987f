#include "flotilla/coordinator/rollout_driver.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <set>

#include "flotilla/common/duration.h"
#include "support/fake_clock.h"
#include "support/temp_dir.h"

using namespace flotilla::coordinator;
using flotilla::Errc;
using flotilla::Error;
using flotilla::Result;
using flotilla::Status;
using flotilla::protocol::Phase;
using flotilla::testing::FakeClock;
using flotilla::testing::TempDir;

namespace {

// The SQLite store, with writes of hosts holding an order that fail (as on a
// full disk) and a commit that can be made to fail.
class FlakyStore final : public Store {
 public:
  explicit FlakyStore(std::unique_ptr<Store> real) : real_(std::move(real)) {}

  std::size_t fail_order_hosts = 0;  // how many writes of a host with an order fail
  bool fail_commit = false;

  Status begin() override { return real_->begin(); }
  Status commit() override {
    if (fail_commit) return Error(Errc::kIo, "disk I/O error");
    return real_->commit();
  }
  Status upsertAgent(const AgentRecord& a) override { return real_->upsertAgent(a); }
  Result<std::vector<AgentRecord>> loadAgents() override { return real_->loadAgents(); }
  Status putRelease(const ReleaseRecord& r) override { return real_->putRelease(r); }
  Result<std::optional<ReleaseRecord>> release(const std::string& app, const std::string& version) override {
    return real_->release(app, version);
  }
  Status insertRollout(const RolloutRecord& r) override { return real_->insertRollout(r); }
  Status updateRollout(const RolloutRecord& r) override { return real_->updateRollout(r); }
  Result<std::optional<RolloutRecord>> rollout(const std::string& id) override { return real_->rollout(id); }
  Result<std::vector<RolloutRecord>> rollouts(const std::string& app, std::size_t limit) override {
    return real_->rollouts(app, limit);
  }
  Result<std::int64_t> countRollouts(const std::string& app) override { return real_->countRollouts(app); }
  Result<std::vector<RolloutRecord>> unfinishedRollouts() override { return real_->unfinishedRollouts(); }
  Result<std::vector<WaveDuration>> waveDurations() override { return real_->waveDurations(); }
  Result<std::int64_t> appendEvent(const EventRecord& e) override { return real_->appendEvent(e); }
  Result<std::vector<EventRecord>> events(const std::string& id, std::int64_t after) override {
    return real_->events(id, after);
  }
  Result<std::vector<EventRecord>> eventsAfter(std::int64_t after, std::size_t limit) override {
    return real_->eventsAfter(after, limit);
  }
  Result<std::int64_t> lastEventSeq() override { return real_->lastEventSeq(); }
  Result<std::uint64_t> nextSequence(const std::string& app) override { return real_->nextSequence(app); }
  Result<std::uint64_t> reserveSequences(const std::string& app, std::uint64_t n) override {
    return real_->reserveSequences(app, n);
  }
  Status setCurrentRelease(const AppRecord& a) override { return real_->setCurrentRelease(a); }
  Result<std::vector<AppRecord>> apps() override { return real_->apps(); }
  Result<std::map<std::string, std::string>> currentReleases() override { return real_->currentReleases(); }
  Status putRolloutHost(const std::string& id, const RolloutHostRecord& h) override {
    if (!h.order_id.empty() && fail_order_hosts > 0) {
      --fail_order_hosts;
      return Error(Errc::kIo, "database or disk is full");
    }
    return real_->putRolloutHost(id, h);
  }
  Result<std::vector<RolloutHostRecord>> rolloutHosts(const std::string& id) override {
    return real_->rolloutHosts(id);
  }
  Result<std::optional<std::string>> hostState(const std::string& id, const std::string& agent) override {
    return real_->hostState(id, agent);
  }
  Status putToken(const TokenRecord& t) override { return real_->putToken(t); }
  Result<bool> useToken(const std::string& hash, std::int64_t now_ms) override { return real_->useToken(hash, now_ms); }
  Status appendSamples(const std::vector<SampleRecord>& s) override { return real_->appendSamples(s); }
  Result<std::vector<SampleRecord>> samples(const std::string& id, int wave) override {
    return real_->samples(id, wave);
  }
  Status putVerdict(const VerdictRecord& v) override { return real_->putVerdict(v); }
  Result<std::vector<VerdictRecord>> verdicts(const std::string& id) override { return real_->verdicts(id); }

 private:
  std::unique_ptr<Store> real_;
};

std::string hostName(std::size_t i) { return "h" + std::to_string(i); }

// One wave of every host; `waves` adds to the [waves] table.
std::string planText(const std::string& waves = "") {
  const std::string head = "app = \"web\"\nversion = \"2\"\nartifact.file = \"web.tar.gz\"\n";
  return head + "[waves]\nsizes = [\"100%\"]\nmax_parallel = 1000\n" + waves;
}

// The driver with the parts Server gives it, a real store in `dir`, and hooks
// that do what Server's do: commit, note failures, and "send" the outbox.
struct Rig {
  Rig(const TempDir& dir, std::size_t hosts) : file(dir.path() / "store.db") {
    auto s = openStore({.file = file});
    REQUIRE(s.ok());
    store = std::make_unique<FlakyStore>(std::move(*s));
    std::vector<AgentRecord> records;
    for (std::size_t i = 0; i < hosts; ++i) {
      AgentRecord rec;
      rec.id = hostName(i);
      rec.state = "accepted";
      rec.releases["web"] = "1";
      records.push_back(rec);
    }
    agents.load(std::move(records));
    for (std::size_t i = 0; i < hosts; ++i) {
      Agent* a = agents.find(hostName(i));
      a->online = true;
      a->routing_id = "rid-" + a->record.id;
    }
    RolloutDriver::Hooks hooks;
    hooks.store_failed = [this](const Error& e) {
      failures.push_back(e.message);
      write_failed = true;
    };
    hooks.commit = [this]() -> Status {
      FLOTILLA_TRY(store->commit());
      if (write_failed) return Error(Errc::kIo, failures.back());
      return {};
    };
    hooks.commit_and_flush = [this] { commitAndFlush(); };
    hooks.converge = [this](Agent& a) { converged.push_back(a.record.id); };
    hooks.send_control = [](const std::string&, const std::string&) { return true; };
    analysis = std::make_unique<ReleaseAnalysis>(
        *store, agents, clock,
        ReleaseAnalysis::Hooks{[this](const std::string& agent_id, const std::string& frame) {
                                 sample_requests.emplace_back(agent_id, frame);
                               },
                               [this](const Error& e) { failures.push_back(e.message); }});
    driver = std::make_unique<RolloutDriver>(
        RolloutDriver::Parts{*store, agents, orders, events, watchers, convergence, *analysis, clock}, std::move(hooks),
        std::chrono::seconds(30));
    REQUIRE(store->begin().ok());
  }

  // What Server does at the end of a reactor iteration: commit, then send.
  void commitAndFlush() {
    if (auto st = store->commit(); !st.ok()) {
      failures.push_back(st.error().message);
      write_failed = true;
    }
    if (write_failed)
      resave = true;
    else
      driver->committed();
    // What a fresh reader of the file sees when these orders leave.
    auto reader = openStore({.file = file, .read_only = true});
    REQUIRE(reader.ok());
    auto ids = storedOrderIds(**reader);
    for (auto& o : orders.takeOutbox()) {
      sent_durable = sent_durable && ids.count(o.body.order_id) > 0;
      sent.push_back(std::move(o));
    }
  }

  // The next reactor iteration: a transaction, the re-save a failure asked for, the rollouts' pass.
  void iterate() {
    write_failed = false;
    REQUIRE(store->begin().ok());
    if (resave) {
      resave = false;
      driver->resave();
    }
    driver->advance(clock.steadyNow());
    commitAndFlush();
  }

  std::set<std::string> storedOrderIds(Store& s) const {
    std::set<std::string> ids;
    auto hosts = s.rolloutHosts(rollout_id);
    REQUIRE(hosts.ok());
    for (const auto& h : *hosts)
      if (!h.order_id.empty()) ids.insert(h.order_id);
    return ids;
  }

  std::string start(const std::string& waves = "", std::optional<ApprovalState> approval = std::nullopt) {
    const std::string text = planText(waves);
    auto plan = flotilla::protocol::parsePlan(text, "web.toml", "");
    REQUIRE(plan.ok());
    RolloutStart s{std::move(*plan), text,  "web.toml",         std::string(64, 'd'), 42, "ann",
                   "rollout",        "sig", std::move(approval)};
    rollout_id = "web-1";  // known before the first chunk leaves
    auto id = driver->start(std::move(s));
    REQUIRE(id.ok());
    REQUIRE(*id == rollout_id);
    return *id;
  }

  // An agent's report, as Server routes it: a terminal phase closes the order first.
  void report(const std::string& agent, Phase phase) {
    const ActiveRollout* r = driver->find(rollout_id);
    REQUIRE(r);
    const HostSlot* slot = r->engine->host(agent);
    REQUIRE(slot);
    OrderRef* open = orders.find(slot->order_id);
    REQUIRE(open);
    const OrderRef ref = *open;
    if (flotilla::protocol::isTerminal(phase)) orders.close(slot->order_id);
    driver->onReport(ref, agent, phase, "");
  }

  std::vector<std::string> eventKinds() {
    auto evs = store->events(rollout_id, 0);
    REQUIRE(evs.ok());
    std::vector<std::string> kinds;
    for (const auto& e : *evs) kinds.push_back(e.kind);
    return kinds;
  }

  std::filesystem::path file;
  FakeClock clock;
  std::unique_ptr<FlakyStore> store;
  AgentRegistry agents;
  OrderBook orders;
  Watchers watchers;
  Convergence convergence;
  EventLog events{clock, [this](const EventRecord& e) { return store->appendEvent(e); },
                  [this](const EventRecord& e) { driver->publishEvent(e); }};
  std::unique_ptr<ReleaseAnalysis> analysis;
  std::vector<std::pair<std::string, std::string>> sample_requests;  // agent id, frame
  std::unique_ptr<RolloutDriver> driver;
  std::string rollout_id;
  std::vector<std::string> failures, converged;
  bool write_failed = false, resave = false;
  bool sent_durable = true;  // every order sent was in the store when it left
  std::vector<OutgoingOrder> sent;
};

std::size_t countOf(const std::vector<std::string>& v, const std::string& s) {
  return static_cast<std::size_t>(std::count(v.begin(), v.end(), s));
}

}  // namespace

TEST_CASE("rollout driver: a start opens one order per online host, with consecutive sequences",
          "[coordinator][rollout_driver]") {
  TempDir dir;
  Rig rig(dir, 5);
  const auto id = rig.start();
  CHECK(id == "web-1");
  CHECK(rig.driver->activeOf("web") == id);
  CHECK(rig.driver->appActive("web"));
  // Queued, not sent: they leave at the end of the iteration, after the commit.
  CHECK(rig.sent.empty());
  auto outbox = rig.orders.takeOutbox();
  REQUIRE(outbox.size() == 5);
  std::vector<std::uint64_t> seqs;
  std::set<std::string> to;
  for (const auto& o : outbox) {
    seqs.push_back(o.body.sequence);
    to.insert(o.agent_id);
    CHECK(o.body.order_id == id + "/" + o.agent_id + "/" + std::to_string(o.body.sequence));
  }
  std::sort(seqs.begin(), seqs.end());
  CHECK(seqs == std::vector<std::uint64_t>{1, 2, 3, 4, 5});
  CHECK(to.size() == 5);
  CHECK(rig.orders.size() == 5);
  const auto kinds = rig.eventKinds();
  CHECK(countOf(kinds, "submitted") == 1);
  CHECK(countOf(kinds, "order_sent") == 5);
  CHECK(rig.failures.empty());
}

TEST_CASE("rollout driver: an offline host gets no order and the engine hears it is lost",
          "[coordinator][rollout_driver]") {
  TempDir dir;
  Rig rig(dir, 3);
  rig.agents.find("h1")->online = false;
  rig.start("max_unreachable = 1\n");
  auto outbox = rig.orders.takeOutbox();
  CHECK(outbox.size() == 2);
  const HostSlot* h1 = rig.driver->find(rig.rollout_id)->engine->host("h1");
  REQUIRE(h1);
  CHECK(h1->state == HostState::kUnreachable);
}

// A coordinator just started (restarted, or a standby that took over) has
// heard from nobody yet: a known agent not back is expected back until its
// rejoin_until, and its order waits for it instead of failing the wave.
TEST_CASE("rollout driver: a host not back yet since the coordinator started gets its order when it returns",
          "[coordinator][rollout_driver][ha]") {
  TempDir dir;
  Rig rig(dir, 3);
  Agent* h1 = rig.agents.find("h1");
  h1->online = false;
  h1->routing_id.clear();
  h1->rejoin_until = rig.clock.steadyNow() + std::chrono::seconds(15);
  rig.start("max_unreachable = 0\n");
  CHECK(rig.orders.takeOutbox().size() == 2);
  const auto* engine = rig.driver->find(rig.rollout_id)->engine.get();
  CHECK(engine->host("h1")->state == HostState::kDeploying);
  const std::vector<std::string> held(rig.orders.ofAgent("h1").begin(), rig.orders.ofAgent("h1").end());
  REQUIRE(held.size() == 1);

  // It says hello 9 s later: the order held for it leaves (Server::resendOrders).
  rig.clock.advance(std::chrono::seconds(9));
  h1->online = true;
  h1->routing_id = "rid-h1";
  rig.driver->queueOrder(held.front());
  const auto outbox = rig.orders.takeOutbox();
  REQUIRE(outbox.size() == 1);
  CHECK(outbox.front().agent_id == "h1");
  CHECK(outbox.front().body.order_id == held.front());
  CHECK(engine->host("h1")->state == HostState::kDeploying);
  CHECK(rig.agents.notBack(rig.clock.steadyNow() + std::chrono::seconds(60)).empty());
}

TEST_CASE("rollout driver: a host not back by its rejoin_until is unreachable then, not before",
          "[coordinator][rollout_driver][ha]") {
  TempDir dir;
  Rig rig(dir, 3);
  Agent* h1 = rig.agents.find("h1");
  h1->online = false;
  h1->routing_id.clear();
  h1->rejoin_until = rig.clock.steadyNow() + std::chrono::seconds(15);
  rig.start("max_unreachable = 1\n");
  const auto* engine = rig.driver->find(rig.rollout_id)->engine.get();
  rig.clock.advance(std::chrono::milliseconds(14999));
  CHECK(rig.agents.notBack(rig.clock.steadyNow()).empty());
  CHECK(engine->host("h1")->state == HostState::kDeploying);
  // What Server::sweepLiveness does with the agents not back.
  rig.clock.advance(std::chrono::milliseconds(1));
  const auto late = rig.agents.notBack(rig.clock.steadyNow());
  REQUIRE(late.size() == 1);
  CHECK(late.front()->record.id == "h1");
  for (Agent* a : late) rig.driver->onRejoinMissed(a->record.id, rig.clock.steadyNow());
  CHECK(engine->host("h1")->state == HostState::kUnreachable);
  // Once: it is no longer awaited.
  CHECK(rig.agents.notBack(rig.clock.steadyNow()).empty());
  CHECK_FALSE(AgentRegistry::awaited(*h1, rig.clock.steadyNow()));
}

TEST_CASE("rollout driver: reports move the engine, success records the app's current release",
          "[coordinator][rollout_driver]") {
  TempDir dir;
  Rig rig(dir, 2);
  const auto id = rig.start();
  rig.iterate();
  CHECK(rig.sent.size() == 2);
  CHECK(rig.sent_durable);
  rig.report("h0", Phase::kAccepted);
  CHECK(rig.driver->find(id)->engine->host("h0")->phase == "accepted");
  rig.report("h0", Phase::kHealthy);
  rig.report("h1", Phase::kHealthy);
  rig.iterate();
  CHECK(rig.driver->size() == 0);
  CHECK(rig.driver->find(id) == nullptr);
  CHECK_FALSE(rig.driver->appActive("web"));
  auto rec = rig.store->rollout(id);
  REQUIRE(rec.ok());
  REQUIRE(rec->has_value());
  CHECK((*rec)->state == "succeeded");
  CHECK((*rec)->finished_at_ms > 0);
  auto current = rig.store->currentReleases();
  REQUIRE(current.ok());
  CHECK(current->at("web") == "2");
  CHECK(rig.convergence.current().at("web").current_rollout == id);
  CHECK(countOf(rig.eventKinds(), "rollout_succeeded") == 1);
}

TEST_CASE("rollout driver: an aborted rollout closes its open orders", "[coordinator][rollout_driver]") {
  TempDir dir;
  Rig rig(dir, 3);
  const auto id = rig.start();
  rig.iterate();
  REQUIRE(rig.orders.size() == 3);
  ActiveRollout* r = rig.driver->find(id);
  REQUIRE(r);
  REQUIRE(r->engine->abort(rig.clock.steadyNow()).ok());
  rig.driver->operatorActed(*r, "abort", "aborted by ann", "ann");
  rig.iterate();
  CHECK(rig.driver->size() == 0);
  CHECK(rig.orders.size() == 0);
  auto rec = rig.store->rollout(id);
  REQUIRE(rec.ok());
  REQUIRE(rec->has_value());
  CHECK((*rec)->state != "succeeded");
  CHECK((*rec)->finished_at_ms > 0);
  auto current = rig.store->currentReleases();
  REQUIRE(current.ok());
  CHECK(current->count("web") == 0);
}

TEST_CASE("rollout driver: after a restart, orders in hand open again under the same ids",
          "[coordinator][rollout_driver]") {
  TempDir dir;
  std::map<std::string, std::uint64_t> in_hand;  // order id -> sequence
  {
    Rig rig(dir, 3);
    rig.start();
    rig.iterate();
    rig.report("h0", Phase::kHealthy);
    rig.iterate();
    for (const auto& o : rig.sent)
      if (o.agent_id != "h0") in_hand[o.body.order_id] = o.body.sequence;
    REQUIRE(in_hand.size() == 2);
  }
  Rig rig(dir, 3);
  rig.rollout_id = "web-1";
  REQUIRE(rig.driver->restore().ok());
  REQUIRE(rig.store->commit().ok());
  CHECK(rig.driver->activeOf("web") == "web-1");
  REQUIRE(rig.orders.size() == 2);
  for (const auto& [order_id, seq] : in_hand) {
    const OrderRef* ref = rig.orders.find(order_id);
    REQUIRE(ref);
    CHECK(ref->sequence == seq);
  }
  // Their agents are online: the orders are queued again, unchanged.
  auto outbox = rig.orders.takeOutbox();
  REQUIRE(outbox.size() == 2);
  for (const auto& o : outbox) CHECK(in_hand.count(o.body.order_id) == 1);
  CHECK(countOf(rig.eventKinds(), "rollout_resumed") == 1);
  CHECK(rig.driver->find("web-1")->engine->host("h0")->state == HostState::kHealthy);
}

TEST_CASE("rollout driver: a large wave is committed and sent in chunks", "[coordinator][rollout_driver]") {
  TempDir dir;
  Rig rig(dir, 600);
  rig.start();
  // The first chunk left during the wave, and only once the store had it.
  CHECK(rig.sent.size() == RolloutDriver::kOrderChunk);
  CHECK(rig.sent_durable);
  rig.iterate();
  CHECK(rig.sent.size() == 600);
  CHECK(rig.sent_durable);
  std::set<std::uint64_t> seqs;
  for (const auto& o : rig.sent) seqs.insert(o.body.sequence);
  CHECK(seqs.size() == 600);
  CHECK(*seqs.begin() == 1);
  CHECK(*seqs.rbegin() == 600);
  CHECK(rig.failures.empty());
}

TEST_CASE("rollout driver: a store failure mid-wave is reported and the rollout is saved in full again",
          "[coordinator][rollout_driver]") {
  TempDir dir;
  Rig rig(dir, 600);
  // The first chunk's transaction misses 50 of its hosts.
  rig.store->fail_order_hosts = 50;
  rig.start();
  REQUIRE_FALSE(rig.failures.empty());
  CHECK(rig.failures.front() == "database or disk is full");
  CHECK(rig.resave);
  const auto engine_orders = [&] {
    std::set<std::string> ids;
    for (const auto& h : rig.driver->find(rig.rollout_id)->engine->hosts())
      if (!h.order_id.empty()) ids.insert(h.order_id);
    return ids;
  };
  CHECK(rig.storedOrderIds(*rig.store).size() < engine_orders().size());
  // The next iteration re-saves every host: the store has the whole rollout.
  rig.iterate();
  rig.iterate();
  CHECK_FALSE(rig.resave);
  CHECK(engine_orders().size() == 600);
  CHECK(rig.storedOrderIds(*rig.store) == engine_orders());
}

TEST_CASE("rollout driver: a rollout whose first commit fails does not start", "[coordinator][rollout_driver]") {
  TempDir dir;
  Rig rig(dir, 3);
  rig.store->fail_commit = true;
  const std::string text = planText();
  auto plan = flotilla::protocol::parsePlan(text, "web.toml", "");
  REQUIRE(plan.ok());
  auto id = rig.driver->start(RolloutStart{std::move(*plan), text, "web.toml", std::string(64, 'd'), 42, "ann",
                                           "rollout", "sig", std::nullopt});
  REQUIRE_FALSE(id.ok());
  CHECK(id.error().code == Errc::kUnavailable);
  CHECK(id.error().message.find("disk I/O error") != std::string::npos);
  CHECK(rig.driver->size() == 0);
  CHECK_FALSE(rig.driver->appActive("web"));
  CHECK(rig.orders.size() == 0);
  CHECK(rig.orders.outboxEmpty());
  CHECK(rig.failures == std::vector<std::string>{"disk I/O error"});
}

TEST_CASE("rollout driver: a lost host reaches the engine", "[coordinator][rollout_driver]") {
  TempDir dir;
  Rig rig(dir, 2);
  const auto id = rig.start("max_unreachable = 1\n");
  rig.iterate();
  rig.driver->onHostLost("h1", rig.clock.steadyNow());
  CHECK(rig.driver->find(id)->engine->host("h1")->state == HostState::kUnreachable);
}

TEST_CASE("rollout driver: an unhealthy app reaches the engine of its rollout only", "[coordinator][rollout_driver]") {
  TempDir dir;
  Rig rig(dir, 3);
  const auto id = rig.start();
  rig.iterate();
  rig.report("h0", Phase::kHealthy);
  CHECK(rig.driver->find(id)->engine->host("h0")->state == HostState::kHealthy);
  rig.driver->onUnhealthy("other-app", "h0");
  CHECK(rig.driver->find(id)->engine->host("h0")->state == HostState::kHealthy);
  rig.driver->onUnhealthy("web", "h0");
  CHECK(rig.driver->find(id)->engine->host("h0")->state != HostState::kHealthy);
}

TEST_CASE("rollout driver: an app unhealthy during its flag rollout's bake fails that host of the flag rollout",
          "[coordinator][rollout_driver][flags]") {
  TempDir dir;
  Rig rig(dir, 3);
  // A flag set of web (flags:web) rolls out; web's own health is what judges it.
  const std::string text =
      "app = \"flags:web\"\nversion = \"f-1\"\nartifact.file = \"flags.json\"\n"
      "[waves]\nsizes = [\"100%\"]\nmax_parallel = 1000\nbake = \"1h\"\n";
  auto plan = flotilla::protocol::parsePlan(text, "flag push flags.json", "");
  REQUIRE(plan.ok());
  rig.rollout_id = "flags:web-1";
  auto id = rig.driver->start(RolloutStart{std::move(*plan), text, "flag push flags.json", std::string(64, 'd'), 42,
                                           "ann", "rollout", "", std::nullopt});
  REQUIRE(id.ok());
  rig.rollout_id = *id;
  rig.iterate();
  rig.report("h0", Phase::kHealthy);
  REQUIRE(rig.driver->find(*id)->engine->host("h0")->state == HostState::kHealthy);
  rig.driver->onUnhealthy("web", "h0");
  CHECK(rig.driver->find(*id)->engine->host("h0")->state != HostState::kHealthy);
}

TEST_CASE(
    "rollout driver: a rollout awaiting approval sends nothing, keeps its approvals across a restart, and "
    "approvals expire",
    "[coordinator][rollout_driver][policy]") {
  TempDir dir;
  const std::string bob = "operator:bbbbbbbbbbbbbbbb";
  {
    Rig rig(dir, 3);
    ApprovalState approval;
    approval.submitter = "operator:aaaaaaaaaaaaaaaa";
    approval.required = 2;
    approval.ttl = std::chrono::hours(1);
    rig.start("", approval);
    ActiveRollout* r = rig.driver->find("web-1");
    REQUIRE(r);
    CHECK(r->engine->state() == RolloutState::kAwaitingApproval);
    r->approval->add(bob, flotilla::common::toUnixMillis(rig.clock.systemNow()));
    r->store_stale = true;
    rig.iterate();
    CHECK(rig.sent.empty());
    CHECK(rig.orders.takeOutbox().empty());
    CHECK(countOf(rig.eventKinds(), "awaiting_approval") == 1);
  }
  Rig rig(dir, 3);
  rig.rollout_id = "web-1";
  REQUIRE(rig.driver->restore().ok());
  REQUIRE(rig.store->commit().ok());
  ActiveRollout* r = rig.driver->find("web-1");
  REQUIRE(r);
  CHECK(r->engine->state() == RolloutState::kAwaitingApproval);
  REQUIRE(r->approval);
  REQUIRE(r->approval->approvals.size() == 1);
  CHECK(r->approval->approvals[0].by == bob);
  CHECK(rig.orders.takeOutbox().empty());
  // An hour later bob's approval no longer counts, and the record says so.
  rig.clock.advance(std::chrono::minutes(59));
  REQUIRE(rig.store->begin().ok());
  rig.driver->sweepApprovals([](const ActiveRollout&) { return std::string(); });
  CHECK(r->approval->approvals.size() == 1);
  rig.clock.advance(std::chrono::minutes(1));
  rig.driver->sweepApprovals([](const ActiveRollout&) { return std::string(); });
  rig.driver->advance(rig.clock.steadyNow());
  rig.commitAndFlush();
  CHECK(r->approval->approvals.empty());
  CHECK(countOf(rig.eventKinds(), "approval_expired") == 1);
}

TEST_CASE("rollout driver: an approved rollout waits while a freeze is closed, then starts",
          "[coordinator][rollout_driver][policy]") {
  TempDir dir;
  Rig rig(dir, 3);
  ApprovalState approval;
  approval.submitter = "operator:aaaaaaaaaaaaaaaa";
  approval.required = 1;
  approval.ttl = std::chrono::hours(1);
  rig.start("", approval);
  ActiveRollout* r = rig.driver->find("web-1");
  REQUIRE(r);
  r->approval->add("operator:bbbbbbbbbbbbbbbb", flotilla::common::toUnixMillis(rig.clock.systemNow()));
  REQUIRE(rig.store->begin().ok());
  rig.driver->sweepApprovals([](const ActiveRollout&) { return std::string("freeze weekend"); });
  CHECK(r->engine->state() == RolloutState::kAwaitingApproval);
  CHECK(rig.orders.takeOutbox().empty());
  rig.driver->sweepApprovals([](const ActiveRollout&) { return std::string(); });
  CHECK(r->engine->state() == RolloutState::kRunning);
  rig.commitAndFlush();
  CHECK(countOf(rig.eventKinds(), "hold_lifted") == 1);
  CHECK_FALSE(rig.sent.empty());
}

TEST_CASE("rollout driver: a version names one artifact for good", "[coordinator][rollout_driver]") {
  TempDir dir;
  Rig rig(dir, 2);
  rig.start();
  REQUIRE(rig.driver->find("web-1")->engine->abort(rig.clock.steadyNow()).ok());
  rig.iterate();
  REQUIRE_FALSE(rig.driver->appActive("web"));
  const std::string text = planText("");
  auto plan = flotilla::protocol::parsePlan(text, "web.toml", "");
  REQUIRE(plan.ok());
  auto other = rig.driver->start(
      RolloutStart{*plan, text, "web.toml", std::string(64, 'e'), 42, "ann", "rollout", "sig", std::nullopt});
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().code == Errc::kConflict);
  CHECK(other.error().message.find("exists with another artifact") != std::string::npos);
  // The same artifact again is the same release: it may go out again.
  auto same = rig.driver->start(
      RolloutStart{*plan, text, "web.toml", std::string(64, 'd'), 42, "ann", "rollout", "sig", std::nullopt});
  CHECK(same.ok());
}

TEST_CASE("rollout driver: at start, approvals by identities that may no longer approve stop counting",
          "[coordinator][rollout_driver][policy]") {
  TempDir dir;
  Rig rig(dir, 3);
  ApprovalState approval;
  approval.submitter = "operator:aaaaaaaaaaaaaaaa";
  approval.required = 2;
  approval.ttl = std::chrono::hours(1);
  rig.start("", approval);
  ActiveRollout* r = rig.driver->find("web-1");
  REQUIRE(r);
  const auto now_ms = flotilla::common::toUnixMillis(rig.clock.systemNow());
  r->approval->add("operator:bbbbbbbbbbbbbbbb", now_ms);
  r->approval->add("operator:cccccccccccccccc", now_ms);
  // The configuration now lists cid and dan only: bob's key was taken out.
  ApprovalPolicy policy;
  policy.required = 2;
  policy.approvers = {"operator:cccccccccccccccc", "operator:dddddddddddddddd"};
  auto gate = ApprovalGate::make(policy, {});
  REQUIRE(gate.ok());
  REQUIRE(rig.store->begin().ok());
  rig.driver->forgetIneligibleApprovals(*gate);
  REQUIRE(rig.store->commit().ok());
  REQUIRE(r->approval->approvals.size() == 1);
  CHECK(r->approval->approvals[0].by == "operator:cccccccccccccccc");
  CHECK(countOf(rig.eventKinds(), "approval_dropped") == 1);
  CHECK(r->engine->state() == RolloutState::kAwaitingApproval);
}
