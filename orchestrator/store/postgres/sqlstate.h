// Reading PostgreSQL's SQLSTATE codes, shared by the store's and the
// participants' connections.
#pragma once

#include <string>

namespace saga::store {

// SQLSTATEs that mean the session is gone: connection exceptions (08) and
// the server shutting down or terminating the backend (57P0x).
inline bool IsConnectionLoss(const std::string& sqlstate) {
  return sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57P0", 0) == 0;
}

// read_only_sql_transaction (25006): a write reached a server that is not
// the primary (a standby, or a primary demoted under the session). Nothing
// was written.
inline bool IsReadOnlyServer(const std::string& sqlstate) {
  return sqlstate == "25006";
}

// The session cannot serve this writer any more: the caller drops the
// connection and reconnects (with a multi-host DSN and
// target_session_attrs=read-write, libpq then finds the writable server)
// instead of treating the error as the statement's own.
inline bool MustReconnect(const std::string& sqlstate) {
  return IsConnectionLoss(sqlstate) || IsReadOnlyServer(sqlstate);
}

}  // namespace saga::store
