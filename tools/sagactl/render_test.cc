#include "tools/sagactl/render.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace saga::sagactl {
namespace {

using nlohmann::json;

// 2024-05-01T12:00:00.000Z
constexpr int64_t kT0 = 1714564800000;

v1::Saga CompensatedSaga() {
  v1::Saga saga;
  saga.set_saga_id("7f3c");
  saga.set_saga_type("book_appointment");
  saga.set_definition_version(2);
  saga.set_status(v1::SAGA_STATUS_COMPENSATED);
  saga.set_input_json(R"({ "patient_id": "p1",
                          "doctor_id": "d9" })");
  saga.set_error("reserve_slot: slot taken");
  saga.set_created_unix_ms(kT0);
  saga.set_updated_unix_ms(kT0 + 2500);
  saga.set_idempotency_key("k-1");
  v1::Step* check = saga.add_steps();
  check->set_name("check_patient");
  check->set_status(v1::STEP_STATUS_COMPENSATED);
  check->set_attempts(1);
  check->set_compensation_attempts(1);
  check->set_output_json(R"({"ok": true})");
  check->set_started_unix_ms(kT0 + 10);
  check->set_ended_unix_ms(kT0 + 130);
  v1::Step* reserve = saga.add_steps();
  reserve->set_name("reserve_slot");
  reserve->set_status(v1::STEP_STATUS_FAILED);
  reserve->set_attempts(3);
  reserve->set_error("slot taken");
  reserve->set_started_unix_ms(kT0 + 200);
  reserve->set_ended_unix_ms(kT0 + 1450);
  reserve->set_outcome_unknown(true);
  v1::Step* notify = saga.add_steps();
  notify->set_name("notify");
  notify->set_status(v1::STEP_STATUS_PENDING);
  return saga;
}

v1::GetSagaHistoryResponse History() {
  v1::GetSagaHistoryResponse history;
  history.set_saga_id("7f3c");
  v1::SagaEvent* started = history.add_events();
  started->set_seq(1);
  started->set_type("SagaStarted");
  started->set_data_json("{}");
  started->set_recorded_unix_ms(kT0);
  v1::SagaEvent* step = history.add_events();
  step->set_seq(2);
  step->set_type("StepFailed");
  step->set_step("reserve_slot");
  step->set_attempt(3);
  step->set_data_json(R"({"error": "slot taken", "retryable": false})");
  step->set_recorded_unix_ms(kT0 + 1450);
  return history;
}

TEST(StatusNameTest, DropsTheEnumPrefix) {
  EXPECT_EQ(SagaStatusName(v1::SAGA_STATUS_COMPLETED), "COMPLETED");
  EXPECT_EQ(SagaStatusName(v1::SAGA_STATUS_COMPENSATING), "COMPENSATING");
  EXPECT_EQ(StepStatusName(v1::STEP_STATUS_WAITING_RETRY), "WAITING_RETRY");
  EXPECT_EQ(SagaStatusName(static_cast<v1::SagaStatus>(42)), "42");
}

TEST(ParseSagaStatusTest, AcceptsShortAndFullNamesInAnyCase) {
  EXPECT_EQ(*ParseSagaStatus("completed"), v1::SAGA_STATUS_COMPLETED);
  EXPECT_EQ(*ParseSagaStatus("COMPENSATED"), v1::SAGA_STATUS_COMPENSATED);
  EXPECT_EQ(*ParseSagaStatus("saga_status_failed"), v1::SAGA_STATUS_FAILED);
  EXPECT_EQ(*ParseSagaStatus("SAGA_STATUS_RUNNING"), v1::SAGA_STATUS_RUNNING);
}

TEST(ParseSagaStatusTest, RejectsUnknownAndUnspecified) {
  for (const char* text : {"", "done", "unspecified", "SAGA_STATUS_", "3"}) {
    absl::StatusOr<v1::SagaStatus> parsed = ParseSagaStatus(text);
    EXPECT_FALSE(parsed.ok()) << text;
    if (!parsed.ok()) {
      EXPECT_NE(parsed.status().message().find("expected RUNNING"),
                std::string::npos);
    }
  }
}

TEST(StatusPredicatesTest, TellEndingsApart) {
  EXPECT_TRUE(IsTerminal(v1::SAGA_STATUS_COMPLETED));
  EXPECT_TRUE(IsTerminal(v1::SAGA_STATUS_FAILED));
  EXPECT_FALSE(IsTerminal(v1::SAGA_STATUS_COMPENSATING));
  EXPECT_TRUE(EndedBadly(v1::SAGA_STATUS_COMPENSATED));
  EXPECT_FALSE(EndedBadly(v1::SAGA_STATUS_COMPLETED));
  EXPECT_FALSE(EndedBadly(v1::SAGA_STATUS_RUNNING));
}

TEST(CompactJsonTest, CompactsValidJsonOnly) {
  EXPECT_EQ(CompactJson("{ \"a\" : [1, 2] }"), R"({"a":[1,2]})");
  EXPECT_EQ(CompactJson("not json"), "not json");
  EXPECT_EQ(CompactJson(""), "");
}

TEST(RenderJsonTest, KeepsProtoFieldNamesAndEmbedsJsonStrings) {
  v1::Saga saga = CompensatedSaga();
  saga.mutable_steps(2)->set_output_json("not json");
  absl::StatusOr<std::string> text = RenderJson(saga);
  ASSERT_TRUE(text.ok()) << text.status();
  json value = json::parse(*text);
  EXPECT_EQ(value["saga_id"], "7f3c");
  EXPECT_EQ(value["status"], "SAGA_STATUS_COMPENSATED");
  EXPECT_EQ(value["input_json"]["patient_id"], "p1");
  EXPECT_EQ(value["created_unix_ms"], std::to_string(kT0));
  EXPECT_EQ(value["current_step"], "");
  EXPECT_EQ(value["steps"][0]["output_json"]["ok"], true);
  EXPECT_TRUE(value["steps"][1]["output_json"].is_null());
  EXPECT_EQ(value["steps"][1]["outcome_unknown"], true);
  EXPECT_EQ(value["steps"][2]["output_json"], "not json");
  EXPECT_EQ(value["steps"][2]["attempts"], 0);
  EXPECT_EQ(text->back(), '\n');
}

TEST(RenderJsonTest, StartResponseShowsCreatedEvenWhenFalse) {
  v1::StartSagaResponse response;
  response.set_saga_id("s1");
  json value = json::parse(*RenderJson(response));
  EXPECT_EQ(value, json({{"saga_id", "s1"}, {"created", false}}));
}

TEST(RenderJsonTest, SagaDetailHasSagaAndEvents) {
  absl::StatusOr<std::string> text =
      RenderSagaDetailJson(CompensatedSaga(), History());
  ASSERT_TRUE(text.ok()) << text.status();
  json value = json::parse(*text);
  EXPECT_EQ(value["saga"]["saga_type"], "book_appointment");
  ASSERT_EQ(value["events"].size(), 2u);
  EXPECT_EQ(value["events"][1]["data_json"]["retryable"], false);
  EXPECT_EQ(value["events"][1]["seq"], "2");

  json empty = json::parse(
      *RenderSagaDetailJson(v1::Saga(), v1::GetSagaHistoryResponse()));
  EXPECT_TRUE(empty["events"].is_array());
  EXPECT_TRUE(empty["events"].empty());
}

TEST(RenderSagaTableTest, ShowsFieldsThenSteps) {
  EXPECT_EQ(
      RenderSagaTable(CompensatedSaga(), kT0 + 5 * 60 * 1000),
      "ID:               7f3c\n"
      "Type:             book_appointment (version 2)\n"
      "Status:           COMPENSATED\n"
      "Current step:     -\n"
      "Error:            reserve_slot: slot taken\n"
      "Idempotency key:  k-1\n"
      "Trace:            -\n"
      "Started by:       -\n"
      "Created:          2024-05-01 12:00:00.000Z (5m ago)\n"
      "Updated:          2024-05-01 12:00:02.500Z\n"
      "Input:            {\"doctor_id\":\"d9\",\"patient_id\":\"p1\"}\n"
      "\n"
      "Steps:\n"
      "NAME           STATUS       ATTEMPTS  COMP_ATTEMPTS  DURATION  "
      "OUTPUT/ERROR\n"
      "check_patient  COMPENSATED  1         1              120ms     "
      "{\"ok\":true}\n"
      "reserve_slot   FAILED       3         0              1.3s      "
      "outcome unknown; slot taken\n"
      "notify         PENDING      0         0              -         -\n");
}

TEST(RenderSagaTableTest, NamesTheFailedCallTheKeyTheRerunsAndAllAttempts) {
  v1::Saga saga = CompensatedSaga();
  saga.set_business_key("p1");
  saga.set_rerun_of("1a2b");
  saga.add_reruns("9c8d");
  saga.add_reruns("9c8e");
  v1::Step* reserve = saga.mutable_steps(1);
  reserve->set_participant("doctor");
  reserve->set_action("reserve_slot");
  reserve->set_compensation("release_slot");
  reserve->set_total_attempts(7);  // 4 before an operator retry
  const std::string text = RenderSagaTable(saga, kT0);
  EXPECT_NE(text.find("Business key:     p1\n"
                      "Rerun of:         1a2b\n"
                      "Reruns:           9c8d, 9c8e\n"
                      "Failed call:      doctor reserve_slot "
                      "(step reserve_slot)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("reserve_slot   FAILED       3 (7 in all)  0  "),
            std::string::npos)
      << text;

  // A compensation that gave up is the call to look at.
  reserve->set_status(v1::STEP_STATUS_COMPENSATION_FAILED);
  EXPECT_NE(RenderSagaTable(saga, kT0).find(
                "Failed call:      doctor release_slot (compensating "
                "step reserve_slot)\n"),
            std::string::npos);
}

TEST(RenderSagaTableTest, RunningStepShowsTimeSoFar) {
  v1::Saga saga;
  saga.set_saga_id("s2");
  saga.set_status(v1::SAGA_STATUS_RUNNING);
  saga.set_current_step("reserve_slot");
  v1::Step* step = saga.add_steps();
  step->set_name("reserve_slot");
  step->set_status(v1::STEP_STATUS_RUNNING);
  step->set_attempts(1);
  step->set_started_unix_ms(kT0);
  std::string text = RenderSagaTable(saga, kT0 + 12000);
  EXPECT_NE(text.find("RUNNING  1         0              12s so far"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Current step:     reserve_slot\n"), std::string::npos);
}

TEST(RenderSagaTableTest, WaitingStepsSignalsDeadlineAndScheduledStart) {
  v1::Saga saga;
  saga.set_saga_id("s4");
  saga.set_status(v1::SAGA_STATUS_RUNNING);
  saga.set_current_step("approval");
  saga.set_start_at_unix_ms(kT0);
  saga.set_deadline_unix_ms(kT0 + 3600 * 1000);
  v1::Step* approval = saga.add_steps();
  approval->set_name("approval");
  approval->set_status(v1::STEP_STATUS_WAITING);
  approval->set_attempts(1);
  approval->set_started_unix_ms(kT0);
  approval->set_waits_for_signal("clinic_approval");
  approval->set_waiting_until_unix_ms(kT0 + 60000);
  v1::Step* delay = saga.add_steps();
  delay->set_name("grace");
  delay->set_status(v1::STEP_STATUS_WAITING);
  v1::ReceivedSignal* kept = saga.add_signals();
  kept->set_name("receipt");
  kept->set_idempotency_key("r-1");
  kept->set_payload_json(R"({"id": 7})");
  kept->set_received_unix_ms(kT0 + 1000);
  v1::ReceivedSignal* used = saga.add_signals();
  used->set_name("clinic_approval");
  used->set_idempotency_key("a-1");
  used->set_payload_json("{}");
  used->set_received_unix_ms(kT0 + 2000);
  used->set_consumed_by_step("approval");

  const std::string text = RenderSagaTable(saga, kT0 + 12000);
  EXPECT_NE(text.find("Scheduled start:  2024-05-01 12:00:00.000Z\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Deadline:         2024-05-01 13:00:00.000Z\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("WAITING  1         0              12s so far  waiting "
                      "for signal 'clinic_approval' until 2024-05-01 "
                      "12:01:00.000Z"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Signals:\nNAME             KEY  RECEIVED"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("receipt          r-1  2024-05-01 12:00:01.000Z  (kept)"
                      "       {\"id\":7}"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("clinic_approval  a-1  2024-05-01 12:00:02.000Z  "
                      "approval"),
            std::string::npos)
      << text;
  saga.set_deadline_passed(true);
  EXPECT_NE(RenderSagaTable(saga, kT0).find("13:00:00.000Z (passed)\n"),
            std::string::npos);
}

TEST(RenderSagaTableTest, AcceptedStepShowsUntilWhenItWaitsForItsCompletion) {
  v1::Saga saga;
  saga.set_saga_id("s4");
  saga.set_status(v1::SAGA_STATUS_RUNNING);
  saga.set_current_step("charge");
  v1::Step* step = saga.add_steps();
  step->set_name("charge");
  step->set_status(v1::STEP_STATUS_RUNNING);
  step->set_attempts(1);
  step->set_started_unix_ms(kT0);
  step->set_completion_due_unix_ms(kT0 + 3600 * 1000);
  std::string text = RenderSagaTable(saga, kT0 + 12000);
  EXPECT_NE(text.find("charge  ACCEPTED  1         0              12s so far  "
                      "waiting for completion until 2024-05-01 13:00:00.000Z"),
            std::string::npos)
      << text;
}

TEST(RenderSagaTableTest, ShowsTheParentAndTheChildSagas) {
  v1::Saga child;
  child.set_saga_id("c1");
  child.set_parent_saga_id("p1");
  child.set_parent_step("payment");
  EXPECT_NE(
      RenderSagaTable(child, kT0).find("Parent:           p1 (step payment)\n"),
      std::string::npos)
      << RenderSagaTable(child, kT0);

  v1::Saga parent;
  parent.set_saga_id("p1");
  parent.add_steps()->set_name("reserve");
  v1::Step* payment = parent.add_steps();
  payment->set_name("payment");
  payment->set_child_saga_id("c1");
  const std::string text = RenderSagaTable(parent, kT0);
  EXPECT_EQ(text.substr(text.find("Child sagas:")),
            "Child sagas:\nSTEP     CHILD SAGA\npayment  c1\n")
      << text;
}

TEST(RenderSagaTableTest, SagaWithoutStepsSaysSo) {
  v1::Saga saga;
  saga.set_saga_id("s3");
  EXPECT_NE(RenderSagaTable(saga, kT0).find("Steps:\n  (none)\n"),
            std::string::npos);
}

TEST(RenderHistoryTableTest, ShowsTimelineWithElapsedTime) {
  EXPECT_EQ(RenderHistoryTable(History()),
            "TIME          ELAPSED  SEQ  TYPE         STEP          ATTEMPT  "
            "DATA\n"
            "12:00:00.000  +0ms     1    SagaStarted  -             -        "
            "-\n"
            "12:00:01.450  +1.5s    2    StepFailed   reserve_slot  3        "
            "{\"error\":\"slot taken\",\"retryable\":false}\n");
  EXPECT_EQ(RenderHistoryTable(v1::GetSagaHistoryResponse()),
            "  (no events)\n");
}

TEST(RenderHistoryTableTest, ShortensLongData) {
  v1::GetSagaHistoryResponse history;
  v1::SagaEvent* event = history.add_events();
  event->set_seq(1);
  event->set_type("StepSucceeded");
  event->set_data_json(R"({"blob": ")" + std::string(200, 'x') + R"("})");
  std::string text = RenderHistoryTable(history);
  std::string last_line = text.substr(text.find('\n') + 1);
  EXPECT_LT(last_line.size(), 130u) << text;
  EXPECT_NE(last_line.find("xxx...\n"), std::string::npos) << text;
}

TEST(RenderSagaDetailTableTest, AppendsTheTimeline) {
  std::string text = RenderSagaDetailTable(CompensatedSaga(), History(), kT0);
  EXPECT_NE(text.find("Steps:\n"), std::string::npos);
  EXPECT_NE(text.find("\nTimeline (UTC):\nTIME "), std::string::npos);
  EXPECT_LT(text.find("Steps:"), text.find("Timeline"));
}

TEST(RenderSagaListTableTest, OneLinePerSaga) {
  v1::ListSagasResponse response;
  v1::Saga* running = response.add_sagas();
  running->set_saga_id("a1");
  running->set_saga_type("book_appointment");
  running->set_status(v1::SAGA_STATUS_RUNNING);
  running->set_current_step("reserve_slot");
  running->set_created_unix_ms(kT0 - 45000);
  v1::Saga* failed = response.add_sagas();
  failed->set_saga_id("b2");
  failed->set_saga_type("book_appointment");
  failed->set_status(v1::SAGA_STATUS_FAILED);
  failed->set_error("release_slot: " + std::string(100, 'e'));
  failed->set_created_unix_ms(kT0 - 3 * 3600 * 1000);
  running->set_current_attempt(2);
  EXPECT_EQ(
      RenderSagaListTable(response, kT0),
      "ID  TYPE              STATUS   STEP          ATTEMPTS  AGE  ERROR\n"
      "a1  book_appointment  RUNNING  reserve_slot  2         45s  -\n"
      "b2  book_appointment  FAILED   -             -         3h   "
      "release_slot: " +
          std::string(43, 'e') + "...\n");
  EXPECT_EQ(RenderSagaListTable(v1::ListSagasResponse(), kT0),
            "No sagas found.\n");
}

TEST(RenderSagaListTableTest, TheErrorTakesTheTerminalsRemainingWidth) {
  v1::ListSagasResponse response;
  v1::Saga* failed = response.add_sagas();
  failed->set_saga_id("b2");
  failed->set_saga_type("book");
  failed->set_status(v1::SAGA_STATUS_FAILED);
  failed->set_error("release_slot: " + std::string(200, 'e'));
  failed->set_created_unix_ms(kT0 - 3 * 3600 * 1000);
  const std::string header = "ID  TYPE  STATUS  STEP  ATTEMPTS  AGE  ERROR\n";
  const size_t others =
      std::string("b2  book  FAILED  -     -         3h   ").size();
  // 120 columns: the error fills the rest of the line.
  std::string fitted = RenderSagaListTable(response, kT0, 120);
  ASSERT_EQ(fitted.rfind(header, 0), 0u) << fitted;
  std::string row = fitted.substr(header.size());
  EXPECT_EQ(row.size(), 120u + 1) << row;  // with its newline
  EXPECT_EQ(row.substr(others, 14), "release_slot: ");
  EXPECT_EQ(row.substr(row.size() - 4), "...\n");
  // 0 (--wide, or not a terminal): the whole error.
  std::string wide = RenderSagaListTable(response, kT0, 0);
  EXPECT_NE(wide.find(failed->error() + "\n"), std::string::npos);
  // A narrow terminal still shows 20 characters of the error.
  std::string narrow = RenderSagaListTable(response, kT0, 30);
  EXPECT_EQ(narrow.substr(header.size()).size(), others + 20 + 1);
  // A business key gets a column when a listed saga has one.
  failed->set_business_key("p-1001");
  EXPECT_EQ(
      RenderSagaListTable(response, kT0, 0)
          .rfind("ID  TYPE  STATUS  STEP  ATTEMPTS  AGE  BUSINESS KEY  ERROR\n",
                 0),
      0u);
}

TEST(RenderDefinitionsTableTest, OneLinePerVersion) {
  v1::ListDefinitionsResponse response;
  v1::DefinitionInfo* v1_info = response.add_definitions();
  v1_info->set_saga_type("appointment_booking");
  v1_info->set_version(1);
  v1_info->add_steps("validate_patient");
  v1_info->add_steps("reserve_doctor");
  v1::DefinitionInfo* v2_info = response.add_definitions();
  *v2_info = *v1_info;
  v2_info->set_version(2);
  v2_info->set_current(true);
  v2_info->set_description("Book a doctor.");
  EXPECT_EQ(RenderDefinitionsTable(response),
            "TYPE                 VERSION  CURRENT  STEPS" +
                std::string(30, ' ') +
                "DESCRIPTION\n"
                "appointment_booking  1        no       validate_patient > "
                "reserve_doctor  -\n"
                "appointment_booking  2        yes      validate_patient > "
                "reserve_doctor  Book a doctor.\n");
  EXPECT_EQ(RenderDefinitionsTable(v1::ListDefinitionsResponse()),
            "No saga definitions.\n");
}

TEST(RenderDefinitionsTableTest, StepsOutlineDrawsParallelGroups) {
  v1::DefinitionInfo info;
  // a > (b | c > d | hold) > e > (m1 | m2)
  const struct {
    const char* name;
    int group, branch;
  } steps[] = {{"a", 0, 0},    {"b", 1, 1}, {"c", 1, 2},  {"d", 1, 2},
               {"hold", 1, 3}, {"e", 0, 0}, {"m1", 2, 1}, {"m2", 2, 2}};
  for (const auto& step : steps) {
    info.add_steps(step.name);
    v1::DefinitionStep* detail = info.add_step_details();
    detail->set_name(step.name);
    detail->set_parallel_group(step.group);
    detail->set_parallel_branch(step.branch);
  }
  EXPECT_EQ(StepsOutline(info), "a > (b | c > d | hold) > e > (m1 | m2)");
  info.clear_step_details();  // an older server: names only
  EXPECT_EQ(StepsOutline(info), "a > b > c > d > hold > e > m1 > m2");
}

TEST(RenderSagaTableTest, AParallelGroupIsARowWithItsBranchesBelow) {
  v1::Saga saga;
  saga.set_status(v1::SAGA_STATUS_RUNNING);
  const struct {
    const char* name;
    int group, branch;
    v1::StepStatus status;
  } steps[] = {{"validate_patient", 0, 0, v1::STEP_STATUS_SUCCEEDED},
               {"reserve_doctor", 1, 1, v1::STEP_STATUS_SUCCEEDED},
               {"charge", 1, 2, v1::STEP_STATUS_RUNNING},
               {"notify", 0, 0, v1::STEP_STATUS_PENDING}};
  for (const auto& s : steps) {
    v1::Step* step = saga.add_steps();
    step->set_name(s.name);
    step->set_status(s.status);
    step->set_parallel_group(s.group);
    step->set_parallel_branch(s.branch);
  }
  const std::string text = RenderSagaTable(saga, kT0);
  const std::string table = text.substr(text.find("Steps:\n"));
  const size_t group = table.find("\nparallel: ");
  const size_t reserve = table.find("\n  [1] reserve_doctor  SUCCEEDED");
  const size_t charge = table.find("\n  [2] charge          RUNNING");
  const size_t notify = table.find("\nnotify                PENDING");
  ASSERT_NE(group, std::string::npos) << table;
  EXPECT_LT(table.find("\nvalidate_patient      SUCCEEDED"), group) << table;
  EXPECT_LT(group, reserve) << table;
  EXPECT_LT(reserve, charge) << table;
  EXPECT_LT(charge, notify) << table;
  EXPECT_NE(notify, std::string::npos) << table;
}

TEST(RenderWatchLineTest, OneEventPerLine) {
  v1::SagaEvent event;
  event.set_seq(4);
  event.set_type("StepFailed");
  event.set_step("reserve_doctor");
  event.set_attempt(2);
  event.set_data_json(R"({"error": "busy", "retryable": true})");
  event.set_recorded_unix_ms(kT0 + 1500);
  EXPECT_EQ(RenderWatchLine(event),
            "12:00:01.500  #4    StepFailed                  reserve_doctor "
            "attempt 2  {\"error\":\"busy\",\"retryable\":true}\n");
  v1::SagaEvent done;
  done.set_seq(12);
  done.set_type("SagaCompleted");
  done.set_data_json("{}");
  done.set_recorded_unix_ms(kT0);
  EXPECT_EQ(RenderWatchLine(done), "12:00:00.000  #12   SagaCompleted\n");
  absl::StatusOr<std::string> line = RenderJsonLine(event);
  ASSERT_TRUE(line.ok());
  EXPECT_EQ(line->find('\n'), line->size() - 1);
  EXPECT_EQ(json::parse(*line)["data_json"]["error"], "busy");
}

}  // namespace
}  // namespace saga::sagactl
