// The bookings view's database (migrations/bookings_view): the bookings,
// the message ids applied and the consumer's position in the outbox
// stream. Apply commits a message's effect, its dedupe record and the new
// position in one transaction, so a crash at any point leaves the three in
// agreement: resuming from the recorded position repeats at most messages
// already recorded as applied, which change nothing.
//
// One consumer per database (a second would move the position back and
// forth; dedupe keeps the bookings right, not the position).
// Thread-safe. Errors: Unavailable (database unreachable; retry), Unknown
// (a commit's outcome is unknown: re-read the position), InvalidArgument
// (a message the view cannot read), Internal.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "participants/bookings_view/booking_projection.h"

namespace saga::pg {
class ConnectionPool;
}

namespace saga::bookings {

enum class ApplyOutcome {
  kApplied,    // the booking changed
  kDuplicate,  // its message_id was applied before: nothing changed
  kStale,      // older than the booking (see Project): nothing changed
};

class BookingStore {
 public:
  // `pool` must outlive the store.
  explicit BookingStore(pg::ConnectionPool* pool) : pool_(pool) {}

  // The position to resume the stream from (0: from the start).
  absl::StatusOr<int64_t> Position();
  // Applies `message` (read from the stream at `position`) and records it
  // and the position, in one transaction.
  absl::StatusOr<ApplyOutcome> Apply(const ViewMessage& message,
                                     int64_t position);
  // Records the position of a message the view does not project (another
  // saga type), so a restart does not read it again.
  absl::Status Skip(int64_t position);
  // Empties the view and sets the position to 0, in one transaction.
  absl::Status Rebuild();

  // NotFound when no message about the saga has been applied.
  absl::StatusOr<Booking> Get(const std::string& saga_id);
  // A patient's bookings, the latest requested first.
  absl::StatusOr<std::vector<Booking>> List(const std::string& patient_id,
                                            int limit);

 private:
  pg::ConnectionPool* pool_;
};

}  // namespace saga::bookings
