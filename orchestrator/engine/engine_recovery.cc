// Recovery and adoption: claiming the sagas of a previous process or of
// lapsed leases (Recover, AdoptClaimed), taking over one saga (TakeOver,
// Adopt), reloading a saga from its recorded history after a failed commit
// (Reload), letting one go (Drop), and confirming the leases of sagas whose
// calls were withheld while this instance's leases were unsure.
#include <future>
#include <utility>
#include <vector>
//
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio.hpp>

#include "absl/cleanup/cleanup.h"
#include "observability/logging.h"
#include "orchestrator/core/snapshot.h"
#include "orchestrator/engine/engine.h"
#include "orchestrator/engine/engine_internal.h"

namespace saga::engine {

namespace asio = boost::asio;
using observability::Log;
using std::chrono::milliseconds;

namespace {

// Recovery's first claim takes at most this many sagas, so the first of
// them are folded, committed and called without waiting for a hundred
// others; its batches then grow to the largest.
constexpr int kFirstRecoveryBatch = 16;
constexpr int kLargestRecoveryBatch = 5000;

// Backoff for re-reading a saga while the database is unreachable.
milliseconds NextReloadDelay(milliseconds delay) {
  return std::min(milliseconds(5000), std::max(milliseconds(100), delay * 2));
}

}  // namespace

absl::StatusOr<size_t> Engine::Recover() {
  const LeaseOptions& leases = options_.leases;
  // Instance ids are unique among live instances, so leases under ours
  // were left by an earlier process: give them up and claim like anyone.
  if (!leases.fresh_instance_id) {
    auto released = store_->ReleaseLeases(leases.instance_id);
    if (!released.ok()) return released.status();
  }
  // One pass in saga id order, each batch after the last one's final id,
  // so every unfinished saga is read once however many there are. The
  // first batch is small, so its sagas resume at once; later batches grow,
  // since a statement per batch is what a long pass costs. Sagas
  // skipped (being written) or whose leases lapse meanwhile are left to
  // the lease keeper's claims.
  threads_->leases->HoldClaims(true);
  absl::Cleanup resume_claims = [this] { threads_->leases->HoldClaims(false); };
  size_t claimed = 0;
  std::string after;
  int batch_size = std::min(leases.claim_batch, kFirstRecoveryBatch);
  // Each batch is folded on a database thread while the next is claimed;
  // the pass ends once every batch is folded and handed to the engine.
  std::vector<std::future<void>> adopted;
  // On every return, after the adoptions (cleanups run in reverse order):
  // the sagas held back resume, each Inserted before this runs, since the
  // engine thread runs its posts in order.
  absl::Cleanup resume_held = [this] {
    asio::post(threads_->io, [this] { ResumeAfterRecovery(); });
  };
  absl::Cleanup wait_for_adoptions = [&adopted] {
    for (auto& adoption : adopted) adoption.wait();
  };
  bool first_batch = true;
  while (true) {
    const uint64_t generation = threads_->leases->Generation();
    auto batch =
        store_->Claim(leases.instance_id, leases.ttl, batch_size, after);
    if (!batch.ok()) return batch.status();
    const size_t count = batch->size();
    if (count == 0) break;
    claimed += count;
    after = batch->back().summary.saga_id;
    adopted.push_back(
        asio::post(threads_->db,
                   std::packaged_task<void()>(
                       [this, batch = *std::move(batch), generation,
                        resume = std::exchange(first_batch, false)]() mutable {
                         AdoptClaimed(std::move(batch), generation, resume);
                       })));
    if (count < static_cast<size_t>(batch_size)) break;
    batch_size = std::min(batch_size * 4,
                          std::max(leases.claim_batch, kLargestRecoveryBatch));
  }
  return claimed;
}

void Engine::ResumeAfterRecovery() {
  for (const std::string& saga_id :
       std::exchange(resumed_after_recovery_, {})) {
    auto it = sagas_.find(saga_id);
    if (it == sagas_.end()) continue;
    Runtime& runtime = *it->second;
    runtime.busy = false;
    // First: it settles the calls the previous driver left in flight, and
    // whatever queued meanwhile is judged against that.
    runtime.queued.insert(runtime.queued.begin(), {core::Signal{}, nullptr});
    DrainQueued(saga_id);
  }
}

bool Engine::LeaseSurelyHeld(const Runtime& runtime) const {
  return runtime.lease_generation == threads_->leases->Generation() &&
         std::chrono::steady_clock::now() < threads_->leases->SurelyHeldUntil();
}

void Engine::Withhold(const std::string& saga_id) {
  if (withheld_.empty()) {
    Log(spdlog::level::warn,
        "participant calls withheld: this instance's leases may have lapsed",
        {{"instance", options_.leases.instance_id}});
  }
  withheld_.insert(saga_id);
  // Not from inside the gate that asked (wanted() runs in its pump).
  asio::post(threads_->io, [this] { ConfirmWithheldLeases(); });
}

void Engine::ConfirmWithheldLeases() {
  // While the leases may be lapsing, a claim would only race the renewal
  // that the lease keeper retries anyway: wait for it.
  if (withheld_.empty() ||
      std::chrono::steady_clock::now() >= threads_->leases->SurelyHeldUntil()) {
    return;
  }
  Log(spdlog::level::info, "confirming the leases of the withheld sagas",
      {{"instance", options_.leases.instance_id},
       {"sagas", static_cast<int64_t>(withheld_.size())}});
  for (const std::string& saga_id : std::exchange(withheld_, {})) {
    ConfirmLease(saga_id);
  }
}

void Engine::ConfirmLease(const std::string& saga_id) {
  asio::post(threads_->db, [this, saga_id] {
    // Claiming proves the lease is ours (or takes back one that expired
    // unclaimed) and returns the saga as recorded: another instance may
    // have driven it meanwhile.
    const uint64_t generation = threads_->leases->Generation();
    auto record = store_->ClaimSaga(saga_id, options_.leases.instance_id,
                                    options_.leases.ttl);
    asio::post(threads_->io, [this, saga_id, generation,
                              record = std::move(record)]() mutable {
      auto it = sagas_.find(saga_id);
      if (it == sagas_.end()) return;
      Runtime& runtime = *it->second;
      if (absl::IsUnavailable(record.status()) ||
          absl::IsUnknown(record.status())) {
        Withhold(saga_id);  // again once the database answers
        return;
      }
      if (!record.ok()) {
        Drop(saga_id, std::string(record.status().message()));
        return;
      }
      if (Reclaimed(saga_id, runtime, generation,
                    core::Fold(*runtime.definition, saga_id, record->events))) {
        return;
      }
      for (const core::Command& command :
           core::PendingCommands(*runtime.definition, runtime.state)) {
        if (command.kind == core::Command::Kind::kInvokeStep ||
            command.kind == core::Command::Kind::kInvokeCompensation) {
          Invoke(saga_id, runtime, command);
        }
      }
    });
  });
}

bool Engine::Reclaimed(const std::string& saga_id, Runtime& runtime,
                       uint64_t generation, core::SagaState recorded) {
  runtime.lease_generation = generation;
  // A commit under way is refused if the history moved on, and reloads;
  // if not, it starts the saga's next call itself.
  if (runtime.busy) return true;
  if (recorded.last_seq == runtime.state.last_seq) return false;
  // Driven elsewhere while this instance could not be sure of the lease.
  runtime.state = std::move(recorded);
  Handle(saga_id, core::Signal{}, nullptr);
  return true;
}

void Engine::Reload(const std::string& saga_id, milliseconds delay) {
  auto it = sagas_.find(saga_id);
  if (it == sagas_.end()) return;
  Runtime& runtime = *it->second;
  runtime.busy = true;
  runtime.timer.cancel();
  auto timer = std::make_shared<asio::steady_timer>(threads_->io, delay);
  timer->async_wait([this, saga_id, delay,
                     timer](const boost::system::error_code&) {
    asio::post(threads_->db, [this, saga_id, delay] {
      auto record = store_->Load(saga_id);
      asio::post(threads_->io,
                 [this, saga_id, delay, record = std::move(record)]() mutable {
                   auto it = sagas_.find(saga_id);
                   if (it == sagas_.end()) return;
                   if (!record.ok()) {
                     LogFailure(saga_id, *it->second, "reload failed; retrying",
                                record.status().ToString());
                     Reload(saga_id, NextReloadDelay(delay));
                     return;
                   }
                   const std::string& owner = record->summary.lease_owner;
                   if (owner != options_.leases.instance_id) {
                     Drop(saga_id, "its lease is held by '" + owner + "'");
                     return;
                   }
                   Runtime& runtime = *it->second;
                   runtime.state =
                       core::Fold(*runtime.definition, saga_id, record->events);
                   runtime.busy = false;
                   NotifyWaiters(runtime);
                   // Resume first: it settles a call whose result was lost with
                   // the failed commit; queued signals are then judged against
                   // that.
                   runtime.queued.insert(runtime.queued.begin(),
                                         {core::Signal{}, nullptr});
                   DrainQueued(saga_id);
                 });
    });
  });
}

void Engine::Drop(const std::string& saga_id, const std::string& why) {
  auto it = sagas_.find(saga_id);
  if (it == sagas_.end()) return;
  Runtime& runtime = *it->second;
  LogFailure(saga_id, runtime, "saga no longer driven here", why);
  for (auto& waiter : runtime.waiters) {
    waiter->Fire(AwaitOutcome::kNotActive, nullptr);
  }
  for (auto& queued : runtime.queued) {
    if (queued.done) {
      queued.done(absl::AbortedError("saga " + saga_id +
                                     " moved to another orchestrator "
                                     "instance; try again"));
    }
  }
  runtime.timer.cancel();
  Erase(it);
}

void Engine::Adopt(const std::string& saga_id, milliseconds delay) {
  auto timer = std::make_shared<asio::steady_timer>(threads_->io, delay);
  timer->async_wait(
      [this, saga_id, delay, timer](const boost::system::error_code&) {
        TakeOver(saga_id, [this, saga_id, delay](absl::Status taken) {
          if (taken.ok()) {
            Handle(saga_id, core::Signal{}, nullptr);
          } else if (absl::IsUnavailable(taken) || absl::IsUnknown(taken)) {
            Adopt(saga_id, NextReloadDelay(delay));
          } else if (!absl::IsNotFound(taken)) {
            // NotFound: the in-doubt create did not commit.
            Log(spdlog::level::warn, "saga not adopted",
                {{"saga_id", saga_id}, {"error", taken.ToString()}});
          }
        });
      });
}

void Engine::TakeOver(const std::string& saga_id,
                      std::function<void(absl::Status)> then) {
  asio::post(threads_->db, [this, saga_id, then = std::move(then)]() mutable {
    const std::string& self = options_.leases.instance_id;
    const uint64_t generation = threads_->leases->Generation();
    auto record = store_->ClaimSaga(saga_id, self, options_.leases.ttl);
    using Definition = std::shared_ptr<const core::SagaDefinition>;
    absl::StatusOr<Definition> definition =
        record.ok() ? definitions_->Version(record->summary.saga_type,
                                            record->summary.definition_version)
                    : absl::StatusOr<Definition>(record.status());
    if (record.ok() && !definition.ok()) {
      (void)store_->ReleaseLease(saga_id, self);
    }
    asio::post(threads_->io,
               [this, saga_id, generation, record = std::move(record),
                definition = std::move(definition), then = std::move(then)] {
                 if (!definition.ok()) {
                   then(definition.status());
                   return;
                 }
                 if (!sagas_.count(saga_id)) {
                   Insert(saga_id, *definition,
                          core::Fold(**definition, saga_id, record->events),
                          record->summary.idempotency_key, generation);
                 }
                 then(absl::OkStatus());
               });
  });
}

// Runs on a database thread (or before Start): definitions may have to be
// read back from the store.
void Engine::AdoptClaimed(std::vector<store::SagaRecord> records,
                          uint64_t generation, bool resume) {
  const std::string& self = options_.leases.instance_id;
  for (auto& record : records) {
    const std::string saga_id = record.summary.saga_id;
    auto definition = definitions_->Version(record.summary.saga_type,
                                            record.summary.definition_version);
    if (!definition.ok()) {
      // Let an instance that knows the definition have it.
      Log(spdlog::level::err, "saga cannot be driven here, lease released",
          {{"saga_id", saga_id},
           {"saga_type", record.summary.saga_type},
           {"error", definition.status().ToString()}});
      (void)store_->ReleaseLease(saga_id, self);
      continue;
    }
    // Folded here, on a database thread, not on the engine's one.
    absl::StatusOr<core::SagaState> state = ClaimedState(**definition, record);
    if (!state.ok()) {
      // Both read the whole history again.
      asio::post(threads_->io, [this, saga_id] {
        if (sagas_.count(saga_id)) {
          ConfirmLease(saga_id);
        } else {
          Adopt(saga_id, milliseconds(0));
        }
      });
      continue;
    }
    asio::post(threads_->io, [this, saga_id, generation, resume,
                              definition = *definition,
                              key = std::move(record.summary.idempotency_key),
                              state = *std::move(state)]() mutable {
      auto it = sagas_.find(saga_id);
      if (it == sagas_.end()) {
        Insert(saga_id, definition, std::move(state), key, generation);
        if (resume) {
          Handle(saga_id, core::Signal{}, nullptr);
        } else {
          // Held like a saga being reloaded: a signal arriving first
          // (a child's end) queues behind the resumption.
          sagas_.at(saga_id)->busy = true;
          resumed_after_recovery_.push_back(saga_id);
        }
        return;
      }
      // Already driven here: its lease had lapsed and is ours again.
      Reclaimed(saga_id, *it->second, generation, std::move(state));
    });
  }
}

absl::StatusOr<core::SagaState> Engine::ClaimedState(
    const core::SagaDefinition& definition, const store::SagaRecord& record) {
  const std::string& saga_id = record.summary.saga_id;
  if (record.snapshot.empty()) {
    return core::Fold(definition, saga_id, record.events);
  }
  absl::StatusOr<core::SagaState> state =
      core::DecodeSnapshot(definition, saga_id, record.snapshot);
  if (!state.ok()) {
    Log(spdlog::level::warn, "snapshot not used; reading the whole history",
        {{"saga_id", saga_id}, {"error", state.status().ToString()}});
    return state.status();
  }
  for (const core::Event& event : record.events) {
    core::Apply(definition, *state, event);
  }
  return state;
}

}  // namespace saga::engine
