// Waiting for a saga driven here: AwaitSaga (its end or a step's success)
// and AwaitProgress (its next event), answered as its state changes.
#include <utility>
//
#include <boost/asio.hpp>

#include "orchestrator/core/wait_goal.h"
#include "orchestrator/engine/engine.h"
#include "orchestrator/engine/engine_internal.h"

namespace saga::engine {

namespace asio = boost::asio;
using std::chrono::milliseconds;

void Engine::AwaitSaga(const std::string& saga_id, const std::string& step,
                       milliseconds timeout,
                       std::function<void(absl::StatusOr<AwaitResult>)> done) {
  asio::post(threads_->io, [this, saga_id, step, timeout,
                            done = std::move(done)]() mutable {
    auto it = sagas_.find(saga_id);
    if (it == sagas_.end()) {
      done(AwaitResult{});
      return;
    }
    int step_index = -1;
    if (!step.empty()) {
      step_index = it->second->definition->StepIndex(step);
      if (step_index < 0) {
        done(absl::InvalidArgumentError("saga type '" +
                                        it->second->definition->name +
                                        "' has no step '" + step + "'"));
        return;
      }
    }
    AddWaiter(
        saga_id, step_index, -1, timeout,
        [done = std::move(done)](AwaitOutcome outcome, const Runtime* runtime) {
          AwaitResult result{outcome, std::nullopt};
          if (runtime != nullptr) {
            result.saga = SagaView{runtime->definition,
                                   engine_internal::SummaryOf(
                                       *runtime->definition, runtime->state),
                                   runtime->state};
            result.saga->summary.idempotency_key = runtime->idempotency_key;
          }
          done(std::move(result));
        });
  });
}

void Engine::AwaitProgress(
    const std::string& saga_id, int64_t after_seq, milliseconds timeout,
    std::function<void(absl::StatusOr<AwaitOutcome>)> done) {
  asio::post(threads_->io, [this, saga_id, after_seq, timeout,
                            done = std::move(done)]() mutable {
    if (!sagas_.count(saga_id)) {
      done(AwaitOutcome::kNotActive);
      return;
    }
    AddWaiter(saga_id, -1, after_seq, timeout,
              [done = std::move(done)](AwaitOutcome outcome, const Runtime*) {
                done(outcome);
              });
  });
}

// REQUIRES: on the engine thread; the saga is driven here.
void Engine::AddWaiter(const std::string& saga_id, int step_index,
                       int64_t after_seq, milliseconds timeout,
                       std::function<void(AwaitOutcome, const Runtime*)> done) {
  Runtime& runtime = *sagas_.at(saga_id);
  if (core::Reached(runtime.state, {step_index, after_seq})) {
    done(AwaitOutcome::kReached, &runtime);
    return;
  }
  if (stopping_) {
    done(AwaitOutcome::kTimedOut, &runtime);
    return;
  }
  auto waiter = std::make_shared<Waiter>();
  waiter->step = step_index;
  waiter->after_seq = after_seq;
  waiter->done = std::move(done);
  waiter->timer = std::make_unique<asio::steady_timer>(threads_->io);
  waiter->timer->expires_after(timeout);
  waiter->timer->async_wait(
      [this, saga_id, waiter](const boost::system::error_code& error) {
        if (error) return;
        auto it = sagas_.find(saga_id);
        waiter->Fire(AwaitOutcome::kTimedOut,
                     it == sagas_.end() ? nullptr : it->second.get());
      });
  runtime.waiters.push_back(std::move(waiter));
}

void Engine::NotifyWaiters(Runtime& runtime) {
  auto& waiters = runtime.waiters;
  for (auto& waiter : waiters) {
    if (waiter->done &&
        core::Reached(runtime.state, {waiter->step, waiter->after_seq})) {
      waiter->Fire(AwaitOutcome::kReached, &runtime);
    }
  }
  std::erase_if(waiters, [](const auto& waiter) { return !waiter->done; });
}

}  // namespace saga::engine
