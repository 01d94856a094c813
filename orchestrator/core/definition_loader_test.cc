#include "orchestrator/core/definition_loader.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/definitions.h"

namespace saga::core {
namespace {

const char kSource[] = "sagas/x.yaml";

std::string SourceDir() { return SAGA_SOURCE_DIR; }

// A saga with the given steps (YAML list items, indented by two spaces).
std::string Saga(const std::string& steps) {
  return "name: x\nversion: 1\ninput:\n  required:\n    patient_id: string\n"
         "steps:\n" +
         steps;
}

const char kReserve[] =
    "  - name: reserve_doctor\n"
    "    kind: compensatable\n"
    "    participant: doctor\n"
    "    action: reserve_doctor\n"
    "    compensation: release_reservation\n";

TEST(DefinitionLoaderTest, LoadsTheBookingSaga) {
  absl::StatusOr<SagaDefinition> def =
      LoadDefinitionFile(testing::TestDefinitionPath("booking"));
  ASSERT_TRUE(def.ok()) << def.status();
  EXPECT_EQ(def->name, "appointment_booking");
  EXPECT_EQ(def->version, 2);
  EXPECT_FALSE(def->description.empty());
  ASSERT_EQ(def->required_input.size(), 3u);
  EXPECT_EQ(def->required_input[0].name, "patient_id");
  EXPECT_EQ(def->required_input[0].type, "string");
  EXPECT_EQ(def->required_input[1].name, "preferred_date");
  EXPECT_EQ(def->required_input[2].name, "specialty");

  ASSERT_EQ(def->steps.size(), 3u);
  const StepDefinition& validate = def->steps[0];
  EXPECT_EQ(validate.name, "validate_patient");
  EXPECT_EQ(validate.kind, StepKind::kReadOnly);
  EXPECT_EQ(validate.participant, "patient");
  EXPECT_EQ(validate.action, "validate_patient");
  EXPECT_EQ(validate.compensation, "");
  EXPECT_EQ(validate.timeout_ms, 2000);
  EXPECT_EQ(validate.retry.max_attempts, 5);
  EXPECT_EQ(validate.retry.initial_backoff_ms, 100);
  EXPECT_EQ(validate.retry.max_backoff_ms, 2000);
  EXPECT_DOUBLE_EQ(validate.retry.multiplier, 2.0);
  EXPECT_DOUBLE_EQ(validate.retry.jitter, 0.2);
  ASSERT_EQ(validate.input.size(), 1u);
  EXPECT_EQ(validate.input[0].target, "patient_id");
  EXPECT_EQ(validate.input[0].source, "input.patient_id");

  const StepDefinition& reserve = def->steps[1];
  EXPECT_EQ(reserve.name, "reserve_doctor");
  EXPECT_EQ(reserve.kind, StepKind::kCompensatable);
  EXPECT_EQ(reserve.participant, "doctor");
  EXPECT_EQ(reserve.action, "reserve_doctor");
  EXPECT_EQ(reserve.compensation, "release_reservation");
  EXPECT_EQ(reserve.timeout_ms, 2000);
  EXPECT_EQ(reserve.retry.max_attempts, 5);
  EXPECT_EQ(reserve.compensation_retry.max_attempts, 10);
  EXPECT_EQ(reserve.compensation_retry.initial_backoff_ms, 100);
  EXPECT_EQ(reserve.compensation_retry.max_backoff_ms, 2000);
  ASSERT_EQ(reserve.input.size(), 3u);
  EXPECT_EQ(reserve.input[0].target, "patient_id");
  EXPECT_EQ(reserve.input[1].target, "specialty");
  EXPECT_EQ(reserve.input[2].target, "preferred_date");

  const StepDefinition& notify = def->steps[2];
  EXPECT_EQ(notify.name, "notify");
  EXPECT_EQ(notify.kind, StepKind::kPivot);
  EXPECT_EQ(notify.participant, "email");
  EXPECT_EQ(notify.action, "send_notification");
  // An email outage delays the booking for up to an hour.
  EXPECT_EQ(notify.retry.max_attempts, 0);
  EXPECT_EQ(notify.retry.give_up_after_ms, 3600 * 1000);
  EXPECT_EQ(notify.retry.max_backoff_ms, 30000);
  ASSERT_EQ(notify.input.size(), 6u);
  EXPECT_EQ(notify.input[0].target, "reservation_id");
  EXPECT_EQ(notify.input[0].source,
            "steps.reserve_doctor.output.reservation_id");
  EXPECT_EQ(notify.input[3].target, "patient_email");
  EXPECT_EQ(notify.input[3].source, "steps.validate_patient.output.email");

  EXPECT_EQ(def->StepIndex("notify"), 2);
  EXPECT_EQ(def->StepIndex("nope"), -1);
}

TEST(DefinitionLoaderTest, AppliesDefaults) {
  absl::StatusOr<SagaDefinition> def = ParseDefinition(Saga(kReserve), kSource);
  ASSERT_TRUE(def.ok()) << def.status();
  const StepDefinition& step = def->steps[0];
  EXPECT_EQ(step.timeout_ms, 5000);
  EXPECT_EQ(step.retry.max_attempts, 3);
  EXPECT_EQ(step.retry.initial_backoff_ms, 100);
  EXPECT_EQ(step.retry.max_backoff_ms, 5000);
  EXPECT_DOUBLE_EQ(step.retry.multiplier, 2.0);
  EXPECT_DOUBLE_EQ(step.retry.jitter, 0.2);
  EXPECT_EQ(step.compensation_retry.max_attempts, 10);
  EXPECT_EQ(step.compensation_retry.initial_backoff_ms, 100);
  EXPECT_EQ(step.compensation_retry.max_backoff_ms, 5000);
  EXPECT_DOUBLE_EQ(step.compensation_retry.multiplier, 2.0);
  EXPECT_DOUBLE_EQ(step.compensation_retry.jitter, 0.2);
  EXPECT_TRUE(step.input.empty());
}

TEST(DefinitionLoaderTest, PartialRetryKeepsOtherDefaults) {
  absl::StatusOr<SagaDefinition> def = ParseDefinition(
      Saga(std::string(kReserve) + "    retry: {max_attempts: 7}\n"), kSource);
  ASSERT_TRUE(def.ok()) << def.status();
  EXPECT_EQ(def->steps[0].retry.max_attempts, 7);
  EXPECT_EQ(def->steps[0].retry.max_backoff_ms, 5000);
}

TEST(DefinitionLoaderTest, GiveUpAfterAloneBoundsTimeNotAttempts) {
  absl::StatusOr<SagaDefinition> def = ParseDefinition(
      Saga(std::string(kReserve) + "    retry: {give_up_after: 1h}\n"),
      kSource);
  ASSERT_TRUE(def.ok()) << def.status();
  EXPECT_EQ(def->steps[0].retry.give_up_after_ms, 3600000);
  EXPECT_EQ(def->steps[0].retry.max_attempts, 0);
  EXPECT_EQ(def->steps[0].compensation_retry.give_up_after_ms, 0);
}

TEST(DefinitionLoaderTest, GiveUpAfterWithMaxAttemptsKeepsBoth) {
  absl::StatusOr<SagaDefinition> def = ParseDefinition(
      Saga(std::string(kReserve) +
           "    compensation_retry: {max_attempts: 50, give_up_after: 10m}\n"),
      kSource);
  ASSERT_TRUE(def.ok()) << def.status();
  EXPECT_EQ(def->steps[0].compensation_retry.give_up_after_ms, 600000);
  EXPECT_EQ(def->steps[0].compensation_retry.max_attempts, 50);
  EXPECT_EQ(def->steps[0].retry.give_up_after_ms, 0);
  EXPECT_EQ(def->steps[0].retry.max_attempts, 3);
}

TEST(DefinitionLoaderTest, ParsesDurations) {
  struct Case {
    std::string text;
    int64_t ms;
  };
  for (const Case& c : std::vector<Case>{{"250", 250},
                                         {"250ms", 250},
                                         {"2s", 2000},
                                         {"1m", 60000},
                                         {"1h", 3600000}}) {
    absl::StatusOr<SagaDefinition> def = ParseDefinition(
        Saga(std::string(kReserve) + "    timeout: " + c.text + "\n"), kSource);
    ASSERT_TRUE(def.ok()) << c.text << ": " << def.status();
    EXPECT_EQ(def->steps[0].timeout_ms, c.ms) << c.text;
  }
}

TEST(DefinitionLoaderTest, ReadsWaitAndDelayStepsAndTheDeadline) {
  absl::StatusOr<SagaDefinition> def = ParseDefinition(
      "name: x\nversion: 1\ndeadline: 2h\nsteps:\n"
      "  - {name: approval, kind: wait}\n"
      "  - {name: consent, kind: wait, signal: patient_ok, timeout: 24h}\n"
      "  - {name: cool_off, kind: delay, duration: 10m}\n"
      "  - {name: until_slot, kind: delay, until: input.slot_at}\n",
      kSource);
  ASSERT_TRUE(def.ok()) << def.status();
  EXPECT_EQ(def->deadline_ms, 2 * 3600 * 1000);
  EXPECT_EQ(def->steps[0].kind, StepKind::kWait);
  EXPECT_EQ(def->steps[0].signal, "approval");  // defaults to the step name
  EXPECT_EQ(def->steps[0].timeout_ms, 0);       // waits without bound
  EXPECT_EQ(def->steps[1].signal, "patient_ok");
  EXPECT_EQ(def->steps[1].timeout_ms, 24 * 3600 * 1000);
  EXPECT_EQ(def->steps[2].kind, StepKind::kDelay);
  EXPECT_EQ(def->steps[2].delay_ms, 600000);
  EXPECT_EQ(def->steps[3].until, "input.slot_at");
}

TEST(DefinitionLoaderTest, ReadsTheBusinessKeySource) {
  absl::StatusOr<SagaDefinition> def = ParseDefinition(
      "name: x\nversion: 1\ninput:\n  required:\n    patient_id: string\n"
      "business_key: input.patient_id\nsteps:\n" +
          std::string(kReserve),
      kSource);
  ASSERT_TRUE(def.ok()) << def.status();
  EXPECT_EQ(def->business_key_source, "input.patient_id");
  EXPECT_EQ(ParseDefinition(Saga(kReserve), kSource)->business_key_source, "");
}

TEST(DefinitionLoaderTest, AcceptsPivotFollowedByRetriableSteps) {
  absl::StatusOr<SagaDefinition> def = ParseDefinition(
      Saga(std::string(kReserve) +
           "  - {name: pay, kind: pivot, participant: bank, action: pay}\n"
           "  - {name: mail, kind: retriable, participant: email, action: "
           "send, input: {id: steps.reserve_doctor.output.id, all: input}}\n"),
      kSource);
  ASSERT_TRUE(def.ok()) << def.status();
  EXPECT_EQ(def->steps[1].kind, StepKind::kPivot);
  EXPECT_EQ(def->steps[2].kind, StepKind::kRetriable);
}

struct BadCase {
  const char* what;
  std::string yaml;
  std::string error;
};

class BadDefinitionTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadDefinitionTest, IsRefusedNamingFileStepAndField) {
  absl::StatusOr<SagaDefinition> def =
      ParseDefinition(GetParam().yaml, kSource);
  ASSERT_FALSE(def.ok()) << GetParam().what;
  EXPECT_EQ(def.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(def.status().message(), GetParam().error);
}

const std::string R = kReserve;
const std::string kStepPrefix = "sagas/x.yaml: step 'reserve_doctor': ";

INSTANTIATE_TEST_SUITE_P(
    Rules, BadDefinitionTest,
    ::testing::Values(
        BadCase{"not a map", "- 1\n",
                "sagas/x.yaml: a saga definition must "
                "be a YAML map"},
        BadCase{"missing name", "version: 1\nsteps:\n" + R,
                "sagas/x.yaml: field 'name': is required"},
        BadCase{"bad name", "name: Booking\nversion: 1\nsteps:\n" + R,
                "sagas/x.yaml: field 'name': 'Booking' must match "
                "[a-z][a-z0-9_]*"},
        BadCase{"missing version", "name: x\nsteps:\n" + R,
                "sagas/x.yaml: field 'version': is required"},
        BadCase{"version zero", "name: x\nversion: 0\nsteps:\n" + R,
                "sagas/x.yaml: field 'version': must be >= 1"},
        BadCase{"version not an integer", "name: x\nversion: 1.5\nsteps:\n" + R,
                "sagas/x.yaml: field 'version': must be an integer, got '1.5'"},
        BadCase{"unknown top-level key",
                "name: x\nversion: 1\nowner: me\nsteps:\n" + R,
                "sagas/x.yaml: field 'owner': unknown field (known: "
                "business_key, deadline, description, input, name, steps, "
                "version)"},
        BadCase{"business key from an unknown field",
                "name: x\nversion: 1\ninput:\n  required:\n"
                "    patient_id: string\nbusiness_key: input.patient\n"
                "steps:\n" +
                    R,
                "sagas/x.yaml: field 'business_key': 'input.patient' names "
                "'patient', which is not under input.required (a business "
                "key must come from a required field)"},
        BadCase{"business key from an object",
                "name: x\nversion: 1\ninput:\n  required:\n"
                "    patient: object\nbusiness_key: input.patient\n"
                "steps:\n" +
                    R,
                "sagas/x.yaml: field 'business_key': 'input.patient' names "
                "input.required.patient of type object; a business key comes "
                "from a string or an integer"},
        BadCase{"business key from a step output",
                "name: x\nversion: 1\nbusiness_key: "
                "steps.reserve_doctor.output.id\nsteps:\n" +
                    R,
                "sagas/x.yaml: field 'business_key': "
                "'steps.reserve_doctor.output.id' must name one field of the "
                "saga input, e.g. input.patient_id"},
        BadCase{"no steps", "name: x\nversion: 1\nsteps: []\n",
                "sagas/x.yaml: field 'steps': must have at least one step"},
        BadCase{"missing steps", "name: x\nversion: 1\n",
                "sagas/x.yaml: field 'steps': is required"},
        BadCase{"bad input type",
                "name: x\nversion: 1\ninput:\n  required:\n    a: text\n"
                "steps:\n" +
                    R,
                "sagas/x.yaml: field 'input.required.a': type must be one of "
                "string, number, integer, boolean, object, array"},
        BadCase{"unknown input key",
                "name: x\nversion: 1\ninput:\n  optional: {}\nsteps:\n" + R,
                "sagas/x.yaml: field 'input.optional': unknown field (known: "
                "required)"},
        BadCase{"unknown step key", Saga(R + "    owner: me\n"),
                kStepPrefix +
                    "field 'owner': unknown field (known: action, "
                    "call_timeout, compensation, compensation_retry, "
                    "completion, duration, input, kind, name, participant, "
                    "retry, signal, timeout, until)"},
        BadCase{"step without name",
                Saga("  - {kind: read_only, participant: p, action: a}\n"),
                "sagas/x.yaml: step #1: field 'name': is required"},
        BadCase{"bad step name",
                Saga("  - {name: Check, kind: read_only, participant: p, "
                     "action: a}\n"),
                "sagas/x.yaml: step 'Check': field 'name': 'Check' must match "
                "[a-z][a-z0-9_]*"},
        BadCase{"duplicate step name", Saga(R + R),
                kStepPrefix + "field 'name': another step already has this "
                              "name"},
        BadCase{"bad kind",
                Saga("  - {name: a, kind: undoable, participant: p, action: "
                     "a}\n"),
                "sagas/x.yaml: step 'a': field 'kind': 'undoable' must be one "
                "of compensatable, read_only, pivot, retriable, wait, delay, "
                "saga"},
        BadCase{"missing participant",
                Saga("  - {name: a, kind: read_only, action: a}\n"),
                "sagas/x.yaml: step 'a': field 'participant': is required"},
        BadCase{"missing action",
                Saga("  - {name: a, kind: read_only, participant: p}\n"),
                "sagas/x.yaml: step 'a': field 'action': is required"},
        BadCase{"compensatable without compensation",
                Saga("  - {name: a, kind: compensatable, participant: p, "
                     "action: a}\n"),
                "sagas/x.yaml: step 'a': field 'compensation': is required"},
        BadCase{"read-only with compensation",
                Saga("  - {name: a, kind: read_only, participant: p, action: "
                     "a, compensation: b}\n"),
                "sagas/x.yaml: step 'a': field 'compensation': only "
                "compensatable steps have one (this step is read_only)"},
        BadCase{"pivot with compensation_retry",
                Saga("  - {name: a, kind: pivot, participant: p, action: a, "
                     "compensation_retry: {max_attempts: 2}}\n"),
                "sagas/x.yaml: step 'a': field 'compensation_retry': only "
                "compensatable steps have one (this step is pivot)"},
        BadCase{"two pivots",
                Saga("  - {name: a, kind: pivot, participant: p, action: a}\n"
                     "  - {name: b, kind: pivot, participant: p, action: b}\n"),
                "sagas/x.yaml: step 'b': field 'kind': a saga has at most one "
                "pivot, and 'a' is one"},
        BadCase{
            "compensatable after pivot",
            Saga("  - {name: a, kind: pivot, participant: p, action: a}\n" + R),
            kStepPrefix + "field 'kind': only retriable or wait or delay or "
                          "saga steps may follow the pivot 'a', not "
                          "compensatable ones"},
        BadCase{"read-only after pivot",
                Saga("  - {name: a, kind: pivot, participant: p, action: a}\n"
                     "  - {name: b, kind: read_only, participant: p, action: "
                     "b}\n"),
                "sagas/x.yaml: step 'b': field 'kind': only retriable or wait "
                "or delay or saga steps may follow the pivot 'a', not "
                "read_only ones"},
        BadCase{"wait with a participant",
                Saga("  - {name: a, kind: wait, participant: p}\n"),
                "sagas/x.yaml: step 'a': field 'participant': a wait step "
                "calls no participant, so it has none"},
        BadCase{"delay with input",
                Saga("  - {name: a, kind: delay, duration: 1s, input: {x: "
                     "input.x}}\n"),
                "sagas/x.yaml: step 'a': field 'input': a delay step calls no "
                "participant, so it has none"},
        BadCase{"call step with a signal", Saga(R + "    signal: approval\n"),
                kStepPrefix + "field 'signal': only wait and delay steps have "
                              "one (this step is compensatable)"},
        BadCase{"wait with a duration",
                Saga("  - {name: a, kind: wait, duration: 1s}\n"),
                "sagas/x.yaml: step 'a': field 'duration': only delay steps "
                "have one (this step is wait)"},
        BadCase{"bad signal name",
                Saga("  - {name: a, kind: wait, signal: Approve-It}\n"),
                "sagas/x.yaml: step 'a': field 'signal': 'Approve-It' must "
                "match [a-z][a-z0-9_]*"},
        BadCase{"wait with a bad timeout",
                Saga("  - {name: a, kind: wait, timeout: soon}\n"),
                "sagas/x.yaml: step 'a': field 'timeout': must be a duration "
                "such as 250ms, 2s, 5m or 1h (a bare number means "
                "milliseconds)"},
        BadCase{"delay without duration or until",
                Saga("  - {name: a, kind: delay}\n"),
                "sagas/x.yaml: step 'a': field 'duration': a delay step needs "
                "exactly one of duration (e.g. 10m) and until (a source path "
                "such as input.start_at)"},
        BadCase{"delay with both",
                Saga("  - {name: a, kind: delay, duration: 1s, until: "
                     "input.at}\n"),
                "sagas/x.yaml: step 'a': field 'duration': a delay step needs "
                "exactly one of duration (e.g. 10m) and until (a source path "
                "such as input.start_at)"},
        BadCase{"delay with a timeout",
                Saga("  - {name: a, kind: delay, duration: 1s, timeout: 2s}\n"),
                "sagas/x.yaml: step 'a': field 'timeout': a delay step has "
                "none (it waits for its duration, or until its time)"},
        BadCase{"delay until a later step",
                Saga("  - {name: a, kind: delay, until: steps.b.output.at}\n"
                     "  - {name: b, kind: read_only, participant: p, action: "
                     "b}\n"),
                "sagas/x.yaml: step 'a': field 'until': source "
                "'steps.b.output.at' must name an earlier step, and 'b' does "
                "not come before 'a'"},
        BadCase{
            "delay until a bad path",
            Saga("  - {name: a, kind: delay, until: at}\n"),
            "sagas/x.yaml: step 'a': field 'until': source 'at' must be "
            "input, input.<field> or steps.<earlier step>.output[.<field>]"},
        BadCase{"zero deadline",
                "name: x\nversion: 1\ndeadline: 0\nsteps:\n" + R,
                "sagas/x.yaml: field 'deadline': must be > 0"},
        BadCase{"retriable before pivot",
                Saga("  - {name: a, kind: retriable, participant: p, action: "
                     "a}\n"
                     "  - {name: b, kind: pivot, participant: p, action: b}\n"),
                "sagas/x.yaml: step 'a': field 'kind': a retriable step must "
                "come after the pivot (it cannot be undone)"},
        BadCase{"retriable without pivot",
                Saga(R + "  - {name: a, kind: retriable, participant: p, "
                         "action: a}\n"),
                "sagas/x.yaml: step 'a': field 'kind': a retriable step must "
                "come after the pivot (it cannot be undone)"},
        BadCase{"max_attempts zero", Saga(R + "    retry: {max_attempts: 0}\n"),
                kStepPrefix + "field 'retry.max_attempts': must be >= 1"},
        BadCase{"max_attempts not a number",
                Saga(R + "    retry: {max_attempts: many}\n"),
                kStepPrefix + "field 'retry.max_attempts': must be an "
                              "integer, got 'many'"},
        BadCase{"zero backoff", Saga(R + "    retry: {initial_backoff: 0}\n"),
                kStepPrefix + "field 'retry.initial_backoff': must be > 0"},
        BadCase{"negative backoff",
                Saga(R + "    compensation_retry: {max_backoff: -1s}\n"),
                kStepPrefix + "field 'compensation_retry.max_backoff': must be "
                              "> 0"},
        BadCase{"max below initial",
                Saga(R + "    retry: {initial_backoff: 2s, max_backoff: 1s}\n"),
                kStepPrefix + "field 'retry.max_backoff': must be >= "
                              "initial_backoff (2000ms)"},
        BadCase{"multiplier below one",
                Saga(R + "    retry: {multiplier: 0.5}\n"),
                kStepPrefix + "field 'retry.multiplier': must be >= 1"},
        BadCase{"jitter above one", Saga(R + "    retry: {jitter: 1.5}\n"),
                kStepPrefix + "field 'retry.jitter': must be between 0 and 1"},
        BadCase{"negative jitter",
                Saga(R + "    compensation_retry: {jitter: -0.1}\n"),
                kStepPrefix + "field 'compensation_retry.jitter': must be "
                              "between 0 and 1"},
        BadCase{"unknown retry key", Saga(R + "    retry: {attempts: 3}\n"),
                kStepPrefix + "field 'retry.attempts': unknown field (known: "
                              "give_up_after, initial_backoff, jitter, "
                              "max_attempts, max_backoff, multiplier)"},
        BadCase{"retry not a map", Saga(R + "    retry: 3\n"),
                kStepPrefix + "field 'retry': must be a map of max_attempts, "
                              "give_up_after, initial_backoff, max_backoff, "
                              "multiplier, jitter"},
        BadCase{"zero give_up_after",
                Saga(R + "    retry: {give_up_after: 0}\n"),
                kStepPrefix + "field 'retry.give_up_after': must be > 0"},
        BadCase{"give_up_after not a duration",
                Saga(R + "    retry: {give_up_after: an hour}\n"),
                kStepPrefix + "field 'retry.give_up_after': must be a duration "
                              "such as 250ms, 2s, 5m or 1h (a bare number "
                              "means milliseconds)"},
        BadCase{"give_up_after within the first backoff",
                Saga(R + "    compensation_retry: {give_up_after: 1s, "
                         "initial_backoff: 1s}\n"),
                kStepPrefix + "field 'compensation_retry.give_up_after': must "
                              "be longer than initial_backoff (1000ms), or no "
                              "retry would fit in it"},
        BadCase{"zero timeout", Saga(R + "    timeout: 0s\n"),
                kStepPrefix + "field 'timeout': must be > 0"},
        BadCase{"bad duration unit", Saga(R + "    timeout: 2d\n"),
                kStepPrefix + "field 'timeout': must be a duration such as "
                              "250ms, 2s, 5m or 1h (a bare number means "
                              "milliseconds)"},
        BadCase{"source outside input and steps",
                Saga(R + "    input: {patient_id: env.patient}\n"),
                kStepPrefix + "field 'input.patient_id': source 'env.patient' "
                              "must be input, input.<field> or "
                              "steps.<earlier step>.output[.<field>]"},
        BadCase{"source with empty segment",
                Saga(R + "    input: {patient_id: input..id}\n"),
                kStepPrefix + "field 'input.patient_id': source 'input..id' "
                              "has an empty segment"},
        BadCase{"source from unknown step",
                Saga(R + "    input: {id: steps.lookup.output.id}\n"),
                kStepPrefix + "field 'input.id': source "
                              "'steps.lookup.output.id' names unknown step "
                              "'lookup'"},
        BadCase{"source from itself",
                Saga(R + "    input: {id: steps.reserve_doctor.output.id}\n"),
                kStepPrefix + "field 'input.id': source "
                              "'steps.reserve_doctor.output.id' must name an "
                              "earlier step, and 'reserve_doctor' does not "
                              "come before 'reserve_doctor'"},
        BadCase{"source from a later step",
                Saga(R + "    input: {id: steps.notify.output.id}\n" +
                     "  - {name: notify, kind: pivot, participant: p, action: "
                     "n}\n"),
                kStepPrefix + "field 'input.id': source "
                              "'steps.notify.output.id' must name an earlier "
                              "step, and 'notify' does not come before "
                              "'reserve_doctor'"},
        BadCase{"source without output",
                Saga("  - {name: a, kind: read_only, participant: p, action: "
                     "a}\n" +
                     R + "    input: {id: steps.a.result}\n"),
                kStepPrefix + "field 'input.id': source 'steps.a.result' must "
                              "be input, input.<field> or steps.<earlier "
                              "step>.output[.<field>]"},
        BadCase{"mapping not a string",
                Saga(R + "    input: {id: [input.a]}\n"),
                kStepPrefix + "field 'input.id': must be a source path such "
                              "as input.<field>"},
        BadCase{"negative timeout", Saga(R + "    timeout: -2s\n"),
                kStepPrefix + "field 'timeout': must be > 0"},
        BadCase{"absurd timeout", Saga(R + "    timeout: 999999999999m\n"),
                kStepPrefix + "field 'timeout': is too long"},
        BadCase{"timeout not a scalar", Saga(R + "    timeout: {s: 2}\n"),
                kStepPrefix + "field 'timeout': must be a duration such as "
                              "250ms, 2s, 5m or 1h (a bare number means "
                              "milliseconds)"},
        BadCase{"version too large",
                "name: x\nversion: 99999999999\nsteps:\n" + R,
                "sagas/x.yaml: field 'version': must be an integer, got "
                "'99999999999'"},
        BadCase{"name not a string", "name: [x]\nversion: 1\nsteps:\n" + R,
                "sagas/x.yaml: field 'name': must be a string"},
        BadCase{"steps not a list", "name: x\nversion: 1\nsteps: {a: 1}\n",
                "sagas/x.yaml: field 'steps': must be a list of steps"},
        BadCase{"step not a map", "name: x\nversion: 1\nsteps: [a]\n",
                "sagas/x.yaml: step #1: must be a map"},
        BadCase{"duplicate top-level key",
                "name: x\nversion: 1\nversion: 2\nsteps:\n" + R,
                "sagas/x.yaml: field 'version': appears twice"},
        BadCase{"duplicate step key", Saga(R + "    action: again\n"),
                kStepPrefix + "field 'action': appears twice"},
        BadCase{"key not a scalar", "name: x\nversion: 1\n[a]: 1\nsteps:\n" + R,
                "sagas/x.yaml: keys must be plain names"},
        BadCase{"duplicate required input field",
                "name: x\nversion: 1\ninput:\n  required:\n    a: string\n"
                "    a: number\nsteps:\n" +
                    R,
                "sagas/x.yaml: field 'input.required.a': appears twice"},
        BadCase{"input field name with a dot",
                "name: x\nversion: 1\ninput:\n  required:\n    a.b: "
                "string\nsteps:\n" +
                    R,
                "sagas/x.yaml: field 'input.required.a.b': is not a valid "
                "field name"},
        BadCase{"multiplier not finite",
                Saga(R + "    retry: {multiplier: .inf}\n"),
                kStepPrefix + "field 'retry.multiplier': must be a finite "
                              "number"},
        BadCase{"jitter not a number", Saga(R + "    retry: {jitter: [1]}\n"),
                kStepPrefix + "field 'retry.jitter': must be a number"}),
    [](const ::testing::TestParamInfo<BadCase>& info) {
      std::string name;
      for (const char* c = info.param.what; *c; ++c) {
        name += std::isalnum(static_cast<unsigned char>(*c)) ? *c : '_';
      }
      return name;
    });

INSTANTIATE_TEST_SUITE_P(
    AsyncCompletion, BadDefinitionTest,
    ::testing::Values(
        BadCase{"unknown completion mode", Saga(R + "    completion: later\n"),
                kStepPrefix +
                    "field 'completion': 'later' must be one of sync, async"},
        BadCase{"completion not a string",
                Saga(R + "    completion: [async]\n"),
                kStepPrefix + "field 'completion': must be a string"},
        BadCase{"call_timeout on a synchronous step",
                Saga(R + "    call_timeout: 1s\n"),
                kStepPrefix +
                    "field 'call_timeout': only steps with 'completion: "
                    "async' have one (the timeout of a synchronous step is "
                    "its call's deadline)"},
        BadCase{"call_timeout on an explicitly synchronous step",
                Saga(R + "    completion: sync\n    call_timeout: 1s\n"),
                kStepPrefix +
                    "field 'call_timeout': only steps with 'completion: "
                    "async' have one (the timeout of a synchronous step is "
                    "its call's deadline)"},
        BadCase{"call_timeout longer than timeout",
                Saga(R + "    completion: async\n    timeout: 2s\n"
                         "    call_timeout: 3s\n"),
                kStepPrefix +
                    "field 'call_timeout': must not be longer than timeout "
                    "(2000ms), the bound of the whole wait for the "
                    "completion"},
        BadCase{"zero call_timeout",
                Saga(R + "    completion: async\n    call_timeout: 0s\n"),
                kStepPrefix + "field 'call_timeout': must be > 0"}),
    [](const ::testing::TestParamInfo<BadCase>& info) {
      std::string name;
      for (const char* c = info.param.what; *c; ++c) {
        name += std::isalnum(static_cast<unsigned char>(*c)) ? *c : '_';
      }
      return name;
    });

TEST(DefinitionLoaderTest, AsyncStepWaitsUpToItsTimeoutAndCallsWithItsOwn) {
  absl::StatusOr<SagaDefinition> def =
      ParseDefinition(Saga(R + "    completion: async\n    timeout: 48h\n"
                               "    call_timeout: 3s\n"),
                      kSource);
  ASSERT_TRUE(def.ok()) << def.status();
  EXPECT_TRUE(def->steps[0].async_completion);
  EXPECT_EQ(def->steps[0].timeout_ms, 48 * 3600 * 1000LL);
  EXPECT_EQ(def->steps[0].call_timeout_ms, 3000);
}

TEST(DefinitionLoaderTest, AsyncCallTimeoutDefaultsToFiveSecondsAtMostTimeout) {
  absl::StatusOr<SagaDefinition> long_wait = ParseDefinition(
      Saga(R + "    completion: async\n    timeout: 1h\n"), kSource);
  ASSERT_TRUE(long_wait.ok()) << long_wait.status();
  EXPECT_EQ(long_wait->steps[0].call_timeout_ms, 5000);
  absl::StatusOr<SagaDefinition> short_wait = ParseDefinition(
      Saga(R + "    completion: async\n    timeout: 2s\n"), kSource);
  ASSERT_TRUE(short_wait.ok()) << short_wait.status();
  EXPECT_EQ(short_wait->steps[0].call_timeout_ms, 2000);
}

TEST(DefinitionLoaderTest, StepsAreSynchronousUnlessTheySayAsync) {
  absl::StatusOr<SagaDefinition> def = ParseDefinition(Saga(R), kSource);
  ASSERT_TRUE(def.ok()) << def.status();
  EXPECT_FALSE(def->steps[0].async_completion);
  absl::StatusOr<SagaDefinition> sync =
      ParseDefinition(Saga(R + "    completion: sync\n"), kSource);
  ASSERT_TRUE(sync.ok()) << sync.status();
  EXPECT_FALSE(sync->steps[0].async_completion);
}

TEST(DefinitionLoaderTest, ReportsInvalidYamlWithItsLine) {
  absl::StatusOr<SagaDefinition> def =
      ParseDefinition("name: x\nsteps: [\n", kSource);
  ASSERT_FALSE(def.ok());
  EXPECT_EQ(def.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(def.status().message().find("sagas/x.yaml: invalid YAML at line"),
            std::string::npos)
      << def.status();
}

TEST(DefinitionLoaderTest, MissingFileIsNotFound) {
  absl::StatusOr<SagaDefinition> def =
      LoadDefinitionFile(SourceDir() + "/sagas/no_such_saga.yaml");
  ASSERT_FALSE(def.ok());
  EXPECT_EQ(def.status().code(), absl::StatusCode::kNotFound);
}

class DefinitionDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::path(::testing::TempDir()) /
        ("saga_defs_" +
         std::string(
             ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }

  std::filesystem::path dir_;
};

std::string Named(const std::string& name) {
  return "name: " + name + "\nversion: 1\nsteps:\n" + kReserve;
}

TEST_F(DefinitionDirTest, LoadsYamlFilesSortedByName) {
  Write("b.yml", Named("second"));
  Write("a.yaml", Named("first"));
  Write("notes.txt", "not a definition");
  absl::StatusOr<std::vector<SagaDefinition>> defs =
      LoadDefinitionDir(dir_.string());
  ASSERT_TRUE(defs.ok()) << defs.status();
  ASSERT_EQ(defs->size(), 2u);
  EXPECT_EQ((*defs)[0].name, "first");
  EXPECT_EQ((*defs)[1].name, "second");
}

TEST_F(DefinitionDirTest, RejectsTwoFilesWithTheSameName) {
  Write("a.yaml", Named("same"));
  Write("b.yaml", Named("same"));
  absl::StatusOr<std::vector<SagaDefinition>> defs =
      LoadDefinitionDir(dir_.string());
  ASSERT_FALSE(defs.ok());
  EXPECT_EQ(defs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(defs.status().message(),
            (dir_ / "b.yaml").string() +
                ": saga 'same' is already defined in " +
                (dir_ / "a.yaml").string());
}

TEST_F(DefinitionDirTest, FailsOnTheFirstBadFile) {
  Write("a.yaml", Named("good"));
  Write("b.yaml", "name: bad\nversion: 1\nsteps: []\n");
  absl::StatusOr<std::vector<SagaDefinition>> defs =
      LoadDefinitionDir(dir_.string());
  ASSERT_FALSE(defs.ok());
  EXPECT_EQ(defs.status().message(),
            (dir_ / "b.yaml").string() +
                ": field 'steps': must have at least one step");
}

TEST(DefinitionLoaderTest, MissingDirectoryIsNotFound) {
  absl::StatusOr<std::vector<SagaDefinition>> defs =
      LoadDefinitionDir(SourceDir() + "/no/such/dir");
  ASSERT_FALSE(defs.ok());
  EXPECT_EQ(defs.status().code(), absl::StatusCode::kNotFound);
}

// The one test that reads the demo's sagas/ (every other test loads the
// frozen copies in tests/testdata): what ships must load.
TEST(DefinitionLoaderTest, TheRepositorySagasDirectoryLoads) {
  absl::StatusOr<std::vector<SagaDefinition>> defs =
      LoadDefinitionDir(SourceDir() + "/sagas");
  ASSERT_TRUE(defs.ok()) << defs.status();
  EXPECT_FALSE(defs->empty());
}

TEST(DefinitionTest, StepKindNames) {
  EXPECT_STREQ(StepKindName(StepKind::kCompensatable), "compensatable");
  EXPECT_STREQ(StepKindName(StepKind::kReadOnly), "read_only");
  EXPECT_STREQ(StepKindName(StepKind::kPivot), "pivot");
  EXPECT_STREQ(StepKindName(StepKind::kRetriable), "retriable");
}

}  // namespace
}  // namespace saga::core
