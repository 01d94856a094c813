// Reading PostgreSQL's SQLSTATE codes, shared by the store's connections.
#pragma once

#include <string>

namespace saga::store {

// SQLSTATEs that mean the session is gone: connection exceptions (08) and
// the server shutting down or terminating the backend (57P0x). A caller
// drops such a connection and reconnects.
inline bool IsConnectionLoss(const std::string& sqlstate) {
  return sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57P0", 0) == 0;
}

}  // namespace saga::store
