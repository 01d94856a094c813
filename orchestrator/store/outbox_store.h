// Reading the outbox: as a stream for WatchEvents (OutboxLog) and as the
// dispatcher's queue of pending messages (OutboxQueue). Writes stay where
// they are: SagaStore::Create and Append commit outbox rows with the events
// that cause them.
//
// Stream order. Every committed outbox row has a `position` (unique, stable
// forever, the row's id) and the id of the transaction that wrote it
// (`txid`). Positions are handed out when rows are inserted, not when their
// transactions commit, so they commit out of order: transaction A takes
// position 10, B takes 11 and commits first. A reader of "rows after
// position P" that saw 11 has moved past 10 before it became visible, and
// never returns it: the classic transactional-outbox gap. Nor is ordering
// by txid alone enough to read "everything after a cursor", because a
// transaction with a smaller id can still be running.
//
// So the stream is ordered by (txid, position) and a read returns only rows
// below the horizon: the oldest transaction id still running in the
// database (pg_snapshot_xmin of the reading statement's snapshot). Every
// transaction below it has ended, and every transaction that has not yet
// begun will get a larger id, so the set of rows below the horizon never
// changes again; a cursor (txid, position) taken there is never passed by a
// late commit. Each transaction's rows are contiguous and in insertion
// order, and a transaction that began after another committed comes after
// it, so a saga's messages are always in the order of its events. The cost
// falls on readers only: a row becomes readable once every transaction
// older than its own has ended (milliseconds, unless something keeps a
// transaction open; see README "Outbox"). Writers take no lock and
// wait for nothing; they only write the txid column (its default, the
// writing transaction's own id) and its index.
//
// Consumers resume from a position; CursorAfter turns it back into the
// cursor of that row.
//
// Thread-safety: OutboxLog implementations are safe to call from many
// threads; an OutboxQueue is used by one dispatcher thread. Errors:
// Unavailable (database unreachable; retry), OutOfRange (CursorAfter: no
// such position), Internal (a row that cannot be read).
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "orchestrator/core/outbox.h"

namespace saga::store {

// One committed outbox message.
struct OutboxEntry {
  int64_t position = 0;  // unique and stable: what consumers resume from
  uint64_t txid = 0;     // the writing transaction (stream order)
  core::OutboxMessage message;
  std::string saga_type;    // from the message header; empty if absent
  int64_t recorded_ms = 0;  // when the writing transaction began (Unix ms)
};

// A place in the stream: after every entry ordered at or before
// (txid, position). The default cursor is the start of the stream.
struct StreamCursor {
  uint64_t txid = 0;
  int64_t position = 0;

  auto operator<=>(const StreamCursor&) const = default;
};

struct StreamPage {
  std::vector<OutboxEntry> entries;  // in stream order
  // Where the next read starts: after the last entry, or at the horizon
  // when the page has everything that is readable now.
  StreamCursor next;
  // Nothing more is readable now (the page has fewer entries than asked).
  bool caught_up = false;
};

class OutboxLog {
 public:
  virtual ~OutboxLog() = default;

  // The cursor just after the entry at `position` (> 0). OutOfRange when no
  // entry has that position: it was pruned, or never handed out.
  virtual absl::StatusOr<StreamCursor> CursorAfter(int64_t position) = 0;

  // Up to `limit` (> 0) entries after `after`, in stream order, all below
  // the horizon.
  virtual absl::StatusOr<StreamPage> Read(const StreamCursor& after,
                                          int limit) = 0;
};

// The dispatcher's queue. Only one dispatcher per database may deliver at a
// time (ordering), so the queue is led by whoever holds the database's
// dispatcher lock; a leader that loses its session loses the lock with it.
class OutboxQueue {
 public:
  virtual ~OutboxQueue() = default;

  // Takes the lock, or checks that it is still held: true when this queue
  // leads, false when another one does. Call before each round.
  virtual absl::StatusOr<bool> Lead() = 0;

  // Up to `limit` (> 0) PENDING entries below the horizon, in stream order.
  // REQUIRES: the last Lead() returned true.
  virtual absl::StatusOr<std::vector<OutboxEntry>> Pending(int limit) = 0;

  // Marks these entries DISPATCHED now (dispatched_at) in one statement:
  // all or none. Entries no longer PENDING are left as they are.
  virtual absl::Status MarkDispatched(
      const std::vector<int64_t>& positions) = 0;
};

}  // namespace saga::store
