// Pausing a participant during an outage (README, "Pausing a participant
// during an outage"), end to end: two orchestrator instances on one
// database and the booking participants. While doctor is paused, sagas
// started on either instance make no call to it and use no attempt; the
// pause survives a restart of the instance it was made on; once resumed,
// the parked calls go and every saga completes.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <csignal>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/cluster.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kBooking[] = "appointment_booking";

// ListParticipants on `instance`: the entry of `name`.
v1::ParticipantInfo Participant(TestCluster& cluster, size_t instance,
                                const std::string& name) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 5s);
  v1::ListParticipantsResponse list;
  const grpc::Status status = cluster.Stub(instance).ListParticipants(
      &context, v1::ListParticipantsRequest(), &list);
  EXPECT_TRUE(status.ok()) << status.error_message();
  for (const v1::ParticipantInfo& info : list.participants()) {
    if (info.name() == name) return info;
  }
  ADD_FAILURE() << name << " is not listed by instance " << instance;
  return {};
}

// Polls `instance`'s view of doctor until `holds` or 5 s pass.
template <typename Predicate>
bool DoctorSoon(TestCluster& cluster, size_t instance, Predicate holds) {
  return PollUntil(
      [&] { return holds(Participant(cluster, instance, "doctor")); }, 5s);
}

// Idempotency keys the doctor's database holds for the saga: one per call
// that reached it.
int64_t DoctorCalls(TestCluster& cluster, const std::string& saga_id) {
  return cluster.QueryInt(
      "doctor", "SELECT count(*) FROM idempotency_keys WHERE saga_id = $1",
      saga_id);
}

int64_t QueryOrchestratorInt(TestCluster& cluster, const std::string& sql) {
  pqxx::connection conn(cluster.orchestrator_dsn());
  pqxx::nontransaction tx(conn);
  return tx.exec1(sql)[0].as<int64_t>();
}

int ReserveStarts(TestCluster& cluster, const std::string& saga_id) {
  int starts = 0;
  for (const v1::SagaEvent& event : cluster.History(saga_id)) {
    starts += event.type() == "StepStarted" && event.step() == "reserve_doctor";
  }
  return starts;
}

TEST(PauseTest, PausedParticipantGetsNoCallOnAnyInstanceUntilResumed) {
  ClusterOptions options;
  options.orchestrators = 2;
  options.orchestrator_flags = {"--claim-interval-ms", "200"};
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.Start());

  // Paused through instance 0.
  v1::PauseParticipantRequest pause;
  pause.set_participant("doctor");
  pause.mutable_operator_()->set_name("ann");
  pause.mutable_operator_()->set_reason("doctor db failover");
  v1::PauseParticipantResponse paused;
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    const grpc::Status status =
        cluster.Stub(0).PauseParticipant(&context, pause, &paused);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_TRUE(paused.changed());
  // Instance 1 learns it from the database within a claim interval.
  ASSERT_TRUE(DoctorSoon(cluster, 1, [](const v1::ParticipantInfo& doctor) {
    return doctor.has_pause();
  }));

  // One saga on each instance: each parks its reserve_doctor call.
  cluster.UseOrchestrator(0);
  const std::string on_0 = cluster.StartSaga(kBooking, AcceptedBookingInput(1));
  cluster.UseOrchestrator(1);
  const std::string on_1 = cluster.StartSaga(kBooking, AcceptedBookingInput(2));
  ASSERT_FALSE(on_0.empty());
  ASSERT_FALSE(on_1.empty());
  for (size_t instance : {0u, 1u}) {
    EXPECT_TRUE(DoctorSoon(cluster, instance,
                           [](const v1::ParticipantInfo& doctor) {
                             return doctor.calls_parked() == 1;
                           }))
        << "instance " << instance;
  }
  for (const std::string& id : {on_0, on_1}) {
    EXPECT_EQ(DoctorCalls(cluster, id), 0) << id;
    EXPECT_EQ(ReserveStarts(cluster, id), 1) << id;
    EXPECT_EQ(cluster.GetSaga(id).status(), v1::SAGA_STATUS_RUNNING) << id;
  }

  // Killed and restarted (it takes its sagas back at once: the leases left
  // under its own id), the instance is still paused, recorded as it was.
  cluster.KillOrchestrator(SIGKILL, 0);
  ASSERT_TRUE(cluster.StartOrchestrator({}, 0));
  const v1::ParticipantInfo after = Participant(cluster, 0, "doctor");
  ASSERT_TRUE(after.has_pause());
  EXPECT_EQ(after.pause().paused_by(), "ann");
  EXPECT_EQ(after.pause().reason(), "doctor db failover");
  // on_0 waits again.
  PollUntil(
      [&] {
        return Participant(cluster, 0, "doctor").calls_parked() +
                   Participant(cluster, 1, "doctor").calls_parked() ==
               2;
      },
      5s);
  for (const std::string& id : {on_0, on_1}) {
    EXPECT_EQ(DoctorCalls(cluster, id), 0) << id;
  }

  // Resumed through instance 1: every parked call goes, on both instances.
  v1::ResumeParticipantRequest resume;
  resume.set_participant("doctor");
  resume.mutable_operator_()->set_reason("failover done");
  v1::ResumeParticipantResponse resumed;
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    const grpc::Status status =
        cluster.Stub(1).ResumeParticipant(&context, resume, &resumed);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_TRUE(resumed.changed());
  for (const std::string& id : {on_0, on_1}) {
    const v1::Saga saga = cluster.AwaitTerminal(id, 8s);
    EXPECT_EQ(saga.status(), v1::SAGA_STATUS_COMPLETED) << DescribeSaga(saga);
    cluster.ExpectParticipantsAgree(saga);
  }
  // Waiting used no attempt. The restart did use one of on_0: its parked
  // call's recorded start was settled as a call in flight at the crash
  // (outcome unknown) and retried with the same key.
  EXPECT_EQ(ReserveStarts(cluster, on_1), 1);
  EXPECT_EQ(ReserveStarts(cluster, on_0), 2);
  EXPECT_FALSE(Participant(cluster, 0, "doctor").has_pause());

  // Audited: the outbox holds the pause and the resume.
  EXPECT_EQ(QueryOrchestratorInt(cluster,
                                 "SELECT count(*) FROM outbox WHERE type IN "
                                 "('participant.paused', "
                                 "'participant.resumed')"),
            2);
}

}  // namespace
}  // namespace saga::testing
