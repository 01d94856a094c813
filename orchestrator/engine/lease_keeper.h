// Keeps one orchestrator instance's leases (see store.h): renews all of them
// every third of the lease TTL with one store call, and every claim interval
// claims sagas whose lease is free or has expired (another instance died or
// shut down), in batches, handing them to the engine.
//
// Timers run on the engine's io_context and store calls on its database
// pool, so a slow database never blocks the engine thread. A failed renewal
// or claim is logged and tried again at the next tick: the leases then
// expire only if the database stays unreachable for most of a TTL.
//
// Thread-safety: Start runs once, before or on the engine thread;
// StopClaiming may be called from any thread.
#pragma once

// Boost 1.74 Asio needs <utility> first under C++20 (see TOOLCHAIN.md).
#include <utility>
//
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "orchestrator/engine/lease_options.h"
#include "orchestrator/store/store.h"

namespace saga::engine {

class LeaseKeeper {
 public:
  // Called on a database thread with the sagas just claimed (now leased to
  // this instance).
  using Adopt = std::function<void(std::vector<store::SagaRecord>)>;

  LeaseKeeper(boost::asio::io_context& io, boost::asio::thread_pool& db,
              store::SagaStore* store, LeaseOptions options, Adopt adopt);

  // Arms the renewal and claim timers.
  void Start();

  // No claims from now on (shutting down); renewals go on until the
  // io_context stops, so leases hold while calls in flight drain.
  void StopClaiming() { claiming_ = false; }

  // While held, the periodic claims skip their turn: a recovery pass is
  // claiming, and a second claimer would only rescan the sagas it leased.
  void HoldClaims(bool held) { held_ = held; }

  // Claims one batch now, on the calling thread, and passes it to `adopt`.
  // Returns how many sagas were claimed. Not reentrant: one claim at a time.
  absl::StatusOr<size_t> ClaimOnce();

 private:
  void ScheduleRenewal();
  void ScheduleClaim(std::chrono::milliseconds delay);

  boost::asio::io_context& io_;
  boost::asio::thread_pool& db_;
  store::SagaStore* store_;
  const LeaseOptions options_;
  const Adopt adopt_;
  boost::asio::steady_timer renew_timer_;
  boost::asio::steady_timer claim_timer_;
  std::atomic<bool> claiming_{true};
  std::atomic<bool> held_{false};
  // Where the next claim starts: the id after which a pass over the sagas
  // goes on, so taking over many sagas costs one scan, not one per batch.
  std::string claim_after_;
};

}  // namespace saga::engine
