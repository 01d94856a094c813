// The one place where a libpqxx exception becomes an absl::Status. Every
// user of PostgreSQL (the store, the outbox readers, the participants, the
// migrator) classifies what libpqxx threw with Classify and acts on the
// Fault; nothing else inspects libpqxx's exception types.
//
// Where it happened (Phase) decides what a lost session means: before the
// commit, the server rolls an unfinished transaction back with the session,
// so nothing was written and the work can run again; during the commit
// (pqxx reports a lost COMMIT as in_doubt_error; an autocommitted write is
// its own commit) the write may or may not have landed, so the caller must
// read before acting, never report a definite failure.
//
// The table (first matching row wins; SQLSTATEs by PostgreSQL's classes):
//
//   thrown                             phase      Fault           code
//   ---------------------------------  ---------  --------------- -------------
//   anything                           connect    kUnreachable    Unavailable
//     nothing was sent: try again after a backoff.
//   in_doubt_error                     any        kOutcomeUnknown Unknown
//     the session broke during COMMIT: it may have landed.
//   broken_connection, SQLSTATE 08xxx  statement  kSessionLost    Unavailable
//   or 57P0x, another pqxx::failure,   commit     kOutcomeUnknown Unknown
//   any SQL error on a closed session
//     the session is gone (restart, failover, pg_terminate_backend); before
//     COMMIT the transaction died with it.
//   SQLSTATE 25006                     any        kSessionLost    Unavailable
//     read_only_sql_transaction: the server is a standby (or was demoted);
//     nothing was written; a new session finds the writable server.
//   statement_completion_unknown       commit     kOutcomeUnknown Unknown
//                                      statement  kRolledBack     Unavailable
//     (40003) the server cannot tell whether the statement completed.
//   transaction_rollback (class 40:    any        kRolledBack     Unavailable
//   serialization failure, deadlock)
//     the server rolled the transaction back: nothing was written and the
//     whole transaction may be run again. (Unavailable, not Aborted: in the
//     store's contract Aborted means "fenced".)
//   unique_violation 23505             any        kDuplicate      AlreadyExists
//   query_canceled 57014               any        kCanceled       Internal
//     statement_timeout or a cancel request; the statement was rolled back.
//   another sql_error                  any        kRefused        Internal
//     the server refused the statement (a bug or bad data), definitely.
//   another exception                  any        kNotDatabase    Internal
//     not the database's doing (a conversion, a bug); the session is fine.
//
// kSessionLost and kOutcomeUnknown end the session (EndsSession): the pool
// drops it, and its idle siblings, which a restart or failover most likely
// cut as well.
#pragma once

#include <exception>
#include <string>

#include "absl/status/status.h"

namespace saga::pg {

enum class Phase {
  kConnect,    // opening and preparing a session
  kStatement,  // reads, and a transaction's statements before its COMMIT
  kCommit,     // COMMIT, or an autocommitted write (its own commit)
};

enum class Fault {
  kUnreachable,
  kSessionLost,
  kOutcomeUnknown,
  kRolledBack,
  kDuplicate,
  kCanceled,
  kRefused,
  kNotDatabase,
};

struct Failure {
  Fault fault = Fault::kNotDatabase;
  // "<what>: <reason>: <libpq's message on one line>".
  absl::Status status;
  // The server's SQLSTATE when it sent one.
  std::string sqlstate;

  // The session cannot be used again (see the table).
  bool EndsSession() const {
    return fault == Fault::kSessionLost || fault == Fault::kOutcomeUnknown;
  }
};

// Classifies `error` (from std::current_exception() or
// std::make_exception_ptr) thrown while doing `what` in `phase`.
// `session_open`: whether the session was still open afterwards.
Failure Classify(std::exception_ptr error, Phase phase, const std::string& what,
                 bool session_open = true);

// libpq's messages span several lines; logs and statuses want one.
std::string OneLine(const std::string& text);

}  // namespace saga::pg
