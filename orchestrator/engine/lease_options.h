// How an orchestrator instance holds the leases of the sagas it drives
// (see store.h and lease_keeper.h). Kept apart from lease_keeper.h so that
// engine.h does not pull in Asio.
#pragma once

#include <chrono>
#include <string>

namespace saga::engine {

struct LeaseOptions {
  // This instance's name in the sagas' leases and in their histories;
  // unique among the live instances that share the database.
  std::string instance_id = "orchestrator";
  // The id was made by this process (the default hostname-pid-random), so
  // no earlier process can have left leases under it: recovery has none to
  // give back, and skips the pass over the unfinished sagas that looks.
  bool fresh_instance_id = false;
  // How long a lease lasts without renewal: after a crash, the instance's
  // sagas wait this long before another instance takes them over.
  std::chrono::milliseconds ttl{15000};
  // How often free and expired leases are looked for.
  std::chrono::milliseconds claim_interval{1000};
  // Most sagas taken per claim; a full batch is followed by another at once.
  int claim_batch = 100;

  // How long before its leases may lapse an instance stops calling
  // participants: a fifth of the TTL. It covers a renewal statement that
  // started before an append it skipped, the time from the check to the
  // request on the wire, and clock-rate differences with the database.
  std::chrono::milliseconds SafetyMargin() const { return ttl / 5; }
};

}  // namespace saga::engine
