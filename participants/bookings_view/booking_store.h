// The bookings view's database (migrations/bookings_view): the bookings,
// the message ids applied and the consumer's position in the outbox
// stream. Apply commits a batch of messages' effects, their dedupe records
// and the new position in one transaction (a few statements whatever the
// batch's size), so a crash at any point leaves the three in
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

// One message read from the stream at `position`; without `message`, one
// the view does not project (another saga type): only the position moves.
struct StreamEntry {
  int64_t position = 0;
  std::optional<ViewMessage> message;
};

// What a batch did, message by message.
struct BatchOutcome {
  int applied = 0;    // the booking changed
  int duplicate = 0;  // its message_id was applied before: nothing changed
  int stale = 0;      // older than the booking (see Project): nothing changed
  int skipped = 0;    // another saga type's
};

class BookingStore {
 public:
  // `pool` must outlive the store.
  explicit BookingStore(pg::ConnectionPool* pool) : pool_(pool) {}

  // The position to resume the stream from (0: from the start).
  absl::StatusOr<int64_t> Position();
  // Applies `entries` (in stream order) and records each message id and
  // the last entry's position, in one transaction. REQUIRES: not empty.
  absl::StatusOr<BatchOutcome> Apply(const std::vector<StreamEntry>& entries);
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
