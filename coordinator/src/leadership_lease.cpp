#include "flotilla/coordinator/leadership_lease.h"

#include <unistd.h>

#include "flotilla/common/crypto.h"
#include "lease_fence.h"
#include "pg_connection.h"

namespace flotilla::coordinator {

using pg::Param;

namespace {

Param millis(common::Millis d) { return Param(static_cast<std::int64_t>(d.count())); }

}  // namespace

LeadershipLease::LeadershipLease(std::unique_ptr<pg::Connection> c) : conn_(std::move(c)) {}
LeadershipLease::~LeadershipLease() = default;

Result<std::unique_ptr<LeadershipLease>> LeadershipLease::open(const std::string& url, const std::string& password) {
  auto c = pg::Connection::open({.url = url, .password = password, .read_only = false});
  if (!c) return c.error().context("opening the leadership lease");
  return std::unique_ptr<LeadershipLease>(new LeadershipLease(std::move(*c)));
}

Result<LeaseView> LeadershipLease::read() {
  auto r = conn_->exec("reading the leadership lease",
                       "SELECT epoch, holder, agents_endpoint, control_endpoint, expires_at < now() "
                       "FROM leadership_lease WHERE id = 1");
  if (!r) return r.error();
  if (r->size() != 1)
    return Error(Errc::kCorrupt, "store " + conn_->displayUrl() + ": the leadership lease row is missing");
  LeaseView v;
  v.epoch = static_cast<std::uint64_t>(r->i64(0, 0));
  v.holder = {r->text(0, 1), r->text(0, 2), r->text(0, 3)};
  v.expired = r->flag(0, 4);
  return v;
}

Result<std::optional<std::uint64_t>> LeadershipLease::takeOver(const LeaseHolder& me, common::Millis ttl) {
  auto r = conn_->exec("taking over the leadership lease",
                       "UPDATE leadership_lease SET epoch = epoch + 1, holder = $1, agents_endpoint = $2, "
                       "control_endpoint = $3, expires_at = now() + $4 * interval '1 millisecond', "
                       "holder_backend = pg_backend_pid() WHERE id = 1 AND expires_at < now() RETURNING epoch",
                       {me.id, me.agents_endpoint, me.control_endpoint, millis(ttl)});
  if (!r) return r.error();
  if (r->size() == 0) return std::optional<std::uint64_t>();
  return std::optional<std::uint64_t>(static_cast<std::uint64_t>(r->i64(0, 0)));
}

Result<bool> LeadershipLease::renew(std::uint64_t epoch, const std::string& me, common::Millis ttl) {
  auto r = conn_->exec("renewing the leadership lease",
                       "UPDATE leadership_lease SET expires_at = now() + $3 * interval '1 millisecond', "
                       "holder_backend = pg_backend_pid() WHERE id = 1 AND epoch = $1 AND holder = $2 RETURNING epoch",
                       {epoch, me, millis(ttl)});
  if (!r) return r.error();
  return r->size() == 1;
}

Status LeadershipLease::release(std::uint64_t epoch, const std::string& me) {
  auto r = conn_->exec(
      "releasing the leadership lease",
      "UPDATE leadership_lease SET expires_at = '-infinity' WHERE id = 1 AND epoch = $1 AND holder = $2", {epoch, me});
  if (!r) return r.error();
  return {};
}

std::string leaseHolderId() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host[0] ? host : "localhost") + "/" + std::to_string(::getpid()) + "/" + common::randomHex(4);
}

namespace pg {

Status checkLeaseFence(Connection& c, std::uint64_t epoch, const std::string& holder) {
  auto r = c.exec("checking the leadership lease",
                  "SELECT epoch FROM leadership_lease WHERE id = 1 AND epoch = $1 AND holder = $2 FOR SHARE",
                  {epoch, holder});
  if (!r) return r.error();
  if (r->size() == 0)
    return Error(Errc::kConflict, "fenced: this coordinator no longer holds the leadership lease of epoch " +
                                      std::to_string(epoch) + " (another coordinator took over); nothing was written");
  return {};
}

}  // namespace pg
}  // namespace flotilla::coordinator
