#include "tools/sagactl/replay_report.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "orchestrator/core/decider.h"
#include "orchestrator/core/definition_loader.h"
#include "orchestrator/core/state.h"

namespace saga::sagactl {
namespace {

using nlohmann::json;

constexpr int64_t kT0 = 1714564800000;  // 2024-05-01 12:00:00 UTC

core::SagaDefinition TwoSteps(int version = 1) {
  absl::StatusOr<core::SagaDefinition> def =
      core::ParseDefinition("name: pair\nversion: " + std::to_string(version) +
                                R"(
steps:
  - {name: hold, kind: compensatable, participant: p, action: hold, compensation: release}
  - {name: charge, kind: pivot, participant: p, action: charge,
     retry: {max_attempts: 3, initial_backoff: 1s, max_backoff: 1s, multiplier: 1, jitter: 0}}
)",
                            "pair.yaml");
  EXPECT_TRUE(def.ok()) << def.status();
  return def.ok() ? *def : core::SagaDefinition{};
}

// hold succeeds, charge fails retryably once: the saga waits for a retry.
std::vector<core::Event> Waiting(const core::SagaDefinition& def) {
  std::vector<core::Event> events;
  core::SagaState state = core::NewSagaState(def, "s");
  auto commit = [&](const core::Decision& d) {
    for (core::Event e : d.events) {
      e.seq = state.last_seq + 1;
      core::Apply(def, state, e);
      events.push_back(e);
    }
  };
  commit(core::DecideStart(def, "{}", {kT0, 0}));
  core::Signal s;
  s.kind = core::Signal::Kind::kCallResult;
  s.step = 0;
  s.attempt = 1;
  commit(core::Decide(def, state, s, {kT0 + 100, 0}));
  s.step = 1;
  s.outcome = core::CallOutcome::kRetryableFailure;
  s.error = "busy";
  commit(core::Decide(def, state, s, {kT0 + 200, 0}));
  return events;
}

ReplayOutcome Outcome(const std::string& name,
                      const core::SagaDefinition& against,
                      const std::vector<core::Event>& events) {
  ReplayOutcome outcome;
  outcome.name = name;
  outcome.saga_id = "s";
  outcome.status = "RUNNING";
  outcome.events = events.size();
  outcome.definition = against;
  outcome.report = core::Replay(against, events);
  return outcome;
}

TEST(DescribeCommandsTest, SaysWhatComesNext) {
  const core::SagaDefinition def = TwoSteps();
  EXPECT_EQ(DescribeCommands({}, def), "nothing");
  core::Command call{core::Command::Kind::kInvokeStep, 1, 2, kT0, 0};
  core::Command undo{core::Command::Kind::kInvokeCompensation, 0, 1, kT0, 0};
  core::Command wait{core::Command::Kind::kWaitUntil, -1, 0, 0, kT0 + 1500};
  core::Command done{core::Command::Kind::kFinished, -1, 0, 0, 0};
  EXPECT_EQ(DescribeCommands({call, undo, wait, done}, def),
            "call charge attempt 2; compensate hold attempt 1; wait until "
            "12:00:01.500; finished");
}

TEST(RenderReplayTextTest, OkDivergenceAndError) {
  const core::SagaDefinition v1 = TwoSteps();
  core::SagaDefinition v2 = TwoSteps(2);
  v2.steps[1].retry.max_attempts = 1;
  std::vector<ReplayOutcome> outcomes = {Outcome("a.json", v1, Waiting(v1)),
                                         Outcome("b.json", v2, Waiting(v1))};
  ReplayOutcome broken;
  broken.name = "c.json";
  broken.error = absl::InvalidArgumentError("c.json: not valid JSON");
  outcomes.push_back(broken);
  EXPECT_EQ(
      RenderReplayText(outcomes),
      "a.json: OK (6 events; ends RUNNING; next: wait until 12:00:01.200)\n"
      "b.json: DIVERGES at event 5 (seq 6): the code decides "
      "CompensationStarted where RetryScheduled charge attempt 2 was "
      "recorded\n"
      "  recorded: {\"seq\":6,\"type\":\"RetryScheduled\",\"step\":\"charge\","
      "\"attempt\":2,\"at_ms\":1714564800200,\"data\":{\"due_ms\":"
      "1714564801200}}\n"
      "  decided:  {\"seq\":6,\"type\":\"CompensationStarted\",\"step\":null,"
      "\"attempt\":0,\"at_ms\":1714564800200,\"data\":{\"reason\":\"step "
      "'charge' gave up after 1 attempts: busy\"}}\n"
      "c.json: ERROR: c.json: not valid JSON\n");
}

TEST(RenderReplayJsonTest, OneObjectPerHistory) {
  const core::SagaDefinition v1 = TwoSteps();
  core::SagaDefinition v2 = TwoSteps(2);
  v2.steps[1].retry.max_attempts = 1;
  ReplayOutcome broken;
  broken.name = "c.json";
  broken.error = absl::InvalidArgumentError("c.json: not valid JSON");
  json out = json::parse(
      RenderReplayJson({Outcome("a.json", v1, Waiting(v1)),
                        Outcome("b.json", v2, Waiting(v1)), broken}));
  const json& ok = out["histories"][0];
  EXPECT_EQ(ok["file"], "a.json");
  EXPECT_EQ(ok["ok"], true);
  EXPECT_EQ(ok["events"], 6);
  EXPECT_EQ(ok["matched"], 6);
  EXPECT_EQ(ok["final_status"], "RUNNING");
  EXPECT_EQ(ok["pending_commands"][0]["kind"], "wait_until");
  EXPECT_EQ(ok["pending_commands"][0]["due_ms"], kT0 + 1200);
  EXPECT_TRUE(ok["divergence"].is_null());
  EXPECT_FALSE(ok.contains("recorded_definition_version"));

  const json& diverged = out["histories"][1];
  EXPECT_EQ(diverged["ok"], false);
  EXPECT_EQ(diverged["recorded_definition_version"], 1);
  EXPECT_EQ(diverged["replayed_against"]["version"], 2);
  EXPECT_EQ(diverged["divergence"]["index"], 5);
  EXPECT_EQ(diverged["divergence"]["seq"], 6);
  EXPECT_EQ(diverged["divergence"]["recorded"]["type"], "RetryScheduled");
  EXPECT_EQ(diverged["divergence"]["decided"]["type"], "CompensationStarted");

  EXPECT_EQ(out["histories"][2]["ok"], false);
  EXPECT_EQ(out["histories"][2]["error"], "c.json: not valid JSON");
}

TEST(RenderCheckTest, ListsStrandedSagas) {
  const core::SagaDefinition v1 = TwoSteps();
  core::SagaDefinition v2 = TwoSteps(2);
  v2.steps[1].retry.max_attempts = 1;
  ReplayOutcome fine = Outcome("s-1", v2, {Waiting(v1)[0], Waiting(v1)[1]});
  ReplayOutcome stranded = Outcome("s-2", v2, Waiting(v1));
  ReplayOutcome unreadable;
  unreadable.name = "s-3";
  unreadable.status = "FAILED";
  unreadable.error = absl::NotFoundError("saga s-3 not found");
  const std::string text = RenderCheckText(v2, {fine, stranded, unreadable});
  EXPECT_EQ(text.rfind("Replaying 3 unfinished pair sagas against version "
                       "2:\nSAGA  STATUS   VERSION  VERDICT\n"
                       "s-1   RUNNING  1        OK\n"
                       "s-2   RUNNING  1        STRANDED at event 5 (seq 6): "
                       "the code decides CompensationStarted where ",
                       0),
            0u)
      << text;
  EXPECT_NE(text.find("s-3   FAILED   -        ERROR: saga s-3 not found\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\nStranded:\ns-2: at event 5 (seq 6): "),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  recorded: {\"seq\":6,"), std::string::npos) << text;

  json out = json::parse(RenderCheckJson(v2, {fine, stranded, unreadable}));
  EXPECT_EQ(out["definition"], json({{"saga_type", "pair"}, {"version", 2}}));
  EXPECT_EQ(out["sagas"][0]["stranded"], false);
  EXPECT_EQ(out["sagas"][1]["stranded"], true);
  EXPECT_EQ(out["sagas"][1]["saga_id"], "s");
  EXPECT_EQ(out["sagas"][2]["stranded"], false);
  EXPECT_EQ(out["sagas"][2]["error"], "saga s-3 not found");
  EXPECT_EQ(RenderCheckText(v2, {}),
            "Replaying 0 unfinished pair sagas against version 2:\n  (none)\n");
}

}  // namespace
}  // namespace saga::sagactl
