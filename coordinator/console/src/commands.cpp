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

#include "flotilla/common/crypto.h"
#include "flotilla/console/render.h"
#include "flotilla/console/upload.h"
#include "flotilla/console/watch.h"
#include "flotilla/protocol/plan.h"

namespace flotilla::console {

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

std::size_t totalHosts(const json& status) {
  std::size_t n = 0;
  if (auto it = status.find("waves"); it != status.end() && it->is_array())
    for (const auto& w : *it) n += static_cast<std::size_t>(std::max<std::int64_t>(0, jsonInt(w, "hosts")));
  return n;
}

std::size_t waveCount(const json& status) {
  auto it = status.find("waves");
  return it != status.end() && it->is_array() ? it->size() : 0;
}

}  // namespace

Console::Console(ConsoleOptions options, std::ostream& out, std::ostream& err)
    : options_(std::move(options)), out_(out), err_(err) {}

Console::~Console() = default;

void Console::interrupt() { g_interrupted = 1; }

template <typename F>
int Console::guarded(F&& body) {
  try {
    return body();
  } catch (const json::exception& e) {
    return fail(Error(Errc::kCorrupt, std::string("unexpected reply from the coordinator: ") + e.what()));
  }
}

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

int Console::printRolloutReply(const json& reply, const std::string& human_prefix) {
  auto it = reply.find("rollout");
  if (it == reply.end() || !it->is_object())
    return fail(Error(Errc::kCorrupt, "unexpected reply from the coordinator: no \"rollout\" object"));
  if (options_.json) {
    out_ << it->dump() << "\n";
  } else {
    if (!human_prefix.empty()) out_ << human_prefix << "\n";
    out_ << renderStatus(*it);
  }
  return kExitOk;
}

int Console::agents() {
  return guarded([&] {
    auto reply = request({{"cmd", "agents"}});
    if (!reply) return fail(reply.error());
    if (options_.json) {
      out_ << replyData(*reply).dump() << "\n";
      return kExitOk;
    }
    const json& list = (*reply)["agents"];
    if (!list.is_array() || list.empty()) {
      out_ << "no agents have joined yet\n";
      return kExitOk;
    }
    out_ << renderAgents(list);
    return kExitOk;
  });
}

int Console::agentAction(const std::string& action, const std::string& id) {
  return guarded([&] {
    auto reply = request({{"cmd", "agent_" + action}, {"id", id}});
    if (!reply) return fail(reply.error());
    if (options_.json) {
      out_ << replyData(*reply).dump() << "\n";
      return kExitOk;
    }
    out_ << "agent " << sanitize(jsonString(*reply, "id")) << " " << sanitize(jsonString(*reply, "state")) << "\n";
    return kExitOk;
  });
}

int Console::rollout(const std::string& plan_path, bool watch) {
  return guarded([&] {
    // Refuse a broken plan before contacting anyone; the parser names file:line:col and the key.
    auto plan = protocol::parsePlanFile(plan_path);
    if (!plan) return fail(plan.error(), kExitUsage);
    auto text = readFile(plan_path);
    if (!text) return fail(text.error(), kExitUsage);
    // A missing artifact is refused before contacting anyone; upload.cpp streams it later.
    if (::access(plan->artifact_file.c_str(), R_OK) != 0)
      return fail(Error(Errc::kIo, plan_path + ": artifact.file: cannot read " + plan->artifact_file.string() + ": " +
                                       std::strerror(errno)),
                  kExitUsage);
    json req = {{"cmd", "rollout"}, {"plan", *text}, {"plan_name", plan_path}};
    if (!plan->artifact_signature.empty()) {
      auto sig = readFile(plan->artifact_signature);
      if (!sig) return fail(sig.error().context(plan_path + ": artifact.signature"), kExitUsage);
      std::string hex = *sig;
      while (!hex.empty() && (hex.back() == '\n' || hex.back() == ' ')) hex.pop_back();
      req["release_signature"] = hex;
    }
    auto c = client();
    if (!c) return fail(c.error());
    const auto submitted = common::SteadyClock::now();
    auto artifact = uploadArtifact(**c, plan->artifact_file, plan_path + ": artifact.file",
                                   options_.terminal && !options_.json ? &err_ : nullptr);
    if (!artifact) return fail(artifact.error());
    req["artifact_digest"] = artifact->digest;
    auto reply = request(req);
    if (!reply) return fail(reply.error());
    auto it = reply->find("rollout");
    if (it == reply->end() || !it->is_object())
      return fail(Error(Errc::kCorrupt, "unexpected reply from the coordinator: no \"rollout\" object"));
    const json status = *it;
    const std::string id = jsonString(status, "id");
    if (watch) {
      if (!options_.json)
        out_ << "rollout " << sanitize(id) << " submitted: " << sanitize(plan->app) << " " << sanitize(plan->version)
             << " to " << totalHosts(status) << " hosts in " << waveCount(status) << " waves\n";
      return watchLoop(id, "succeeded", submitted);
    }
    if (options_.json) {
      out_ << status.dump() << "\n";
      return kExitOk;
    }
    out_ << "rollout " << sanitize(id) << " submitted: " << sanitize(plan->app) << " " << sanitize(plan->version)
         << " to " << totalHosts(status) << " hosts in " << waveCount(status) << " waves\n";
    out_ << renderStatus(status);
    out_ << "follow it with: flotilla watch " << sanitize(id) << "\n";
    return kExitOk;
  });
}

int Console::keygen(const std::string& prefix, const std::string& kind) {
  return guarded([&] {
    std::string secret_hex, public_hex;
    if (kind == "release") {
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
      else
        out_ << "add the public key to coordinator.toml [control] operators\n";
    }
    return kExitOk;
  });
}

int Console::sign(const std::string& plan_path, const std::string& key_file) {
  return guarded([&] {
    auto plan = protocol::parsePlanFile(plan_path);
    if (!plan) return fail(plan.error(), kExitUsage);
    auto raw = common::readKeyFile(key_file, 64, "a release key (flotilla keygen --release)");
    if (!raw) return fail(raw.error().context("--key"), kExitUsage);
    common::SigningKeyPair key;
    std::memcpy(key.secret_key.data(), raw->data(), 64);
    std::memcpy(key.public_key.data(), raw->data() + 32, 32);
    auto digest = common::digestFile(plan->artifact_file);
    if (!digest) return fail(digest.error().context(plan_path + ": artifact.file"), kExitUsage);
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
    json req = {{"cmd", "status"}, {"hosts", hosts}};
    if (!rollout.empty()) req["rollout"] = rollout;
    auto reply = request(req);
    if (!reply) return fail(reply.error());
    if (!rollout.empty()) {
      int rc = printRolloutReply(*reply, "");
      if (rc == kExitOk && hosts && !options_.json && !(*reply)["rollout"].contains("hosts"))
        out_ << "(per-host detail is kept only while a rollout is active; see: flotilla events " << sanitize(rollout)
             << ")\n";
      return rc;
    }
    if (options_.json) {
      out_ << replyData(*reply).dump() << "\n";
      return kExitOk;
    }
    const json& list = (*reply)["rollouts"];
    if (!list.is_array() || list.empty()) {
      out_ << "no active rollouts (see: flotilla history)\n";
      return kExitOk;
    }
    if (hosts) {
      for (const auto& r : list) out_ << renderStatus(r);
    } else {
      out_ << renderRolloutList(list);
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
  auto watchReq = [&] { return json{{"cmd", "watch"}, {"rollout", id}, {"after", view.lastSeq()}}; };

  auto reply = cl.request(watchReq());
  if (!reply) return fail(reply.error());
  view.onWatchReply(*reply);
  view.flush();

  // The coordinator owns the rollout; this loop only follows it. A re-sent
  // watch after a silence also re-registers after a coordinator restart.
  g_interrupted = 0;
  struct sigaction sa {};
  struct sigaction old_int {
  }, old_term{};
  sa.sa_handler = [](int) { Console::interrupt(); };
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: let the poll return
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  struct Restore {
    struct sigaction a, b;
    ~Restore() {
      sigaction(SIGINT, &a, nullptr);
      sigaction(SIGTERM, &b, nullptr);
    }
  } restore{old_int, old_term};

  const auto silence_limit = cl.options().timeout;
  auto last_heard = common::SteadyClock::now();
  auto last_sent = last_heard;
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
      // Take the whole burst before redrawing.
      for (int n = 0; n < 10000 && msg && msg->has_value(); ++n) {
        const json& m = **msg;
        if (jsonString(m, "type") == "response") {
          if (m.value("ok", false) != true) {
            const json err = m.contains("error") && m["error"].is_object() ? m["error"] : json::object();
            std::string message = jsonString(err, "message");
            if (message.empty()) message = "the coordinator refused to watch " + id;
            return fail(Error(errcFromName(jsonString(err, "code")), message));
          }
          view.onWatchReply(m);
        } else {
          view.onPush(m);
        }
        if (view.ended()) break;
        msg = cl.receive(common::Millis(0));
      }
      view.flush();
      continue;
    }
    const auto after = common::SteadyClock::now();
    if (after >= give_up) {
      view.flush();
      return fail(Error(Errc::kUnavailable, "coordinator unreachable: no message from " + options_.control + " for " +
                                                formatSeconds(options_.timeout_seconds) + " while watching " + id));
    }
    if (after >= next_resend) {
      // Not connected right now is fine: the next silence tries again.
      (void)cl.send(watchReq(), {}, common::Millis(100));
      last_sent = common::SteadyClock::now();
    }
  }
  std::optional<double> local;
  if (submitted) local = std::chrono::duration<double>(common::SteadyClock::now() - *submitted).count();
  int rc = view.finish(local);
  if (rc == kExitNotSucceeded && !success_state.empty() && view.state() == success_state) rc = kExitOk;
  return rc;
}

int Console::operatorAction(const std::string& cmd, const std::string& rollout) {
  return guarded([&] {
    auto reply = request({{"cmd", cmd}, {"rollout", rollout}});
    if (!reply) return fail(reply.error());
    const char* done = cmd == "pause"     ? "paused"
                       : cmd == "resume"  ? "resumed"
                       : cmd == "promote" ? "promoted"
                                          : "aborted";
    return printRolloutReply(*reply, std::string(done) + " " + sanitize(rollout));
  });
}

int Console::rollback(const std::string& app, const std::string& to, bool watch) {
  return guarded([&] {
    json req = {{"cmd", "rollback"}, {"app", app}};
    if (!to.empty()) req["to"] = to;
    const auto submitted = common::SteadyClock::now();
    auto reply = request(req);
    if (!reply) return fail(reply.error());
    auto it = reply->find("rollout");
    if (it == reply->end() || !it->is_object())
      return fail(Error(Errc::kCorrupt, "unexpected reply from the coordinator: no \"rollout\" object"));
    const json status = *it;
    const std::string id = jsonString(status, "id");
    // Rolling back the active rollout ends it "rolled_back" (that is the
    // success here); otherwise a new rollout to the earlier release runs and
    // must succeed.
    const bool in_place = jsonString(status, "state") == "rolling_back";
    const std::string prefix = in_place ? "rolling back " + sanitize(id)
                                        : "rollback of " + sanitize(app) + ": rollout " + sanitize(id) + " to " +
                                              sanitize(jsonString(status, "version"));
    if (watch) {
      if (!options_.json) out_ << prefix << "\n";
      // In place, the rollout began before this command: its own timestamps give the duration.
      return watchLoop(id, in_place ? "rolled_back" : "succeeded",
                       in_place ? std::nullopt : std::optional<common::SteadyTime>(submitted));
    }
    return printRolloutReply(*reply, prefix);
  });
}

int Console::history(const std::string& app, std::int64_t limit) {
  return guarded([&] {
    json req = {{"cmd", "history"}, {"limit", limit}};
    if (!app.empty()) req["app"] = app;
    auto reply = request(req);
    if (!reply) return fail(reply.error());
    if (options_.json) {
      out_ << replyData(*reply).dump() << "\n";
      return kExitOk;
    }
    const json& list = (*reply)["rollouts"];
    if (!list.is_array() || list.empty()) {
      out_ << (app.empty() ? std::string("no rollouts yet") : "no rollouts of " + sanitize(app) + " yet") << "\n";
      return kExitOk;
    }
    out_ << renderHistory(list);
    return kExitOk;
  });
}

int Console::events(const std::string& rollout, std::int64_t after) {
  return guarded([&] {
    auto reply = request({{"cmd", "events"}, {"rollout", rollout}, {"after", after}});
    if (!reply) return fail(reply.error());
    if (options_.json) {
      out_ << replyData(*reply).dump() << "\n";
      return kExitOk;
    }
    out_ << renderEvents((*reply)["events"]);
    return kExitOk;
  });
}

int Console::metrics(const std::string& app, std::int64_t days) {
  return guarded([&] {
    json req = {{"cmd", "metrics"}, {"days", days}};
    if (!app.empty()) req["app"] = app;
    auto reply = request(req);
    if (!reply) return fail(reply.error());
    if (options_.json) {
      out_ << replyData(*reply).dump() << "\n";
      return kExitOk;
    }
    out_ << renderMetrics(*reply);
    return kExitOk;
  });
}

}  // namespace flotilla::console
