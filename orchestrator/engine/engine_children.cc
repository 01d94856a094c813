// Child sagas (core/child_saga.h) as the engine runs them. A saga step's
// "call" is the start of its child in this orchestrator; its completion is
// the child's end; its compensation is the child's rollback. The parent
// learns the child's end from the watch that kAwaitChild (and a saga step's
// compensation) starts here: at once if this instance drives the child (a
// waiter on it), else by reading the child from the store every
// kChildPollInterval. Nothing of the watch is durable, nor needs to be: the
// parent's resume (restart, claim, reload) gives kAwaitChild again, and an
// unanswered compensation is retried under compensation_retry, so a crash
// between the child's end and the parent's update strands nobody.
#include <utility>
//
#include <algorithm>
#include <boost/asio.hpp>

#include "orchestrator/core/child_saga.h"
#include "orchestrator/core/step_request.h"
#include "orchestrator/engine/engine.h"
#include "orchestrator/engine/engine_internal.h"

namespace saga::engine {

namespace asio = boost::asio;
using engine_internal::CallResultSignal;
using engine_internal::NowMs;
using std::chrono::milliseconds;

namespace {

// How often a parent reads a child that another instance drives (or that
// nobody drives yet), and the longest a waiter on a child driven here waits
// before the watch looks again.
constexpr milliseconds kChildPollInterval{1000};
constexpr milliseconds kChildWaiterTimeout{30000};

core::CallOutcome StartOutcome(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return core::CallOutcome::kAccepted;
    case absl::StatusCode::kNotFound:         // no such type
    case absl::StatusCode::kInvalidArgument:  // input refused
    case absl::StatusCode::kAlreadyExists:    // key taken by another saga
      return core::CallOutcome::kBusinessFailure;
    case absl::StatusCode::kResourceExhausted:  // backlog bound
    case absl::StatusCode::kUnavailable:        // nothing committed
      return core::CallOutcome::kNotApplied;
    default:  // in doubt
      return core::CallOutcome::kUnknown;
  }
}

}  // namespace

struct Engine::ChildWatch {
  std::string parent_id;
  core::Command command;  // the parent's step and attempt it serves
  std::string child_id;
  bool compensating = false;
  // A compensation waits at most until the step's timeout (0: unbounded).
  int64_t deadline_ms = 0;
  std::shared_ptr<asio::steady_timer> timer;
};

void Engine::InvokeChild(const std::string& parent_id, Runtime& runtime,
                         const core::Command& command,
                         const core::StepRequest& request) {
  const core::StepDefinition& step = runtime.definition->steps[command.step];
  const std::string child_id = core::ChildSagaId(parent_id, command.step);
  if (request.compensation) {
    UndoChild(parent_id, command, child_id, step);
    return;
  }
  starting_children_.insert(child_id);
  auto answer = [this, parent_id, command,
                 child_id](absl::StatusOr<store::CreateResult> created) {
    // Posted: the start may answer at once, inside the parent's commands.
    asio::post(threads_->io,
               [this, parent_id, command, child_id, status = created.status()] {
                 starting_children_.erase(child_id);
                 // An acceptance names the child (created, or found).
                 Handle(parent_id,
                        CallResultSignal(command, StartOutcome(status),
                                         status.ok() ? child_id : "",
                                         status.ok() ? "" : status.ToString()),
                        nullptr);
               });
  };
  core::TraceContext trace{runtime.state.traceparent, runtime.state.tracestate};
  StartSagaWith(child_id, core::ParentLink{parent_id, step.name},
                step.saga_type, request.input_json, request.idempotency_key,
                std::move(trace), runtime.state.started_by, 0,
                core::StartLabels{}, std::move(answer));
}

void Engine::UndoChild(const std::string& parent_id,
                       const core::Command& command,
                       const std::string& child_id,
                       const core::StepDefinition& step) {
  auto watch = std::make_shared<ChildWatch>();
  watch->parent_id = parent_id;
  watch->command = command;
  watch->child_id = child_id;
  watch->compensating = true;
  if (step.timeout_ms > 0) watch->deadline_ms = command.deadline_ms;
  if (starting_children_.count(child_id)) {
    // Its start is committing: undo it once it is known.
    ReportChild(*watch, {core::CallOutcome::kRetryableFailure, "",
                         "the child saga " + child_id + " is being started"});
    return;
  }
  core::Signal rollback;
  rollback.kind = core::Signal::Kind::kParentRollback;
  rollback.error =
      "its parent saga " + parent_id + " rolls back step '" + step.name + "'";
  Operate(child_id, std::move(rollback), "", [this, watch](absl::Status s) {
    if (absl::IsNotFound(s)) {
      // The start never committed (the step's outcome was unknown), and no
      // attempt of it comes after this rollback: nothing to undo.
      ReportChild(*watch, {core::CallOutcome::kSucceeded, "", ""});
    } else if (!s.ok()) {
      ReportChild(*watch, {core::CallOutcome::kRetryableFailure, "",
                           "rolling back child saga " + watch->child_id + ": " +
                               s.ToString()});
    } else {
      WatchChild(watch);
    }
  });
}

void Engine::AwaitChild(const std::string& parent_id,
                        const core::Command& command) {
  const std::string key = parent_id + "/" + std::to_string(command.step) + "/" +
                          std::to_string(command.attempt);
  if (!child_watches_.insert(key).second) return;  // watched already
  auto watch = std::make_shared<ChildWatch>();
  watch->parent_id = parent_id;
  watch->command = command;
  watch->child_id = core::ChildSagaId(parent_id, command.step);
  WatchChild(watch);
}

bool Engine::ParentWaits(const ChildWatch& watch) const {
  auto it = sagas_.find(watch.parent_id);
  if (it == sagas_.end()) return false;
  const core::SagaState& s = it->second->state;
  const core::ActiveStep* a = core::ActiveOf(s, watch.command.step);
  if (a == nullptr || a->in_flight_attempt != watch.command.attempt) {
    return false;
  }
  return watch.compensating
             ? s.status == core::SagaStatus::kCompensating && a->call_in_flight
             : s.status == core::SagaStatus::kRunning && a->awaiting_completion;
}

void Engine::WatchChild(std::shared_ptr<ChildWatch> watch) {
  if (!ParentWaits(*watch) || stopping_) {
    EndWatch(*watch);
    return;
  }
  if (watch->deadline_ms != 0 && NowMs() >= watch->deadline_ms) {
    ReportChild(*watch, {core::CallOutcome::kUnknown, "",
                         "child saga " + watch->child_id +
                             " did not finish its rollback within the step's "
                             "timeout"});
    return;
  }
  auto again = [this, watch] {
    asio::post(threads_->io, [this, watch] { WatchChild(watch); });
  };
  auto it = sagas_.find(watch->child_id);
  if (it != sagas_.end()) {
    const Runtime& child = *it->second;
    auto result = core::ResultOfChild(*child.definition, child.state,
                                      watch->compensating);
    if (result) {
      ReportChild(*watch, *std::move(result));
      return;
    }
    if (!core::IsTerminal(child.state.status)) {
      // The in-process fast path: the child's end fires the waiter.
      milliseconds timeout = kChildWaiterTimeout;
      if (watch->deadline_ms != 0) {
        timeout = std::min(timeout, milliseconds(watch->deadline_ms - NowMs()));
      }
      AddWaiter(watch->child_id, -1, -1, timeout,
                [this, watch, again](AwaitOutcome, const Runtime* now) {
                  auto ended =
                      now == nullptr
                          ? std::nullopt
                          : core::ResultOfChild(*now->definition, now->state,
                                                watch->compensating);
                  if (ended && ParentWaits(*watch)) {
                    ReportChild(*watch, *std::move(ended));
                  } else {
                    again();
                  }
                });
      return;
    }
  }
  // Not driven here (another instance drives it, it ended, or its start
  // has not committed yet): read it.
  asio::post(threads_->db, [this, watch] {
    auto record = store_->Load(watch->child_id);
    std::optional<core::ChildResult> result;
    if (record.ok()) {
      auto definition = definitions_->Version(
          record->summary.saga_type, record->summary.definition_version);
      if (definition.ok()) {
        result = core::ResultOfChild(
            **definition,
            core::Fold(**definition, watch->child_id, record->events),
            watch->compensating);
      }
    }
    asio::post(threads_->io, [this, watch, result = std::move(result)] {
      if (result && ParentWaits(*watch)) {
        ReportChild(*watch, *result);
        return;
      }
      watch->timer = std::make_shared<asio::steady_timer>(threads_->io,
                                                          kChildPollInterval);
      watch->timer->async_wait([this, watch](const boost::system::error_code&) {
        WatchChild(watch);
      });
    });
  });
}

void Engine::ReportChild(const ChildWatch& watch, core::ChildResult result) {
  EndWatch(watch);
  auto it = sagas_.find(watch.parent_id);
  if (it == sagas_.end()) return;
  core::Signal signal;
  if (watch.compensating) {
    signal = CallResultSignal(watch.command, result.outcome, "",
                              std::move(result.error));
  } else {
    signal.kind = core::Signal::Kind::kStepCompletion;
    signal.step = watch.command.step;
    if (const core::ActiveStep* a =
            core::ActiveOf(it->second->state, watch.command.step)) {
      signal.completion_token = a->completion_token;
    }
    signal.outcome = result.outcome;
    signal.output_json = std::move(result.output_json);
    signal.error = std::move(result.error);
  }
  asio::post(threads_->io, [this, parent_id = watch.parent_id, signal] {
    Handle(parent_id, signal, nullptr);
  });
}

void Engine::EndWatch(const ChildWatch& watch) {
  if (watch.compensating) return;
  child_watches_.erase(watch.parent_id + "/" +
                       std::to_string(watch.command.step) + "/" +
                       std::to_string(watch.command.attempt));
}

}  // namespace saga::engine
