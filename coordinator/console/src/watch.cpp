#include "flotilla/console/watch.h"

#include <algorithm>
#include <cctype>

#include "flotilla/console/render.h"
#include "flotilla/protocol/control.h"

namespace flotilla::console {

namespace control = protocol::control;

namespace {

// "bake 27s left" and "bake 24s left" are the same gate for a log reader.
std::string gateKind(const std::string& gate) {
  std::string out;
  for (char c : gate)
    if (!std::isdigit(static_cast<unsigned char>(c))) out += c;
  return out;
}

}  // namespace

WatchView::WatchView(std::ostream& out, Mode mode, std::size_t width) : out_(out), mode_(mode), width_(width) {}

Status WatchView::onWatchReply(const json& reply) {
  auto r = control::parseReply<control::WatchReply>(reply);
  if (!r) return r.error();
  for (const auto& e : r->events) onEvent(e);
  onStatus(r->rollout, r->finished ? control::kTypeEnd : control::kTypeStatus);
  if (r->finished) {
    ended_ = true;
    vanished_ = !isTerminalState(state());
  }
  return {};
}

Status WatchView::onPush(const json& msg) {
  const std::string type = jsonString(msg, "type");
  if (type == control::kTypeEvent) {
    auto e = control::parseReply<control::EventDoc>(msg);
    if (!e) return e.error();
    onEvent(*e);
  } else if (type == control::kTypeStatus || type == control::kTypeEnd) {
    auto st = control::parseReply<control::RolloutStatus>(msg);
    if (!st) return st.error();
    onStatus(*st, type == control::kTypeEnd ? control::kTypeEnd : control::kTypeStatus);
    if (type == control::kTypeEnd) {
      ended_ = true;
      vanished_ = !isTerminalState(state());
    }
  }
  return {};
}

void WatchView::onEvent(const control::EventDoc& event) {
  if (event.seq >= 0 && event.seq <= last_seq_) return;
  if (event.seq > last_seq_) last_seq_ = event.seq;
  if (event.kind.rfind("rollout_", 0) == 0 && isTerminalState(event.kind.substr(8))) final_message_ = event.message;
  if (mode_ == Mode::kJson) {
    json doc = event;
    doc["type"] = control::kTypeEvent;
    pending_.push_back(doc.dump());
  } else {
    pending_.push_back(eventLine(event, true));
  }
}

void WatchView::onStatus(const control::RolloutStatus& status, const char* type) {
  // A finished rollout's stored snapshot may lack what the live one had.
  if (have_status_ && status == status_ && std::string(type) != control::kTypeEnd) return;
  status_ = status;
  have_status_ = true;
  status_changed_ = true;
  if (mode_ == Mode::kJson) {
    json line = status;
    line["type"] = type;
    if (line == last_json_status_) return;
    last_json_status_ = line;
    pending_.push_back(line.dump());
    return;
  }
  if (mode_ == Mode::kPlain) {
    if (const std::string headline = statusHeadline(status); headline != printed_state_) {
      printed_state_ = headline;
      pending_.push_back(headline);
    }
    const std::string gate = gateText(status.gate);
    if (gateKind(gate) != printed_gate_kind_) {
      printed_gate_kind_ = gateKind(gate);
      if (!gate.empty()) pending_.push_back("gate: " + gate);
    }
    for (const auto& w : status.waves) {
      const std::string line = waveLine(w);
      auto& printed = printed_waves_[w.index];
      if (line != printed) {
        printed = line;
        pending_.push_back(line);
      }
    }
    if (status.analysis) printAnalysisChanges(*status.analysis);
  }
}

void WatchView::printAnalysisChanges(const control::AnalysisWaveDoc& wave) {
  const auto lines = analysisLines(wave);  // the headline, then one line per metric
  for (std::size_t i = 0; i < wave.metrics.size() && i + 1 < lines.size(); ++i) {
    const auto& m = wave.metrics[i];
    auto& printed = printed_analysis_[std::to_string(wave.wave) + "/" + m.metric];
    if (printed == m.verdict) continue;
    printed = m.verdict;
    pending_.push_back("analysis wave " + std::to_string(wave.wave) + ":" + lines[i + 1].substr(3));
  }
}

std::string WatchView::fit(const std::string& line) const {
  if (width_ == 0 || line.size() < width_) return line;
  return line.substr(0, width_ > 4 ? width_ - 4 : 0) + "...";
}

void WatchView::eraseBlock() {
  if (block_lines_ == 0) return;
  // Up to the first line of the block, then clear to the end of the screen.
  out_ << "\x1b[" << block_lines_ << "A\r\x1b[J";
  block_lines_ = 0;
}

void WatchView::drawBlock() {
  if (!have_status_) return;
  for (const auto& l : statusBlock(status_)) {
    out_ << fit(l) << "\n";
    ++block_lines_;
  }
}

void WatchView::flush() {
  if (mode_ == Mode::kTerminal) {
    if (pending_.empty() && !status_changed_) return;
    eraseBlock();
    for (const auto& l : pending_) out_ << l << "\n";
    drawBlock();
  } else {
    for (const auto& l : pending_) out_ << l << "\n";
  }
  pending_.clear();
  status_changed_ = false;
  out_.flush();
}

int WatchView::finish(std::optional<double> local_seconds) {
  flush();
  const std::string& id = status_.id;
  const std::string& st = state();
  if (vanished_) {
    if (mode_ != Mode::kJson)
      out_ << "rollout " << sanitize(id) << " is " << sanitize(st.empty() ? "unknown" : st)
           << " but no longer active on the coordinator\n";
    out_.flush();
    return kExitNotSucceeded;
  }
  if (mode_ != Mode::kJson) {
    auto seconds = local_seconds ? local_seconds : elapsedSeconds(status_);
    out_ << summaryLine(id, st, seconds, final_message_) << "\n";
  }
  out_.flush();
  return exitCodeForState(st);
}

}  // namespace flotilla::console
