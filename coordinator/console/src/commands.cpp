#include "flotilla/console/commands.h"

#include "flotilla/protocol/order.h"

#include "flotilla/common/fs.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "console_calls.h"
#include "flotilla/common/crypto.h"
#include "flotilla/console/render.h"
#include "flotilla/console/upload.h"
#include "flotilla/console/watch.h"
#include "flotilla/protocol/control.h"
#include "flotilla/protocol/plan.h"

namespace flotilla::console {

namespace control = protocol::control;

namespace {

volatile std::sig_atomic_t g_interrupted = 0;

// Interrupted watches exit like a process killed by SIGINT would.
constexpr int kExitInterrupted = 130;

Result<std::string> readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(Errc::kIo, "cannot read " + path.string() + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Error(Errc::kIo, "cannot read " + path.string());
  return text.str();
}

json replyData(json reply) {
  reply.erase("type");
  reply.erase("req");
  reply.erase("ok");
  return reply;
}

// While a watch runs, SIGINT and SIGTERM set g_interrupted (through
// Console::interrupt) instead of ending the process, so the loop can say that
// the rollout goes on; the previous handlers come back when the watch ends.
class InterruptGuard {
 public:
  explicit InterruptGuard(void (*handler)(int)) {
    g_interrupted = 0;
    struct sigaction sa {};
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: let the poll return
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~InterruptGuard() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

std::size_t totalHosts(const control::RolloutStatus& status) {
  std::size_t n = 0;
  for (const auto& w : status.waves) n += w.hosts;
  return n;
}

}  // namespace

Console::Console(ConsoleOptions options, std::ostream& out, std::ostream& err)
    : options_(std::move(options)), out_(out), err_(err) {}

Console::~Console() = default;

void Console::interrupt() { g_interrupted = 1; }

int Console::fail(const Error& e) { return fail(e, exitCodeForError(e.code)); }

int Console::fail(const Error& e, int exit_code) {
  if (options_.json) {
    out_ << errorDoc(e).dump() << "\n";
    out_.flush();
  } else {
    err_ << "flotilla: " << e.message << "\n";
  }
  return exit_code;
}

Result<ControlClient*> Console::client() {
  if (client_) return client_.get();
  if (options_.control.empty())
    return Error(Errc::kInvalidArgument,
                 "no control endpoint: pass --control ipc://DIR/control.sock or set FLOTILLA_CONTROL");
  ClientOptions co;
  co.endpoint = options_.control;
  co.timeout = common::Millis(static_cast<std::int64_t>(options_.timeout_seconds * 1000));
  co.operator_name = options_.operator_name;
  co.key_file = options_.key_file;
  co.coordinator_key = options_.coordinator_key;
  auto c = ControlClient::connect(std::move(co));
  if (!c) return c.error();
  client_ = std::move(*c);
  return client_.get();
}

Result<json> Console::request(json req) {
  auto c = client();
  if (!c) return c.error();
  return (*c)->request(std::move(req));
}

int Console::printReply(const json& reply) {
  out_ << replyData(reply).dump() << "\n";
  return kExitOk;
}

int Console::printRolloutReply(const control::RolloutStatus& status, const std::string& human_prefix) {
  if (options_.json) {
    out_ << json(status).dump() << "\n";
  } else {
    if (!human_prefix.empty()) out_ << human_prefix << "\n";
    out_ << renderStatus(status);
  }
  return kExitOk;
}

int Console::agents() {
  return guarded([&] {
    int rc = kExitOk;
    auto reply = call<control::AgentsReply>(control::AgentsRequest{}, rc);
    if (!reply) return rc;
    if (options_.json) return printReply(*reply);
    if (reply->agents.empty()) {
      out_ << "no agents have joined yet\n";
      return kExitOk;
    }
    out_ << renderAgents(reply->agents);
    return kExitOk;
  });
}

int Console::agentAction(const std::string& action, const std::string& id) {
  return guarded([&] {
    int rc = kExitOk;
    auto reply = call<control::AgentStateReply>(control::AgentActionRequest{"agent_" + action, id}, rc);
    if (!reply) return rc;
    if (options_.json) return printReply(*reply);
    out_ << "agent " << sanitize(reply->id) << " " << sanitize(reply->state) << "\n";
    return kExitOk;
  });
}

int Console::rollout(const std::string& plan_path, bool watch, const std::string& break_glass) {
  return guarded([&] {
    // Refuse a broken plan before contacting anyone; the parser names file:line:col and the key.
    auto plan = protocol::parsePlanFile(plan_path);
    if (!plan) return fail(plan.error(), kExitUsage);
    auto text = readFile(plan_path);
    if (!text) return fail(text.error(), kExitUsage);
    // A missing artifact is refused before contacting anyone; upload.cpp streams it later.
    if (!plan->artifact_file.empty() && ::access(plan->artifact_file.c_str(), R_OK) != 0)
      return fail(Error(Errc::kIo, plan_path + ": artifact.file: cannot read " + plan->artifact_file.string() + ": " +
                                       std::strerror(errno)),
                  kExitUsage);
    control::RolloutRequest req{*text, plan_path, "", "", "", break_glass};
    if (!plan->artifact_signature.empty()) {
      auto sig = readFile(plan->artifact_signature);
      if (!sig) return fail(sig.error().context(plan_path + ": artifact.signature"), kExitUsage);
      std::string hex = *sig;
      while (!hex.empty() && (hex.back() == '\n' || hex.back() == ' ')) hex.pop_back();
      req.release_signature = hex;
    }
    if (!plan->artifact_ci_signature.empty()) {
      auto ci = readFile(plan->artifact_ci_signature);
      if (!ci) return fail(ci.error().context(plan_path + ": artifact.ci_signature"), kExitUsage);
      req.ci_signature = *ci;
    }
    auto c = client();
    if (!c) return fail(c.error());
    const auto submitted = common::SteadyClock::now();
    if (plan->artifact_url.empty()) {
      bool malformed = false;
      auto artifact = uploadArtifact(**c, plan->artifact_file, plan_path + ": artifact.file",
                                     options_.terminal && !options_.json ? &err_ : nullptr, &malformed);
      if (!artifact) return malformed ? fail(artifact.error(), kExitUnreachable) : fail(artifact.error());
      req.artifact_digest = artifact->digest;
    } else if (!plan->artifact_digest) {
      // An HTTP store serves the artifact: agents fetch it there, nothing is
      // uploaded; the local copy only says what they must receive.
      auto local = common::digestFile(plan->artifact_file);
      if (!local) return fail(local.error().context(plan_path + ": artifact.file"), kExitUsage);
      req.artifact_digest = local->digest;
      req.artifact_size = local->size;
    }
    int rc = kExitOk;
    auto reply = call<control::RolloutReply>(req, rc);
    if (!reply) return rc;
    const control::RolloutStatus& status = reply->rollout;
    const std::string& id = status.id;
    if (watch) {
      if (!options_.json)
        out_ << "rollout " << sanitize(id) << " submitted: " << sanitize(plan->app) << " " << sanitize(plan->version)
             << " to " << totalHosts(status) << " hosts in " << status.waves.size() << " waves\n";
      return watchLoop(id, "succeeded", submitted);
    }
    if (options_.json) {
      out_ << json(status).dump() << "\n";
      return kExitOk;
    }
    out_ << "rollout " << sanitize(id) << " submitted: " << sanitize(plan->app) << " " << sanitize(plan->version)
         << " to " << totalHosts(status) << " hosts in " << status.waves.size() << " waves\n";
    out_ << renderStatus(status);
    out_ << "follow it with: flotilla watch " << sanitize(id) << "\n";
    return kExitOk;
  });
}

int Console::keygen(const std::string& prefix, const std::string& kind) {
  return guarded([&] {
    std::string secret_hex, public_hex;
    if (kind == "release" || kind == "ci") {
      auto k = common::generateSigningKeyPair();
      secret_hex = common::toHex(k.secret_key);
      public_hex = common::toHex(k.public_key);
    } else {
      auto k = common::generateCurveKeyPair();
      secret_hex = common::toHex(k.secret_key);
      public_hex = common::toHex(k.public_key);
    }
    const std::string key = prefix + ".key", pub = prefix + ".pub";
    if (std::filesystem::exists(key))
      return fail(Error(Errc::kAlreadyExists, key + " already exists; refusing to overwrite a key"), kExitUsage);
    if (auto st = common::writeSecretFile(key, secret_hex + "\n"); !st.ok()) return fail(st.error(), kExitUsage);
    if (auto st = common::atomicWriteFile(pub, public_hex + "\n", 0644); !st.ok()) return fail(st.error(), kExitUsage);
    if (options_.json) {
      out_ << json{{"kind", kind}, {"secret_file", key}, {"public_file", pub}, {"public_key", public_hex}}.dump()
           << "\n";
    } else {
      out_ << kind << " key written: " << key << " (secret, 0600) and " << pub << "\n"
           << "public key: " << public_hex << "\n";
      if (kind == "release")
        out_ << "put the public key in each agent's agent.toml release_keys; keep " << key << " offline\n";
      else if (kind == "ci")
        out_ << "list " << pub << " in coordinator.toml [policy.provenance] ci_keys; give " << key
             << " to CI only (a protected secret of the pipeline that builds releases)\n";
      else
        out_ << "add the public key to coordinator.toml [control] operators\n";
    }
    return kExitOk;
  });
}

int Console::sign(const std::string& plan_path, const std::string& key_file) {
  return guarded([&] {
    auto in = signInputs(plan_path, key_file, "a release key (flotilla keygen --release)");
    if (!in) return fail(in.error(), kExitUsage);
    const protocol::Plan* plan = &in->plan;
    const common::FileDigest* digest = &in->artifact;
    const common::SigningKeyPair& key = in->key;
    const std::string sig = protocol::signRelease(plan->app, plan->version, digest->digest, digest->size, key);
    const std::filesystem::path out = plan->artifact_signature.empty()
                                          ? std::filesystem::path(plan->artifact_file.string() + ".sig")
                                          : plan->artifact_signature;
    if (auto st = common::atomicWriteFile(out, sig + "\n", 0644); !st.ok()) return fail(st.error(), kExitUsage);
    if (options_.json) {
      out_ << json{{"signature_file", out.string()},
                   {"app", plan->app},
                   {"version", plan->version},
                   {"artifact_digest", digest->digest},
                   {"key_id", common::keyId(key.public_key)}}
                  .dump()
           << "\n";
    } else {
      out_ << "signed " << plan->app << " " << plan->version << " (" << digest->digest.substr(0, 16) << ", "
           << digest->size << " bytes) with release key " << common::keyId(key.public_key) << ": " << out.string()
           << "\n";
      if (plan->artifact_signature.empty())
        out_ << "add to the plan's [artifact]: signature = \"" << out.filename().string() << "\"\n";
    }
    return kExitOk;
  });
}

int Console::status(const std::string& rollout, bool hosts) {
  return guarded([&] {
    const control::StatusRequest req{rollout, hosts};
    int rc = kExitOk;
    if (!rollout.empty()) {
      auto reply = call<control::RolloutReply>(req, rc);
      if (!reply) return rc;
      rc = printRolloutReply(reply->rollout, "");
      if (rc == kExitOk && hosts && !options_.json && !reply->rollout.hosts)
        out_ << "(per-host detail is kept only while a rollout is active; see: flotilla events " << sanitize(rollout)
             << ")\n";
      return rc;
    }
    auto reply = call<control::RolloutListReply>(req, rc);
    if (!reply) return rc;
    if (options_.json) return printReply(*reply);
    if (reply->rollouts.empty()) {
      out_ << "no active rollouts (see: flotilla history)\n";
      return kExitOk;
    }
    if (hosts) {
      for (const auto& r : reply->rollouts) out_ << renderStatus(r);
    } else {
      out_ << renderRolloutList(reply->rollouts);
    }
    return kExitOk;
  });
}

int Console::watch(const std::string& rollout) {
  return guarded([&] { return watchLoop(rollout, "succeeded", std::nullopt); });
}

int Console::watchLoop(const std::string& id, const std::string& success_state,
                       std::optional<common::SteadyTime> submitted) {
  auto c = client();
  if (!c) return fail(c.error());
  ControlClient& cl = **c;
  const auto mode = options_.json       ? WatchView::Mode::kJson
                    : options_.terminal ? WatchView::Mode::kTerminal
                                        : WatchView::Mode::kPlain;
  WatchView view(out_, mode, options_.width);
  auto watchReq = [&] { return json(control::WatchRequest{id, view.lastSeq()}); };

  auto reply = cl.request(watchReq());
  if (!reply) return fail(reply.error());
  if (auto st = view.onWatchReply(*reply); !st.ok()) return fail(st.error(), kExitUnreachable);
  view.flush();

  // The coordinator owns the rollout; this loop only follows it. A re-sent
  // watch after a silence also re-registers after a coordinator restart.
  InterruptGuard interrupts([](int) { Console::interrupt(); });

  const auto silence_limit = std::max<common::Millis>(cl.options().timeout, kWatchReconnectLimit);
  auto last_heard = common::SteadyClock::now();
  auto last_sent = last_heard;
  bool unanswered = false;  // a watch was re-sent on this connection and nothing came back
  while (!view.ended()) {
    if (g_interrupted) {
      view.flush();
      err_ << "\nflotilla: stopped watching; rollout " << sanitize(id)
           << " continues on the coordinator (flotilla watch " << sanitize(id) << ")\n";
      return kExitInterrupted;
    }
    const auto now = common::SteadyClock::now();
    const auto next_resend = std::max(last_heard, last_sent) + kWatchResend;
    const auto give_up = last_heard + silence_limit;
    const auto wait =
        std::max(common::Millis(0), std::chrono::duration_cast<common::Millis>(std::min(next_resend, give_up) - now));
    auto msg = cl.receive(wait);
    if (!msg) return fail(msg.error());
    if (msg->has_value()) {
      last_heard = common::SteadyClock::now();
      unanswered = false;
      if (auto rc = readBurst(cl, view, id, std::move(**msg))) return *rc;
      continue;
    }
    const auto after = common::SteadyClock::now();
    if (after >= give_up) {
      view.flush();
      return fail(Error(Errc::kUnavailable, "coordinator unreachable: no message from " + options_.control + " for " +
                                                formatSeconds(std::chrono::duration<double>(silence_limit).count()) +
                                                " while watching " + id));
    }
    if (after >= next_resend) {
      // A coordinator that restarted takes the watch again on the same
      // connection. With the connection down, or up but silent since the last
      // re-send (a paused or partitioned leader keeps its socket open, and a
      // live one answers a watch at once and ticks every second), the next
      // endpoint may lead. Not connected right now is fine: the next silence
      // tries again.
      if (!cl.connected() || unanswered) cl.moveOn();
      (void)cl.send(watchReq(), {}, common::Millis(100));
      last_sent = common::SteadyClock::now();
      unanswered = true;
    }
  }
  std::optional<double> local;
  if (submitted) local = std::chrono::duration<double>(common::SteadyClock::now() - *submitted).count();
  int rc = view.finish(local);
  if (rc == kExitNotSucceeded && !success_state.empty() && view.state() == success_state) rc = kExitOk;
  return rc;
}

std::optional<int> Console::readBurst(ControlClient& cl, WatchView& view, const std::string& id, json first) {
  std::optional<json> next = std::move(first);
  // Take the whole burst before redrawing.
  for (int n = 0; n < 10000 && next; ++n) {
    const json& m = *next;
    const bool refused = jsonString(m, "type") == control::kTypeResponse && m.value("ok", false) != true;
    if (refused && m.get<control::ErrorReply>().code == control::kNotLeaderCode) {
      // A re-sent watch reached a standby: watch at the leader it names.
      cl.followLeader(m.get<control::ErrorReply>().leader);
      (void)cl.send(json(control::WatchRequest{id, view.lastSeq()}), {}, common::Millis(100));
    } else if (refused) {
      auto err = m.get<control::ErrorReply>();
      if (err.message.empty()) err.message = "the coordinator refused to watch " + id;
      return fail(Error(errcFromName(err.code), err.message));
    } else if (jsonString(m, "type") == control::kTypeResponse) {
      if (auto st = view.onWatchReply(m); !st.ok()) return fail(st.error(), kExitUnreachable);
    } else if (auto st = view.onPush(m); !st.ok()) {
      view.flush();
      return fail(st.error(), kExitUnreachable);
    }
    if (view.ended()) break;
    auto more = cl.receive(common::Millis(0));
    if (!more) return fail(more.error());
    next = std::move(*more);
  }
  view.flush();
  return std::nullopt;
}

int Console::operatorAction(const std::string& cmd, const std::string& rollout) {
  return guarded([&] {
    int rc = kExitOk;
    auto reply = call<control::RolloutReply>(control::RolloutActionRequest{cmd, rollout}, rc);
    if (!reply) return rc;
    const char* done = cmd == "pause"     ? "paused"
                       : cmd == "resume"  ? "resumed"
                       : cmd == "promote" ? "promoted"
                                          : "aborted";
    return printRolloutReply(reply->rollout, std::string(done) + " " + sanitize(rollout));
  });
}

int Console::approve(const std::string& rollout) {
  return guarded([&] {
    int rc = kExitOk;
    auto reply = call<control::RolloutReply>(control::ApproveRequest{rollout}, rc);
    if (!reply) return rc;
    const auto& doc = reply->rollout;
    std::string what = "approved " + sanitize(rollout);
    if (doc.approvals)
      what += ": " + std::to_string(doc.approvals->have) + " of " + std::to_string(doc.approvals->required) +
              " approvals" + (doc.state == "awaiting_approval" ? "" : "; the rollout starts");
    return printRolloutReply(doc, what);
  });
}

int Console::rollback(const std::string& app, const std::string& to, bool watch) {
  return guarded([&] {
    const control::RollbackRequest req{app, to};
    const auto submitted = common::SteadyClock::now();
    int rc = kExitOk;
    auto reply = call<control::RolloutReply>(req, rc);
    if (!reply) return rc;
    const control::RolloutStatus& doc = reply->rollout;
    const std::string& id = doc.id;
    // Rolling back the active rollout ends it "rolled_back" (that is the
    // success here); otherwise a new rollout to the earlier release runs and
    // must succeed.
    const bool in_place = doc.state == "rolling_back";
    const std::string prefix =
        in_place ? "rolling back " + sanitize(id)
                 : "rollback of " + sanitize(app) + ": rollout " + sanitize(id) + " to " + sanitize(doc.version);
    if (watch) {
      if (!options_.json) out_ << prefix << "\n";
      // In place, the rollout began before this command: its own timestamps give the duration.
      return watchLoop(id, in_place ? "rolled_back" : "succeeded",
                       in_place ? std::nullopt : std::optional<common::SteadyTime>(submitted));
    }
    return printRolloutReply(doc, prefix);
  });
}

int Console::history(const std::string& app, std::int64_t limit) {
  return guarded([&] {
    const control::HistoryRequest req{app, limit};
    int rc = kExitOk;
    auto reply = call<control::HistoryReply>(req, rc);
    if (!reply) return rc;
    if (options_.json) return printReply(*reply);
    if (reply->rollouts.empty()) {
      out_ << (app.empty() ? std::string("no rollouts yet") : "no rollouts of " + sanitize(app) + " yet") << "\n";
      return kExitOk;
    }
    out_ << renderHistory(reply->rollouts);
    return kExitOk;
  });
}

int Console::events(const std::string& rollout, std::int64_t after) {
  return guarded([&] {
    int rc = kExitOk;
    auto reply = call<control::EventsReply>(control::EventsRequest{rollout, after}, rc);
    if (!reply) return rc;
    if (options_.json) return printReply(*reply);
    out_ << renderEvents(reply->events);
    return kExitOk;
  });
}

int Console::policy(const std::string& plan_path) {
  return guarded([&] {
    control::PolicyRequest req;
    if (!plan_path.empty()) {
      auto plan = protocol::parsePlanFile(plan_path);
      if (!plan) return fail(plan.error(), kExitUsage);
      auto text = readFile(plan_path);
      if (!text) return fail(text.error(), kExitUsage);
      req.plan = *text;
      req.plan_name = plan_path;
    }
    int rc = kExitOk;
    auto reply = call<control::PolicyReply>(req, rc);
    if (!reply) return rc;
    if (options_.json) return printReply(*reply);
    out_ << renderPolicy(*reply);
    return kExitOk;
  });
}

int Console::analysis(const std::string& rollout, std::int64_t wave) {
  return guarded([&] {
    int rc = kExitOk;
    auto reply = call<control::AnalysisReply>(control::AnalysisRequest{rollout, wave}, rc);
    if (!reply) return rc;
    if (options_.json) return printReply(*reply);
    out_ << renderAnalysis(*reply);
    return kExitOk;
  });
}

int Console::metrics(const std::string& app, std::int64_t days) {
  return guarded([&] {
    const control::MetricsRequest req{app, days};
    int rc = kExitOk;
    auto reply = call<control::MetricsReply>(req, rc);
    if (!reply) return rc;
    if (options_.json) return printReply(*reply);
    out_ << renderMetrics(*reply);
    return kExitOk;
  });
}

}  // namespace flotilla::console
