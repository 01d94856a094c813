// The crash-point matrix: for every saga path (success, a business failure
// at each step, retries exhausted at the pivot with one and with two steps to
// compensate, a timeout, a cancel, a wait for a signal and a delay, a
// deadline passing while the saga waits, an asynchronous charge completed
// through CompleteStep by saga-payment, and one whose completion never
// comes: retried, then rolled back) and
// every durable boundary of orchestrator/engine/crash_points.h, the
// orchestrator kills itself at that boundary, is restarted, and the saga
// must still end as the path says with the participants agreeing with it:
// nothing lost, nothing done twice, nothing left half-done.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "orchestrator/engine/crash_points.h"
#include "tests/integration/cluster.h"

namespace saga::testing {
namespace {

using std::chrono::milliseconds;

constexpr char kFast[] = "appointment_booking_fast";
constexpr char kTimeout[] = "appointment_booking_timeout";
constexpr char kTwoHolds[] = "appointment_booking_two_holds";
constexpr char kApproval[] = "appointment_booking_approval";
constexpr char kDeadline[] = "appointment_booking_deadline";
constexpr char kPayment[] = "appointment_booking_payment";
constexpr char kPaymentTimeout[] = "appointment_booking_payment_timeout";
constexpr char kChild[] = "appointment_booking_child";
constexpr char kPrepaid[] = "prepaid_booking";
constexpr milliseconds kSagaTimeout{60000};

struct SagaPath {
  std::string name;
  std::string saga_type;
  std::string input;
  // Flags per participant for this path (others run without faults).
  std::map<std::string, std::vector<std::string>> participant_flags;
  bool cancel = false;
  saga::v1::SagaStatus expected;
  // Reservations the path may make (each reserving step at most once).
  int holds = 1;
  // With `cancel`: the step whose success the cancel waits for.
  std::string cancel_after = "validate_patient";
  // Which hit of a crash point the path crashes at, where not the first
  // (SAGA_CRASH_POINT=NAME:N), to land on a later step's boundary.
  std::map<std::string, int> crash_hits = {};
  // Sent once reserve_doctor has succeeded (and again, same key, after a
  // crash), for the path's wait step; empty: none.
  std::string signal = "";
  // The reservation is the child saga's of step 0 (kind saga), not the
  // saga's own.
  bool child = false;
};

// A booking with the consultation's amount, for the payment sagas.
std::string PaymentInput(const std::string& patient_id,
                         const std::string& preferred_date,
                         const std::string& specialty) {
  std::string input = BookingInput(patient_id, preferred_date, specialty);
  input.pop_back();
  return input + ",\"amount_cents\":4500}";
}

std::vector<SagaPath> Paths() {
  using saga::v1::SAGA_STATUS_COMPENSATED;
  using saga::v1::SAGA_STATUS_COMPLETED;
  return {
      {"success",
       kFast,
       BookingInput("p-1001", "2026-12-10", "cardiology"),
       {},
       false,
       SAGA_STATUS_COMPLETED},
      {"business failure at validate_patient",
       kFast,
       BookingInput("p-1003", "2026-12-10", "cardiology"),
       {},
       false,
       SAGA_STATUS_COMPENSATED},
      {"business failure at reserve_doctor",
       kFast,
       BookingInput("p-1001", "2026-12-10", "astrology"),
       {},
       false,
       SAGA_STATUS_COMPENSATED},
      {"notify retries exhausted",
       kFast,
       BookingInput("p-1002", "2026-12-11", "cardiology"),
       {{"email", {"--fail-rate", "send_notification=1"}}},
       false,
       SAGA_STATUS_COMPENSATED},
      // Two compensations, so a crash can fall between them.
      {"notify retries exhausted, two holds",
       kTwoHolds,
       BookingInput("p-1002", "2026-12-14", "cardiology"),
       {{"email", {"--fail-rate", "send_notification=1"}}},
       false,
       SAGA_STATUS_COMPENSATED,
       2},
      {"reserve_doctor timeout",
       kTimeout,
       BookingInput("p-1004", "2026-12-12", "neurology"),
       {{"doctor", {"--latency-ms", "reserve_doctor=1500"}}},
       false,
       SAGA_STATUS_COMPENSATED},
      {"cancel",
       kFast,
       BookingInput("p-1005", "2026-12-13", "dermatology"),
       {{"doctor", {"--latency-ms", "reserve_doctor=1000"}}},
       true,
       SAGA_STATUS_COMPENSATED},
      // A cancel once the pivot was called: refused while its call is in
      // flight and, after a crash at the pivot's intent (hit 2 of the
      // step intents) or at its lost answer (hit 3 of the replies), while
      // its outcome is unknown: the pivot is asked again and the booking
      // stands, emails and all.
      {"cancel racing the pivot",
       kFast,
       BookingInput("p-1001", "2026-12-16", "pediatrics"),
       {{"email", {"--latency-ms", "send_notification=300"}}},
       true,
       SAGA_STATUS_COMPLETED,
       1,
       "reserve_doctor",
       {{"after_step_started_commit", 2}, {"after_reply_before_commit", 3}}},
      // A wait for a signal, then a delay, then the pivot; the signal may
      // come before or after the saga waits, and again after a crash.
      {"signal and delay",
       kApproval,
       BookingInput("p-1002", "2026-12-17", "cardiology"),
       {},
       false,
       SAGA_STATUS_COMPLETED,
       1,
       "validate_patient",
       // The second commit with a step's intent (after the first one,
       // StartSaga's) is the wait's: crash as it starts waiting.
       {{"after_step_started_commit", 2}},
       "clinic_approval"},
      // Nobody approves: the deadline passes before the pivot and the
      // reservation is released.
      {"deadline while waiting",
       kDeadline,
       BookingInput("p-1004", "2026-12-18", "neurology"),
       {},
       false,
       SAGA_STATUS_COMPENSATED,
       1,
       "validate_patient",
       {{"after_step_started_commit", 2}}},
      // The provider accepts the charge and settles it 200ms later. The
      // third commit with a step's intent is the completion's (the charge
      // succeeds, notify starts): a crash there loses CompleteStep's
      // answer, and the provider's resend finds the token spent. The third
      // reply is the charge's ACCEPTED: after a crash before it is
      // recorded, the charge is asked again (same key, new token).
      {"async charge completed",
       kPayment,
       PaymentInput("p-1001", "2026-12-19", "cardiology"),
       {{"payment", {"--settle-after-ms", "200"}}},
       false,
       SAGA_STATUS_COMPLETED,
       1,
       "validate_patient",
       {{"after_step_started_commit", 3}, {"after_reply_before_commit", 3}}},
      // The provider never settles: each attempt's wait times out, the
      // second attempt repeats the charge (crashing as it starts: the third
      // intent; or before its ACCEPTED is recorded: the fourth reply), and
      // the saga rolls back, voiding the pending charge first.
      {"async charge never completed",
       kPaymentTimeout,
       PaymentInput("p-1002", "2026-12-20", "dermatology"),
       {{"payment", {"--settle-after-ms", "600000"}}},
       false,
       SAGA_STATUS_COMPENSATED,
       1,
       "validate_patient",
       {{"after_step_started_commit", 3}, {"after_reply_before_commit", 4}}},
      // A parallel group: the doctor is reserved while the charge waits
      // for its completion, which declines it; the reservation made beside
      // it is released. Hit 2 of the intents is the commit that starts both
      // branches at once.
      {"parallel, charge declined",
       kPrepaid,
       PaymentInput("p-1001", "2026-12-21", "cardiology"),
       {{"payment",
         {"--settle-after-ms", "200", "--decline-above-cents", "1000"}}},
       false,
       SAGA_STATUS_COMPENSATED,
       1,
       "validate_patient",
       {{"after_step_started_commit", 2}}},
      // The hold is a child saga: a crash as the child is created (hit 2
      // of the start commits) leaves the parent's start of it unanswered;
      // one at the first terminal commit (the child's) falls between the
      // child's end and the parent's update of its step.
      {"child saga",
       kChild,
       BookingInput("p-1005", "2026-12-19", "cardiology"),
       {},
       false,
       SAGA_STATUS_COMPLETED,
       1,
       "validate_patient",
       {{"after_start_commit", 2}},
       "",
       true},
  };
}

// tests/integration/sagas and its payment/ folder in one directory: the
// other tests load the first without saga-payment.
std::string MatrixDefinitions() {
  namespace fs = std::filesystem;
  char dir[] = "/tmp/saga-matrix-sagas.XXXXXX";
  if (mkdtemp(dir) == nullptr) return "";
  for (const char* from :
       {"tests/integration/sagas", "tests/integration/sagas/payment"}) {
    for (const auto& entry : fs::directory_iterator(SourcePath(from))) {
      if (entry.is_regular_file() && entry.path().extension() == ".yaml") {
        fs::copy_file(entry.path(), fs::path(dir) / entry.path().filename());
      }
    }
  }
  return dir;
}

// StartSaga with a key; "" when the orchestrator died before answering.
std::string TryStart(TestCluster& cluster, const SagaPath& path,
                     const std::string& key) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  saga::v1::StartSagaRequest request;
  request.set_saga_type(path.saga_type);
  request.set_input_json(path.input);
  request.set_idempotency_key(key);
  saga::v1::StartSagaResponse response;
  grpc::Status rpc = cluster.Stub().StartSaga(&context, request, &response);
  return rpc.ok() ? response.saga_id() : "";
}

// Waits (up to 10s) until step `step` of the saga has succeeded; false when
// it did not, or the orchestrator did not answer.
bool AwaitStep(TestCluster& cluster, const std::string& id,
               const std::string& step) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  saga::v1::AwaitSagaRequest request;
  request.set_saga_id(id);
  request.set_step(step);
  request.set_timeout_ms(10000);
  saga::v1::AwaitSagaResponse response;
  return cluster.Stub().AwaitSaga(&context, request, &response).ok();
}

// Cancels once the path's cancel_after step is done (the next step is then
// in flight).
void TryCancel(TestCluster& cluster, const SagaPath& path,
               const std::string& id) {
  if (!AwaitStep(cluster, id, path.cancel_after)) return;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  saga::v1::CancelSagaRequest request;
  request.set_saga_id(id);
  request.set_reason("the patient changed plans");
  saga::v1::CancelSagaResponse response;
  cluster.Stub().CancelSaga(&context, request, &response);
}

// Sends the path's signal once reserve_doctor has succeeded; the same key
// every time, so a resend after a crash changes nothing.
void TrySignal(TestCluster& cluster, const SagaPath& path,
               const std::string& id) {
  if (!AwaitStep(cluster, id, "reserve_doctor")) return;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  saga::v1::SignalSagaRequest request;
  request.set_saga_id(id);
  request.set_name(path.signal);
  request.set_payload_json(R"({"approved_by":"matrix"})");
  request.set_idempotency_key("approval-" + id);
  saga::v1::SignalSagaResponse response;
  cluster.Stub().SignalSaga(&context, request, &response);
}

// Whether the saga has ended; false also when the orchestrator is gone.
bool Ended(TestCluster& cluster, const std::string& id) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(2));
  saga::v1::GetSagaRequest request;
  request.set_saga_id(id);
  saga::v1::GetSagaResponse response;
  return cluster.Stub().GetSaga(&context, request, &response).ok() &&
         IsTerminal(response.saga().status());
}

bool Cancelled(TestCluster& cluster, const std::string& id) {
  for (const std::string& type : cluster.HistoryTypes(id)) {
    if (type == "CancelRequested") return true;
  }
  return false;
}

TEST(CrashMatrixTest, EveryPathSurvivesACrashAtEveryDurableBoundary) {
  const std::string definitions = MatrixDefinitions();
  ASSERT_FALSE(definitions.empty());
  struct RemoveDir {
    std::string dir;
    ~RemoveDir() { std::filesystem::remove_all(dir); }
  } remove_definitions{definitions};
  ClusterOptions options;
  options.definitions_dir = definitions;
  options.participants.push_back(PaymentParticipant());
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.Start());

  int cells = 0;
  int crashed = 0;
  int passed = 0;
  std::map<std::string, std::string> current_flags;
  for (const SagaPath& path : Paths()) {
    for (const std::string& participant : cluster.ParticipantNames()) {
      std::vector<std::string> flags;
      if (auto it = path.participant_flags.find(participant);
          it != path.participant_flags.end()) {
        flags = it->second;
      }
      std::string joined;
      for (const std::string& flag : flags) joined += flag + " ";
      if (current_flags[participant] != joined) {
        ASSERT_TRUE(cluster.RestartParticipant(participant, flags));
        current_flags[participant] = joined;
      }
    }
    for (const auto& [point, point_name] : engine::AllCrashPoints()) {
      ++cells;
      SCOPED_TRACE(path.name + " x " + point_name);
      cluster.KillOrchestrator(SIGKILL);
      std::string crash_point = point_name;
      if (auto hit = path.crash_hits.find(point_name);
          hit != path.crash_hits.end()) {
        crash_point += ":" + std::to_string(hit->second);
      }
      ASSERT_TRUE(
          cluster.StartOrchestrator({"SAGA_CRASH_POINT=" + crash_point}));
      const std::string key = "matrix-" + std::to_string(cells);
      std::string id;
      // Starts the saga (again with its key, after a StartSaga that got no
      // answer: on a loaded machine the first may time out), then cancels
      // or signals it as the path says.
      auto start = [&] {
        id = TryStart(cluster, path, key);
        if (!id.empty() && path.cancel) TryCancel(cluster, path, id);
        if (!id.empty() && !path.signal.empty()) TrySignal(cluster, path, id);
      };
      start();

      // Either the orchestrator dies at the point, or the path never
      // reaches it and the saga ends on its own.
      bool died = false;
      ASSERT_TRUE(PollUntil(
          [&] {
            if (cluster.OrchestratorExited(milliseconds(0))) {
              died = true;
              return true;
            }
            if (id.empty()) start();
            return !id.empty() && Ended(cluster, id);
          },
          kSagaTimeout));
      // A crash point just after a commit can let a reader see the saga
      // ended a moment before the process kills itself: give the kill a
      // (generous) moment before calling the point "not on this path".
      if (!died && cluster.OrchestratorExited(milliseconds(1000))) died = true;
      if (died) {
        ++crashed;
        ASSERT_TRUE(cluster.StartOrchestrator());
        // A client that got no answer retries with its key until answered
        // (the restarted instance may still be recovering).
        if (id.empty()) {
          PollUntil(
              [&] {
                id = TryStart(cluster, path, key);
                return !id.empty();
              },
              kSagaTimeout);
        }
        ASSERT_FALSE(id.empty()) << "StartSaga never answered after a restart";
        if (path.cancel && !Cancelled(cluster, id)) {
          TryCancel(cluster, path, id);
        }
        if (!path.signal.empty()) TrySignal(cluster, path, id);
      }

      saga::v1::Saga saga = cluster.AwaitTerminal(id, kSagaTimeout);
      EXPECT_EQ(saga.status(), path.expected) << DescribeSaga(saga);
      const std::string holder = path.child && saga.steps_size() > 0
                                     ? saga.steps(0).child_saga_id()
                                     : id;
      cluster.ExpectParticipantsAgree(saga, holder);
      const int reservations = cluster.AllReservations(holder);
      EXPECT_LE(reservations, path.holds) << DescribeSaga(saga);
      EXPECT_LE(cluster.Mails(id), 2) << DescribeSaga(saga);
      const bool ok = saga.status() == path.expected &&
                      reservations <= path.holds && cluster.Mails(id) <= 2;
      if (ok) ++passed;
      std::cout << "[ matrix   ] " << path.name << " x " << crash_point << ": "
                << (died ? "crashed there" : "not on this path") << ", "
                << saga::v1::SagaStatus_Name(saga.status())
                << (ok ? "" : " FAILED") << "\n";
    }
  }
  std::cout << "[ matrix   ] " << cells << " cells (" << Paths().size()
            << " paths x " << engine::AllCrashPoints().size()
            << " crash points): " << crashed << " crashed and recovered, "
            << passed << " ended as their path says\n";
}

}  // namespace
}  // namespace saga::testing
