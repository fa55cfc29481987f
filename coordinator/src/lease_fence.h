#pragma once
// The fencing check of the leadership lease (leadership_lease.h), run by
// PgStore inside a unit of work just before COMMIT. Private to the
// coordinator library.

#include <cstdint>
#include <string>

#include "flotilla/common/result.h"
#include "pg_connection.h"

namespace flotilla::coordinator::pg {

// Ok when `holder` still holds the lease in `epoch`; the row stays locked
// (FOR SHARE) until the transaction ends, so no take-over can commit between
// this check and the COMMIT. kConflict ("fenced: ...") when another took it.
Status checkLeaseFence(Connection& c, std::uint64_t epoch, const std::string& holder);

}  // namespace flotilla::coordinator::pg
