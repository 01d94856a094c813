// Answering a retried request from what an earlier one recorded (a
// StartSaga whose idempotency key is taken, a participant call whose key is
// used) writes nothing, so its commit would wait for no synchronous standby.
// Yet the row it read may be one the standby does not have: a commit whose
// wait for the standby was cut short (the primary crashed, the session was
// cancelled) is visible all the same, and is lost if the primary then dies.
// Running this statement in the answering transaction makes its commit wait
// until the standby has everything before it, so the answer is given only
// once what it reports is durable: a transactional logical-decoding message
// is the smallest write (a WAL record and a transaction id) that any role
// may make. CDC consumers that read logical messages see it under the
// prefix "saga-replay".
#pragma once

namespace saga::pg {

inline constexpr char kAwaitStandbySql[] =
    "SELECT pg_logical_emit_message(true, 'saga-replay', '')";

}  // namespace saga::pg
