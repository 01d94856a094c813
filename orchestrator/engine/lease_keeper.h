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
// It also tells whether a lease of this instance is surely still its own,
// which the engine asks before every participant call:
//  - Until when, on the monotonic clock, every lease it holds is surely
//    live: the start of the last successful renewal (or, before the first,
//    of this object's life, which precedes every lease it holds) + TTL -
//    the safety margin.
//  - A generation, bumped when a renewal succeeds after that moment had
//    passed: the leases may have lapsed and been taken over in between (the
//    instance was paused, or the database unreachable), and the renewal
//    extended only those still its own, without saying which. A saga's
//    lease is sure only if it was confirmed (created, claimed, or appended
//    to: each of those proves the lease) in the current generation; the
//    engine confirms the others again (ClaimSaga) before calling.
//
// Thread-safety: Start runs once, before or on the engine thread;
// StopClaiming may be called from any thread.
#pragma once

// Boost 1.74 Asio needs <utility> first under C++20.
#include <utility>
//
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "orchestrator/engine/lease_options.h"
#include "orchestrator/store/store.h"

namespace saga::engine {

class LeaseKeeper {
 public:
  // Called on a database thread with the sagas just claimed (now leased to
  // this instance) and the lease generation read before the claim.
  using Adopt =
      std::function<void(std::vector<store::SagaRecord>, uint64_t generation)>;
  // Called on the engine thread after each successful renewal.
  using Renewed = std::function<void()>;

  LeaseKeeper(boost::asio::io_context& io, boost::asio::thread_pool& db,
              store::SagaStore* store, LeaseOptions options, Adopt adopt,
              Renewed renewed = nullptr);

  // Until when (steady clock) this instance's leases are surely live, and
  // the current lease generation; see above. Any thread.
  std::chrono::steady_clock::time_point SurelyHeldUntil() const {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(surely_held_until_.load()));
  }
  uint64_t Generation() const { return generation_.load(); }

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
  const Renewed renewed_;
  // SurelyHeldUntil(), as steady_clock ticks.
  std::atomic<std::chrono::steady_clock::rep> surely_held_until_;
  std::atomic<uint64_t> generation_{0};
  boost::asio::steady_timer renew_timer_;
  boost::asio::steady_timer claim_timer_;
  std::atomic<bool> claiming_{true};
  std::atomic<bool> held_{false};
  // Where the next claim starts: the id after which a pass over the sagas
  // goes on, so taking over many sagas costs one scan, not one per batch.
  std::string claim_after_;
};

}  // namespace saga::engine
