// The golden histories recorded from real runs (see README.md) replay
// through this build's decider, and a deliberately changed decider or
// definition is caught at the right event.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "orchestrator/core/decider.h"
#include "orchestrator/core/history_file.h"
#include "orchestrator/core/replay.h"
#include "orchestrator/core/snapshot.h"
#include "orchestrator/core/state.h"

namespace saga::core {
namespace {

std::string GoldenPath(const std::string& name) {
  return std::string(SAGA_GOLDEN_DIR) + "/" + name;
}

History LoadGolden(const std::string& name) {
  std::ifstream in(GoldenPath(name), std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<History> history = DecodeHistory(text.str(), name);
  EXPECT_TRUE(history.ok()) << history.status();
  return history.ok() ? *history : History{};
}

std::vector<std::string> GoldenFiles() {
  std::vector<std::string> names;
  for (const auto& entry :
       std::filesystem::directory_iterator(SAGA_GOLDEN_DIR)) {
    if (entry.path().extension() == ".json") {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

int Count(const History& h, EventType type) {
  return static_cast<int>(
      std::count_if(h.events.begin(), h.events.end(),
                    [type](const Event& e) { return e.type == type; }));
}

bool Any(const History& h, bool (*match)(const Event&)) {
  return std::any_of(h.events.begin(), h.events.end(), match);
}

TEST(GoldenReplayTest, EveryGoldenHistoryReplaysToItsRecordedEnd) {
  const std::vector<std::string> names = GoldenFiles();
  EXPECT_GE(names.size(), 12u);
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    const History h = LoadGolden(name);
    ReplayReport report = ReplayHistory(h);
    EXPECT_TRUE(report.ok()) << report.divergence->reason;
    EXPECT_EQ(report.matched, h.events.size());
    EXPECT_EQ(SagaStatusName(report.state.status), h.saga.status);
    EXPECT_TRUE(IsTerminal(report.state.status));
  }
}

// A snapshot taken after any event resumes to the state the whole fold
// reaches: the claim that lets a restart read one row per saga.
TEST(GoldenReplayTest, ASnapshotAfterAnyEventResumesToTheSameState) {
  for (const std::string& name : GoldenFiles()) {
    SCOPED_TRACE(name);
    const History h = LoadGolden(name);
    const SagaState whole = Fold(h.definition, h.saga.saga_id, h.events);
    SagaState prefix = NewSagaState(h.definition, h.saga.saga_id);
    for (size_t k = 0; k < h.events.size(); ++k) {
      Apply(h.definition, prefix, h.events[k]);
      absl::StatusOr<SagaState> resumed =
          DecodeSnapshot(h.definition, h.saga.saga_id, EncodeSnapshot(prefix));
      ASSERT_TRUE(resumed.ok())
          << "after event " << k + 1 << ": " << resumed.status();
      ASSERT_EQ(*resumed, prefix) << "after event " << k + 1;
      for (size_t rest = k + 1; rest < h.events.size(); ++rest) {
        Apply(h.definition, *resumed, h.events[rest]);
      }
      ASSERT_EQ(*resumed, whole) << "resumed after event " << k + 1;
    }
  }
}

TEST(GoldenReplayTest, EachGoldenHistoryShowsWhatItsNameSays) {
  EXPECT_EQ(Count(LoadGolden("success.json"), EventType::kStepSucceeded), 3);
  for (const char* name :
       {"validate_patient_fails.json", "reserve_doctor_fails.json"}) {
    EXPECT_TRUE(Any(LoadGolden(name), [](const Event& e) {
      return e.type == EventType::kStepFailed && !e.retryable;
    })) << name;
  }
  const History notify = LoadGolden("notify_fails.json");
  EXPECT_EQ(Count(notify, EventType::kStepFailed), 4);
  EXPECT_EQ(Count(notify, EventType::kCompensationStepSucceeded), 1);
  EXPECT_GE(Count(LoadGolden("retries_then_success.json"),
                  EventType::kRetryScheduled),
            2);
  EXPECT_TRUE(Any(LoadGolden("timeout.json"), [](const Event& e) {
    return e.outcome_unknown &&
           e.error.find("DEADLINE_EXCEEDED") != std::string::npos;
  }));
  EXPECT_TRUE(Any(LoadGolden("unknown_outcome.json"), [](const Event& e) {
    return e.outcome_unknown &&
           e.error.find("UNAVAILABLE") != std::string::npos;
  }));
  EXPECT_TRUE(Any(LoadGolden("crash_resume.json"), [](const Event& e) {
    return e.error == kRestartedWhileInFlightError;
  }));
  EXPECT_EQ(Count(LoadGolden("cancel.json"), EventType::kCancelRequested), 1);
  // The pivot went unanswered twice, then could not be reached (which
  // settles nothing), then answered: a cancel in between was refused, so
  // nothing was rolled back.
  const History pivot = LoadGolden("pivot_unknown_cancel_refused.json");
  EXPECT_EQ(Count(pivot, EventType::kCancelRequested), 0);
  EXPECT_EQ(Count(pivot, EventType::kCompensationStarted), 0);
  EXPECT_EQ(pivot.saga.status, "COMPLETED");
  int unknown_pivot_failures = 0;
  for (const Event& e : pivot.events) {
    if (e.type == EventType::kStepFailed && e.step == 2) {
      EXPECT_TRUE(e.outcome_unknown) << e.error;
      ++unknown_pivot_failures;
    }
  }
  EXPECT_GE(unknown_pivot_failures, 2);
  for (const char* name : {"operator_retry.json", "operator_skip_step.json",
                           "operator_mark_compensated.json"}) {
    const History h = LoadGolden(name);
    EXPECT_EQ(Count(h, EventType::kSagaFailed), 1) << name;
    EXPECT_EQ(Count(h, EventType::kOperatorAction), 1) << name;
  }
  // Accepted, then completed through CompleteStep; the export shows that a
  // completion token was given, never the token.
  const History async = LoadGolden("async_completion.json");
  EXPECT_EQ(Count(async, EventType::kStepAccepted), 1);
  EXPECT_TRUE(Any(async, [](const Event& e) {
    return e.type == EventType::kStepStarted && e.completion_token == kRedacted;
  }));
}

TEST(GoldenReplayTest, ADeciderThatIgnoresCompletionsIsCaught) {
  DecideFn ignores_completions =
      [](const SagaDefinition& def, const SagaState& state,
         const Signal& signal, const DecideContext& ctx) {
        if (signal.kind == Signal::Kind::kStepCompletion) return Decision{};
        return Decide(def, state, signal, ctx);
      };
  const History h = LoadGolden("async_completion.json");
  ReplayReport report = ReplayHistory(h, nullptr, ignores_completions);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->recorded->type, EventType::kStepSucceeded);
  EXPECT_EQ(report.divergence->seq, 4);
}

// The waiting steps: each history shows its signal, delay, deadline or
// scheduled start, and replays through the same events.
TEST(GoldenReplayTest, TheSagaModelHistoriesShowTheirWaits) {
  for (const char* name :
       {"signal_kept_then_delay.json", "signal_after_restart.json"}) {
    const History h = LoadGolden(name);
    EXPECT_EQ(Count(h, EventType::kSignalReceived), 1) << name;
    EXPECT_TRUE(Any(h, [](const Event& e) {
      return e.type == EventType::kStepSucceeded && !e.signal_key.empty();
    })) << name;
    EXPECT_EQ(h.saga.status, "COMPLETED") << name;
  }
  // Kept: received before the wait step started; after the restart: the
  // step had been waiting.
  const History kept = LoadGolden("signal_kept_then_delay.json");
  const History late = LoadGolden("signal_after_restart.json");
  auto seq_of = [](const History& h, EventType type, int step) {
    for (const Event& e : h.events) {
      if (e.type == type && (step < 0 || e.step == step)) return e.seq;
    }
    return int64_t{-1};
  };
  EXPECT_LT(seq_of(kept, EventType::kSignalReceived, -1),
            seq_of(kept, EventType::kStepStarted, 2));
  EXPECT_GT(seq_of(late, EventType::kSignalReceived, -1),
            seq_of(late, EventType::kStepStarted, 2));
  const History deadline = LoadGolden("deadline_passed.json");
  EXPECT_EQ(Count(deadline, EventType::kDeadlinePassed), 1);
  EXPECT_EQ(deadline.saga.status, "COMPENSATED");
  EXPECT_EQ(Count(deadline, EventType::kCompensationStepSucceeded), 1);
  const History scheduled = LoadGolden("scheduled_start.json");
  ASSERT_FALSE(scheduled.events.empty());
  EXPECT_GT(scheduled.events[0].due_ms, scheduled.events[0].at_ms);
  EXPECT_GE(scheduled.events[1].at_ms, scheduled.events[0].due_ms);
}

// prepaid_booking's group: the reservation and the charge both start
// before either ends; a declined charge undoes the reservation beside it.
// family_booking: a child saga per slot; the second child's failure rolls
// the parent back, which cancels the first (completed) child.
TEST(GoldenReplayTest, TheParallelAndChildHistoriesShowTheirShape) {
  for (const char* name :
       {"parallel_completed.json", "parallel_charge_declined.json"}) {
    SCOPED_TRACE(name);
    const History h = LoadGolden(name);
    ASSERT_GE(h.events.size(), 5u);
    EXPECT_EQ(h.events[3].type, EventType::kStepStarted);
    EXPECT_EQ(h.events[4].type, EventType::kStepStarted);
    EXPECT_EQ(h.definition.steps[h.events[3].step].group,
              h.definition.steps[h.events[4].step].group);
    EXPECT_NE(h.definition.steps[h.events[3].step].branch,
              h.definition.steps[h.events[4].step].branch);
  }
  const History declined = LoadGolden("parallel_charge_declined.json");
  EXPECT_EQ(declined.saga.status, "COMPENSATED");
  EXPECT_EQ(Count(declined, EventType::kCompensationStepSucceeded), 1);
  EXPECT_TRUE(Any(declined, [](const Event& e) {
    return e.type == EventType::kStepFailed && !e.retryable;
  }));

  const History parent = LoadGolden("child_saga_parent.json");
  const History child = LoadGolden("child_saga_rolled_back.json");
  EXPECT_EQ(parent.saga.status, "COMPENSATED");
  EXPECT_EQ(child.saga.status, "COMPENSATED");
  EXPECT_EQ(child.events[0].parent_saga_id, parent.saga.saga_id);
  EXPECT_TRUE(std::any_of(parent.events.begin(), parent.events.end(),
                          [&](const Event& e) {
                            return e.type == EventType::kStepAccepted &&
                                   e.child_saga_id == child.saga.saga_id;
                          }));
  EXPECT_EQ(Count(child, EventType::kSagaCompleted), 1);
  EXPECT_EQ(Count(child, EventType::kCancelRequested), 1);
}

// A decider that starts one branch at a time is caught where the second
// branch should have started with the first.
TEST(GoldenReplayTest, ADeciderThatRunsBranchesOneAfterTheOtherIsCaught) {
  DecideFn one_branch_at_a_time =
      [](const SagaDefinition& def, const SagaState& state,
         const Signal& signal, const DecideContext& ctx) {
        Decision d = Decide(def, state, signal, ctx);
        auto started = std::find_if(
            d.events.begin(), d.events.end(),
            [](const Event& e) { return e.type == EventType::kStepStarted; });
        if (started != d.events.end())
          d.events.erase(started + 1, d.events.end());
        return d;
      };
  const History h = LoadGolden("parallel_completed.json");
  ASSERT_TRUE(ReplayHistory(h).ok());
  ReplayReport report = ReplayHistory(h, nullptr, one_branch_at_a_time);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->seq, 5);
}

TEST(GoldenReplayTest, ADeciderThatRetriesBusinessFailuresIsCaught) {
  DecideFn retries_everything = [](const SagaDefinition& def,
                                   const SagaState& state, const Signal& signal,
                                   const DecideContext& ctx) {
    Signal changed = signal;
    if (changed.outcome == CallOutcome::kBusinessFailure) {
      changed.outcome = CallOutcome::kRetryableFailure;
    }
    return Decide(def, state, changed, ctx);
  };
  const History h = LoadGolden("reserve_doctor_fails.json");
  ASSERT_EQ(h.events.size(), 7u);
  ReplayReport report = ReplayHistory(h, nullptr, retries_everything);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->index, 4u);
  EXPECT_EQ(report.divergence->seq, 5);
  EXPECT_EQ(report.divergence->recorded->type, EventType::kStepFailed);
  EXPECT_EQ(report.divergence->reason,
            "field 'retryable' differs: recorded false, the code decides true");
}

TEST(GoldenReplayTest, ADeciderThatTrustsTimedOutCallsIsCaught) {
  // Treats a timeout as a definite "no effect": it would then never
  // release a reservation that may exist.
  DecideFn trusts_timeouts = [](const SagaDefinition& def,
                                const SagaState& state, const Signal& signal,
                                const DecideContext& ctx) {
    Signal changed = signal;
    if (changed.outcome == CallOutcome::kUnknown) {
      changed.outcome = CallOutcome::kRetryableFailure;
    }
    return Decide(def, state, changed, ctx);
  };
  const History h = LoadGolden("timeout.json");
  ASSERT_EQ(h.events[4].type, EventType::kStepFailed);
  ReplayReport report = ReplayHistory(h, nullptr, trusts_timeouts);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->index, 4u);
  EXPECT_EQ(report.divergence->reason,
            "field 'outcome_unknown' differs: recorded true, the code decides "
            "false");
}

TEST(GoldenReplayTest, ADeciderThatSkipsACompensationIsCaught) {
  DecideFn skips_release = [](const SagaDefinition& def, const SagaState& state,
                              const Signal& signal, const DecideContext& ctx) {
    SagaDefinition changed = def;
    changed.steps[def.StepIndex("reserve_doctor")].kind = StepKind::kReadOnly;
    return Decide(changed, state, signal, ctx);
  };
  const History h = LoadGolden("cancel.json");
  ReplayReport report = ReplayHistory(h, nullptr, skips_release);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->index, 7u);
  EXPECT_EQ(report.divergence->reason,
            "the code decides SagaCompensated where CompensationStepStarted "
            "reserve_doctor attempt 1 was recorded");
}

TEST(GoldenReplayTest, LoweredMaxAttemptsIsCaught) {
  const History h = LoadGolden("retries_then_success.json");
  SagaDefinition v2 = h.definition;
  v2.version = 2;
  v2.steps[v2.StepIndex("reserve_doctor")].retry.max_attempts = 2;
  ReplayReport report = ReplayHistory(h, &v2);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->index, 8u);
  EXPECT_EQ(report.divergence->reason,
            "the code decides CompensationStarted where RetryScheduled "
            "reserve_doctor attempt 3 was recorded");
  EXPECT_EQ(report.recorded_definition_version, 1);
}

}  // namespace
}  // namespace saga::core
