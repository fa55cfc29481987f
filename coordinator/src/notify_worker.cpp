#include "flotilla/coordinator/notify_worker.h"

#include <httplib.h>

#include <charconv>

#include <spdlog/spdlog.h>

#include "flotilla/common/duration.h"
#include "flotilla/common/fs.h"
#include "flotilla/coordinator/notify_message.h"

namespace flotilla::coordinator {
namespace {

constexpr common::Millis kPollInterval{250};  // how soon a new event is seen
constexpr common::Millis kCursorSaveInterval{std::chrono::seconds(5)};
constexpr std::size_t kPage = 500;
constexpr std::size_t kMaxCachedRollouts = 256;
constexpr common::Millis kStopRecheck{20};
// A receiver's answer is read for its status only: its body is thrown away
// and cut beyond this size or the attempt's timeout, so a hostile or
// misdirected URL (a large file, an endless stream) costs neither memory
// nor an attempt that never ends.
constexpr std::size_t kMaxAnswerBody = 64 * 1024;

std::optional<std::int64_t> loadCursor(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return std::nullopt;
  auto text = common::readFile(file, 64);
  std::int64_t v = 0;
  const auto [end, err] = text ? std::from_chars(text->data(), text->data() + text->size(), v)
                               : std::from_chars_result{nullptr, std::errc::invalid_argument};
  if (err != std::errc() || v < 0) {
    spdlog::warn("notify: {} holds no cursor{}; starting from the end of the event log", file.string(),
                 text ? "" : " (" + text.error().message + ")");
    return std::nullopt;
  }
  return v;
}

// A receiver asked to wait (408, 429) or failed (5xx): the same event is tried again.
bool retryable(int status) { return status == 408 || status == 429 || status >= 500 || status < 200; }

}  // namespace

NotifyWorker::NotifyWorker(NotifyTarget target, StoreOptions store, std::filesystem::path cursor_file,
                           std::int64_t start_seq, const common::Clock& clock)
    : target_(std::move(target)),
      store_options_(std::move(store)),
      cursor_file_(std::move(cursor_file)),
      start_seq_(start_seq),
      clock_(clock) {}

NotifyWorker::~NotifyWorker() { stop(); }

void NotifyWorker::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void NotifyWorker::stop() {
  std::unique_lock<std::mutex> lock(mu_);
  stopping_ = true;
  wake_.notify_all();
  // The attempt in flight is cut again until the thread has ended: one that
  // had not yet opened its connection when first cut would otherwise run to
  // its timeout (httplib's stop() only closes a socket that exists).
  while (thread_.joinable() && !finished_) {
    if (client_) client_->stop();
    wake_.wait_for(lock, kStopRecheck, [this] { return finished_; });
  }
  lock.unlock();
  if (thread_.joinable()) thread_.join();
}

NotifyWorker::Counters NotifyWorker::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_;
}

void NotifyWorker::run() {
  const auto loaded = loadCursor(cursor_file_);
  NotifyQueue queue(target_.queue, loaded.value_or(start_seq_));
  // A target without a cursor file gets one at once: were it written only when
  // the cursor moves, a receiver down from the start would never move it, and
  // a restart would start after the events it still waits for.
  saved_cursor_ = loaded.value_or(-1);
  saveCursor(queue.cursor());
  auto last_save = clock_.steadyNow();
  std::uniform_real_distribution<double> jitter(0.0, 1.0);
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
    }
    const std::size_t dropped = readLog(queue);
    std::optional<Outcome> outcome;
    if (const auto* head = queue.due(clock_.steadyNow())) outcome = attempt(*head, queue.failures());
    if (outcome == Outcome::kFailed) queue.failed(clock_.steadyNow(), jitter(jitter_));
    if (outcome == Outcome::kDelivered || outcome == Outcome::kRefused) queue.pop();
    {
      // One update, so that a reader never sees a count without the depth that goes with it.
      std::lock_guard<std::mutex> lock(mu_);
      counters_.dropped += dropped + (outcome == Outcome::kRefused ? 1 : 0);
      counters_.delivered += outcome == Outcome::kDelivered ? 1 : 0;
      counters_.failed_attempts += outcome == Outcome::kFailed ? 1 : 0;
      counters_.queue_depth = queue.size();
    }
    const bool moved = outcome == Outcome::kDelivered || outcome == Outcome::kRefused;
    const auto now = clock_.steadyNow();
    if (moved || now - last_save >= kCursorSaveInterval) {
      saveCursor(queue.cursor());
      last_save = now;
    }
    if (!queue.due(now)) wait(queue);
  }
  saveCursor(queue.cursor());
  std::lock_guard<std::mutex> lock(mu_);
  finished_ = true;
  wake_.notify_all();
}

std::size_t NotifyWorker::readLog(NotifyQueue& queue) {
  if (!store_) {
    auto opened = openStore(asReadOnly(store_options_));
    if (!opened) {
      spdlog::debug("notify {}: store not readable yet: {}", target_.name, opened.error().message);
      return 0;
    }
    store_ = std::move(*opened);
    if (!checkCursor(queue)) return 0;
  }
  std::size_t dropped = 0;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;  // a long backlog is read a page at a time
    }
    auto page = store_->eventsAfter(queue.lastScanned(), kPage);
    if (!page) {
      spdlog::warn("notify {}: {}", target_.name, page.error().message);
      store_.reset();  // opened afresh next time
      return dropped;
    }
    for (const auto& e : *page) {
      if (!notifyEventOf(e.kind)) {
        queue.scanned(e.seq);
        continue;
      }
      const RolloutRecord* r = rolloutOf(e.rollout_id);
      if (!store_) return dropped;  // read again from this event once the store answers
      auto n = r && wanted(e, *r) ? makeNotification(e, *r) : std::nullopt;
      if (!n) {
        queue.scanned(e.seq);
        continue;
      }
      if (queue.push({e.seq, std::move(*n)})) ++dropped;
    }
    if (page->size() < kPage) break;
  }
  // One line per read, not one per event: a backlog can drop thousands at once.
  if (dropped > 0)
    spdlog::warn("notify {}: more than {} notifications waiting; the {} oldest dropped", target_.name, target_.queue,
                 dropped);
  return dropped;
}

bool NotifyWorker::checkCursor(NotifyQueue& queue) {
  auto last = store_->lastEventSeq();
  if (!last) {
    spdlog::warn("notify {}: {}", target_.name, last.error().message);
    store_.reset();
    return false;
  }
  // Sequence numbers are never reused, so a cursor past the log's end means
  // the store was replaced (restored, or made anew): waiting for the log to
  // reach the old number would keep the target silent for as long.
  if (queue.lastScanned() > *last) {
    spdlog::warn(
        "notify {}: the cursor {} is past the end of the event log ({}): the store was replaced; "
        "starting from its end",
        target_.name, queue.lastScanned(), *last);
    queue = NotifyQueue(target_.queue, *last);
    saveCursor(queue.cursor());
  }
  return true;
}

bool NotifyWorker::wanted(const EventRecord& e, const RolloutRecord& r) const {
  const auto what = notifyEventOf(e.kind);
  return what && target_.events.count(*what) && (target_.apps.empty() || target_.apps.count(r.app));
}

const RolloutRecord* NotifyWorker::rolloutOf(const std::string& id) {
  if (auto it = rollouts_.find(id); it != rollouts_.end()) return &it->second;
  auto r = store_->rollout(id);
  if (!r) {
    spdlog::warn("notify {}: {}", target_.name, r.error().message);
    store_.reset();
    return nullptr;
  }
  if (!*r) return nullptr;
  if (rollouts_.size() >= kMaxCachedRollouts) rollouts_.clear();
  return &rollouts_.emplace(id, std::move(**r)).first->second;
}

NotifyWorker::Outcome NotifyWorker::attempt(const NotifyQueue::Item& item, unsigned failures) {
  const std::string origin = urlOrigin(target_.url);
  std::string path = target_.url.substr(0, target_.url.find('#')).substr(origin.size());  // a fragment is not sent
  if (path.empty() || path[0] != '/') path.insert(0, "/");
  httplib::Client client(origin);
  client.set_connection_timeout(target_.timeout);
  client.set_read_timeout(target_.timeout);
  client.set_write_timeout(target_.timeout);
  client.enable_server_certificate_verification(true);
  const Notification& n = item.notification;
  const std::string body = notificationBody(n, target_.format);
  const std::string timestamp = std::to_string(common::toUnixSeconds(clock_.systemNow()));
  httplib::Headers headers{
      {"User-Agent", "flotilla-coordinator"}, {kEventIdHeader, n.id}, {kTimestampHeader, timestamp}};
  if (!target_.secret.empty())
    headers.emplace(kSignatureHeader, notificationSignature(target_.secret, timestamp, n.id, body));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Outcome::kFailed;
    client_ = &client;
  }
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.headers = std::move(headers);
  req.headers.emplace("Content-Type", "application/json");
  req.body = body;
  const auto deadline = clock_.steadyNow() + target_.timeout;
  req.content_receiver = [&](const char*, std::size_t, std::uint64_t offset, std::uint64_t) {
    return offset < kMaxAnswerBody && clock_.steadyNow() < deadline;
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  client.send(req, res, error);
  {
    std::lock_guard<std::mutex> lock(mu_);
    client_ = nullptr;
  }
  // The status line is what counts: an answer whose body was cut still has one.
  const bool answered = res.status > 0;
  const std::string what = answered ? "HTTP " + std::to_string(res.status) : httplib::to_string(error);
  if (answered && res.status >= 200 && res.status < 300) {
    spdlog::debug("notify {}: event {} ({}) delivered", target_.name, n.id, toString(n.what));
    return Outcome::kDelivered;
  }
  if (answered && !retryable(res.status)) {
    spdlog::warn("notify {}: event {} refused with {}: dropped", target_.name, n.id, what);
    return Outcome::kRefused;
  }
  spdlog::log(failures == 0 ? spdlog::level::warn : spdlog::level::debug,
              "notify {}: event {} not delivered ({}); retrying", target_.name, n.id, what);
  return Outcome::kFailed;
}

void NotifyWorker::saveCursor(std::int64_t cursor) {
  if (cursor == saved_cursor_) return;
  if (auto st = common::atomicWriteFile(cursor_file_, std::to_string(cursor) + "\n", 0640); !st.ok()) {
    spdlog::warn("notify {}: cannot save the cursor: {}", target_.name, st.error().message);
    return;
  }
  saved_cursor_ = cursor;
}

void NotifyWorker::wait(const NotifyQueue& queue) {
  const auto now = clock_.steadyNow();
  auto until = now + kPollInterval;
  if (auto next = queue.nextAttempt(); next && *next < until) until = std::max(*next, now);
  std::unique_lock<std::mutex> lock(mu_);
  wake_.wait_for(lock, until - now, [this] { return stopping_; });
}

}  // namespace flotilla::coordinator
