#include "orchestrator/engine/saga_awaiter.h"

// Boost 1.74 Asio needs <utility> first under C++20.
#include <utility>
//
#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "orchestrator/core/wait_goal.h"

namespace saga::engine {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

absl::StatusOr<SagaView> RecordedView(DefinitionRegistry& definitions,
                                      const std::string& saga_id,
                                      const store::SagaRecord& record) {
  auto definition = definitions.Version(record.summary.saga_type,
                                        record.summary.definition_version);
  if (!definition.ok()) return definition.status();
  return SagaView{*definition, record.summary,
                  core::Fold(**definition, saga_id, record.events)};
}

struct SagaAwaiter::Pool {
  explicit Pool(int threads) : pool(threads) {}
  boost::asio::thread_pool pool;
};

struct SagaAwaiter::Call {
  std::string saga_id;
  std::string step;
  steady_clock::time_point deadline;
  std::function<void(absl::StatusOr<AwaitedSaga>)> done;
};

SagaAwaiter::SagaAwaiter(Engine* engine, store::SagaStore* store,
                         DefinitionRegistry* definitions,
                         SagaAwaiterOptions options)
    : engine_(engine),
      store_(store),
      definitions_(definitions),
      options_(options),
      pool_(std::make_unique<Pool>(options.threads)) {}

SagaAwaiter::~SagaAwaiter() { pool_->pool.join(); }

void SagaAwaiter::Await(const std::string& saga_id, const std::string& step,
                        steady_clock::time_point deadline,
                        std::function<void(absl::StatusOr<AwaitedSaga>)> done) {
  AskEngine(
      std::make_shared<Call>(Call{saga_id, step, deadline, std::move(done)}));
}

void SagaAwaiter::AskEngine(std::shared_ptr<Call> call) {
  const auto remaining =
      std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(
                                    call->deadline - steady_clock::now()));
  engine_->AwaitSaga(
      call->saga_id, call->step, remaining,
      [this, call](absl::StatusOr<AwaitResult> result) {
        if (!result.ok()) {
          call->done(result.status());
          return;
        }
        if (result->saga.has_value()) {
          // Driven here: the engine's committed state is the answer, so the
          // hot path reads nothing back from the store.
          call->done(AwaitedSaga{*std::move(result->saga),
                                 result->outcome == AwaitOutcome::kReached});
          return;
        }
        boost::asio::post(pool_->pool, [this, call, outcome = result->outcome] {
          ReadRecorded(call, outcome);
        });
      });
}

void SagaAwaiter::ReadRecorded(std::shared_ptr<Call> call,
                               AwaitOutcome outcome) {
  auto record = store_->Load(call->saga_id);
  if (!record.ok()) {
    call->done(record.status());
    return;
  }
  auto view = RecordedView(*definitions_, call->saga_id, *record);
  if (!view.ok()) {
    call->done(view.status());
    return;
  }
  bool reached = outcome == AwaitOutcome::kReached;
  if (outcome == AwaitOutcome::kNotActive) {
    // Not driven here: judge by what is recorded.
    core::WaitGoal goal;
    if (!call->step.empty()) {
      goal.step = view->definition->StepIndex(call->step);
      if (goal.step < 0) {
        call->done(
            absl::InvalidArgumentError("saga type '" + view->definition->name +
                                       "' has no step '" + call->step + "'"));
        return;
      }
    }
    reached = core::Reached(view->state, goal);
    // Another instance drives it: look again shortly, until the deadline.
    if (!reached &&
        steady_clock::now() + options_.poll_interval < call->deadline &&
        !engine_->Stopping()) {
      auto timer = std::make_shared<boost::asio::steady_timer>(
          pool_->pool.get_executor(), options_.poll_interval);
      timer->async_wait([this, call, timer](const boost::system::error_code&) {
        AskEngine(call);
      });
      return;
    }
  }
  call->done(AwaitedSaga{*std::move(view), reached});
}

}  // namespace saga::engine
