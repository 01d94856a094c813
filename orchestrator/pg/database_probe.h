// A cheap, repeated "is the database there?" check for health reporting:
// keeps one connection of its own and runs SELECT 1 on it, reconnecting
// when it broke. Used by every server's health monitor (observability/
// health.h), so it reports what a new transaction would meet: with a
// multi-host connection string and target_session_attrs=read-write, "there"
// means a writable server.
//
// Thread-safety: not thread-safe; one caller (the health monitor's thread).
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"

namespace saga::pg {

class DatabaseProbe {
 public:
  // `dsn`: a libpq connection string (key=value or URI). Connects lazily.
  explicit DatabaseProbe(std::string dsn);
  ~DatabaseProbe();
  DatabaseProbe(const DatabaseProbe&) = delete;
  DatabaseProbe& operator=(const DatabaseProbe&) = delete;

  // OK when the database answered; Unavailable (with libpq's reason, which
  // never contains the password) otherwise.
  absl::Status Check();

 private:
  // Holds the connection (libpqxx stays out of this header).
  struct Connection;

  const std::string dsn_;
  std::unique_ptr<Connection> connection_;
};

}  // namespace saga::pg
