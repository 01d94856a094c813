// The participant services as the orchestrator sees them: the real
// saga-patient, saga-doctor and saga-email binaries, each on its own fresh
// database, called over gRPC.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "saga/v1/participant.grpc.pb.h"
#include "tests/integration/pg_server.h"
#include "tests/support/test_support.h"

namespace saga::participants {
namespace {

using nlohmann::json;
using saga::testing::ChildProcess;
using saga::testing::ReadFile;
using saga::testing::TestDatabase;
using saga::v1::StepRequest;
using saga::v1::StepResult;

constexpr auto kStartTimeout = std::chrono::seconds(30);
constexpr std::chrono::milliseconds kCallTimeout = std::chrono::seconds(20);
// saga-doctor's "today" in these tests (--today): the seed data's days
// start after it.
constexpr char kToday[] = "2026-11-20";

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One participant process on its own database.
class Participant {
 public:
  // `service` is "patient", "doctor" or "email"; its database goes to the
  // cluster of `admin_dsn` (empty: SAGA_TEST_ADMIN_DSN's).
  explicit Participant(const std::string& service,
                       const std::vector<std::string>& extra_args = {},
                       const std::vector<std::string>& extra_env = {},
                       const std::string& admin_dsn = "")
      : db_("part_" + service, admin_dsn), port_(saga::testing::FreePort()) {
    log_path_ = ::testing::TempDir() + "saga-" + service + "-" +
                std::to_string(port_) + ".log";
    std::vector<std::string> argv = {
        saga::testing::BinaryPath("saga-" + service),
        "--listen",
        "127.0.0.1:" + std::to_string(port_),
        "--db",
        db_.dsn(),
        "--migrations",
        saga::testing::SourcePath("migrations/" + service)};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    process_ = std::make_unique<ChildProcess>(argv, extra_env, log_path_);
    started_ = saga::testing::WaitForPort(port_, kStartTimeout);
    stub_ = saga::v1::Participant::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                            grpc::InsecureChannelCredentials()));
  }

  // Keeps the server's log only when something failed.
  ~Participant() {
    process_.reset();
    const auto* suite =
        ::testing::UnitTest::GetInstance()->current_test_suite();
    if (!::testing::Test::HasFailure() &&
        (suite == nullptr || !suite->Failed())) {
      std::remove(log_path_.c_str());
    }
  }

  bool started() const { return started_; }
  int port() const { return port_; }
  const std::string& dsn() const { return db_.dsn(); }
  const std::string& db_name() const { return db_.name(); }
  std::string Log() const { return ReadFile(log_path_); }
  ChildProcess& process() { return *process_; }

  struct Reply {
    grpc::Status status;
    StepResult result;
    json output;
  };

  Reply Call(bool compensate, const StepRequest& request,
             std::chrono::milliseconds timeout = kCallTimeout) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + timeout);
    Reply reply;
    reply.status = compensate
                       ? stub_->Compensate(&context, request, &reply.result)
                       : stub_->Execute(&context, request, &reply.result);
    if (!reply.result.output_json().empty()) {
      reply.output = json::parse(reply.result.output_json());
    }
    return reply;
  }

  Reply Execute(const StepRequest& request,
                std::chrono::milliseconds timeout = kCallTimeout) {
    return Call(false, request, timeout);
  }
  Reply Compensate(const StepRequest& request) { return Call(true, request); }

  int64_t QueryInt(const std::string& sql) const {
    pqxx::connection connection(db_.dsn());
    pqxx::nontransaction tx(connection);
    return tx.exec(sql)[0][0].as<int64_t>();
  }

  std::string QueryText(const std::string& sql) const {
    pqxx::connection connection(db_.dsn());
    pqxx::nontransaction tx(connection);
    return tx.exec(sql)[0][0].as<std::string>();
  }

  void Exec(const std::string& sql) const {
    pqxx::connection connection(db_.dsn());
    pqxx::nontransaction tx(connection);
    tx.exec(sql);
  }

 private:
  // Declared first: the process must die before its database is dropped.
  TestDatabase db_;
  int port_;
  std::string log_path_;
  std::unique_ptr<ChildProcess> process_;
  bool started_ = false;
  std::unique_ptr<saga::v1::Participant::Stub> stub_;
};

StepRequest MakeRequest(const std::string& saga_id, const std::string& step,
                        const std::string& action, const std::string& key,
                        const json& input) {
  StepRequest request;
  request.set_saga_id(saga_id);
  request.set_step(step);
  request.set_action(action);
  request.set_idempotency_key(key);
  request.set_attempt(1);
  request.set_deadline_unix_ms(NowUnixMs() + 15000);
  request.set_input_json(input.dump());
  return request;
}

StepRequest ExecuteRequest(const std::string& saga_id, const std::string& step,
                           const std::string& action, const json& input) {
  return MakeRequest(saga_id, step, action, saga_id + "/" + step + "/execute",
                     input);
}

StepRequest CompensateRequest(const std::string& saga_id,
                              const std::string& step,
                              const std::string& action,
                              const json& input = json::object()) {
  StepRequest request = MakeRequest(
      saga_id, step, action, saga_id + "/" + step + "/compensate", input);
  request.set_original_idempotency_key(saga_id + "/" + step + "/execute");
  return request;
}

std::string Quote(const std::string& text) { return "'" + text + "'"; }

// ---------------------------------------------------------------- patient

class PatientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { patient_ = new Participant("patient"); }
  static void TearDownTestSuite() {
    delete patient_;
    patient_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(patient_->started()) << patient_->Log(); }

  static Participant* patient_;
};

Participant* PatientTest::patient_ = nullptr;

TEST_F(PatientTest, LogsListeningAddress) {
  std::string expected =
      "listening on 127.0.0.1:" + std::to_string(patient_->port());
  EXPECT_TRUE(saga::testing::PollUntil(
      [&] { return patient_->Log().find(expected) != std::string::npos; },
      std::chrono::seconds(5)))
      << patient_->Log();
}

TEST_F(PatientTest, ValidatesActivePatient) {
  auto reply = patient_->Execute(ExecuteRequest(
      "s-pat-1", "validate", "validate_patient", {{"patient_id", "p-1001"}}));
  ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
  EXPECT_EQ(reply.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED);
  EXPECT_EQ(reply.output, json({{"patient_id", "p-1001"},
                                {"name", "Ada Lovelace"},
                                {"email", "ada.lovelace@example.com"}}));
}

TEST_F(PatientTest, RejectsInactivePatient) {
  auto reply = patient_->Execute(ExecuteRequest(
      "s-pat-2", "validate", "validate_patient", {{"patient_id", "p-1003"}}));
  ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
  EXPECT_EQ(reply.result.outcome(), saga::v1::STEP_OUTCOME_BUSINESS_FAILURE);
  EXPECT_EQ(reply.result.error(),
            "only active patients may book: patient p-1003 is inactive");
}

TEST_F(PatientTest, RejectsUnknownPatient) {
  auto reply = patient_->Execute(ExecuteRequest(
      "s-pat-3", "validate", "validate_patient", {{"patient_id", "p-9999"}}));
  ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
  EXPECT_EQ(reply.result.outcome(), saga::v1::STEP_OUTCOME_BUSINESS_FAILURE);
  EXPECT_EQ(reply.result.error(),
            "only active patients may book: patient p-9999 does not exist");
}

TEST_F(PatientTest, RepeatedBusinessFailureAnswersTheSame) {
  auto request = ExecuteRequest("s-pat-4", "validate", "validate_patient",
                                {{"patient_id", "p-1003"}});
  auto first = patient_->Execute(request);
  // Even with a different input, the key's recorded answer wins.
  request.set_input_json(json({{"patient_id", "p-1001"}}).dump());
  auto second = patient_->Execute(request);
  ASSERT_TRUE(second.status.ok());
  EXPECT_EQ(second.result.outcome(), saga::v1::STEP_OUTCOME_BUSINESS_FAILURE);
  EXPECT_EQ(second.result.error(), first.result.error());
}

TEST_F(PatientTest, MissingFieldIsBusinessFailure) {
  auto reply = patient_->Execute(ExecuteRequest(
      "s-pat-5", "validate", "validate_patient", json::object()));
  ASSERT_TRUE(reply.status.ok());
  EXPECT_EQ(reply.result.outcome(), saga::v1::STEP_OUTCOME_BUSINESS_FAILURE);
  EXPECT_EQ(reply.result.error(),
            "invalid input: missing field \"patient_id\"");

  auto wrong_type = patient_->Execute(ExecuteRequest(
      "s-pat-5b", "validate", "validate_patient", {{"patient_id", 1001}}));
  EXPECT_EQ(wrong_type.result.outcome(),
            saga::v1::STEP_OUTCOME_BUSINESS_FAILURE);
  EXPECT_EQ(wrong_type.result.error(),
            "invalid input: field \"patient_id\" must be a string");
}

TEST_F(PatientTest, MalformedJsonIsBusinessFailure) {
  auto request =
      ExecuteRequest("s-pat-6", "validate", "validate_patient", json::object());
  request.set_input_json("{not json");
  auto reply = patient_->Execute(request);
  ASSERT_TRUE(reply.status.ok());
  EXPECT_EQ(reply.result.outcome(), saga::v1::STEP_OUTCOME_BUSINESS_FAILURE);
  EXPECT_EQ(reply.result.error().rfind("input_json is not valid JSON: ", 0), 0u)
      << reply.result.error();
  request.set_input_json("[1]");
  request.set_idempotency_key("s-pat-6b/validate/execute");
  EXPECT_EQ(patient_->Execute(request).result.error(),
            "input_json is not a JSON object");
}

// Regression: the last value won, so {"patient_id":"p-1003",
// "patient_id":"p-1001"} validated p-1001 where a reader keeping the first
// value would see p-1003.
TEST_F(PatientTest, InputWithAKeyTwiceIsBusinessFailure) {
  auto request = ExecuteRequest("s-pat-dup", "validate", "validate_patient",
                                json::object());
  request.set_input_json(R"({"patient_id":"p-1003","patient_id":"p-1001"})");
  auto reply = patient_->Execute(request);
  ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
  EXPECT_EQ(reply.result.outcome(), saga::v1::STEP_OUTCOME_BUSINESS_FAILURE);
  EXPECT_EQ(reply.result.error(), "input_json has the key 'patient_id' twice");
}

TEST_F(PatientTest, UnknownActionIsBusinessFailure) {
  auto reply = patient_->Execute(ExecuteRequest(
      "s-pat-7", "validate", "delete_patient", {{"patient_id", "p-1001"}}));
  ASSERT_TRUE(reply.status.ok());
  EXPECT_EQ(reply.result.outcome(), saga::v1::STEP_OUTCOME_BUSINESS_FAILURE);
  EXPECT_EQ(reply.result.error(), "unknown action \"delete_patient\"");
}

TEST_F(PatientTest, PassedDeadlineIsRejectedWithoutEffect) {
  auto request = ExecuteRequest("s-pat-8", "validate", "validate_patient",
                                {{"patient_id", "p-1001"}});
  request.set_deadline_unix_ms(NowUnixMs() - 1000);
  auto reply = patient_->Execute(request);
  EXPECT_EQ(reply.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(patient_->QueryInt("SELECT count(*) FROM idempotency_keys "
                               "WHERE saga_id = 's-pat-8'"),
            0);
}

TEST_F(PatientTest, LogsOneLinePerCall) {
  patient_->Execute(ExecuteRequest("s-pat-log", "validate", "validate_patient",
                                   {{"patient_id", "p-1002"}}));
  EXPECT_TRUE(saga::testing::PollUntil(
      [&] {
        return patient_->Log().find(
                   "execute saga_id=s-pat-log step=validate "
                   "action=validate_patient attempt=1") != std::string::npos;
      },
      std::chrono::seconds(5)))
      << patient_->Log();
}

// ----------------------------------------------------------------- doctor

class DoctorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    doctor_ = new Participant("doctor", {"--today", kToday});
  }
  static void TearDownTestSuite() {
    delete doctor_;
    doctor_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(doctor_->started()) << doctor_->Log(); }

  static int64_t Booked(const std::string& doctor_id, const std::string& day) {
    return doctor_->QueryInt(
        "SELECT booked FROM doctor_days WHERE doctor_id = " + Quote(doctor_id) +
        " AND day = " + Quote(day));
  }
  static int64_t Reservations(const std::string& key) {
    return doctor_->QueryInt(
        "SELECT count(*) FROM reservations WHERE idempotency_key = " +
        Quote(key));
  }
  // A private specialty with one doctor, so tests do not share capacity.
  static void AddDoctor(const std::string& id, const std::string& specialty,
                        const std::vector<std::pair<std::string, int>>& days) {
    doctor_->Exec("INSERT INTO doctors (id, name, email, specialty) VALUES (" +
                  Quote(id) + ", 'Dr. " + id + "', '" + id + "@example.com', " +
                  Quote(specialty) + ")");
    for (const auto& [day, capacity] : days) {
      doctor_->Exec(
          "INSERT INTO doctor_days (doctor_id, day, capacity) VALUES (" +
          Quote(id) + ", " + Quote(day) + ", " + std::to_string(capacity) +
          ")");
    }
  }

  static Participant* doctor_;
};

Participant* DoctorTest::doctor_ = nullptr;

json ReserveInput(const std::string& specialty, const std::string& date) {
  return {{"patient_id", "p-1001"},
          {"specialty", specialty},
          {"preferred_date", date}};
}

TEST_F(DoctorTest, ReservesOnPreferredDate) {
  auto reply =
      doctor_->Execute(ExecuteRequest("s-doc-1", "reserve", "reserve_doctor",
                                      ReserveInput("neurology", "2026-12-10")));
  ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
  ASSERT_EQ(reply.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED)
      << reply.result.error();
  EXPECT_EQ(reply.output["doctor_id"], "d-2004");
  EXPECT_EQ(reply.output["doctor_name"], "Dr. Santiago Cajal");
  EXPECT_EQ(reply.output["doctor_email"], "santiago.cajal@example.com");
  EXPECT_EQ(reply.output["date"], "2026-12-10");
  EXPECT_TRUE(reply.output["reservation_id"].is_string());
  EXPECT_EQ(reply.output.size(), 5u);
}

TEST_F(DoctorTest, RepeatedExecuteHasOneEffectAndSameOutput) {
  auto request = ExecuteRequest("s-doc-2", "reserve", "reserve_doctor",
                                ReserveInput("dermatology", "2026-12-11"));
  int64_t before = Booked("d-2003", "2026-12-11");
  auto first = doctor_->Execute(request);
  ASSERT_EQ(first.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED)
      << first.result.error();
  for (int attempt = 2; attempt <= 4; ++attempt) {
    request.set_attempt(attempt);
    auto again = doctor_->Execute(request);
    ASSERT_TRUE(again.status.ok());
    EXPECT_EQ(again.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED);
    EXPECT_EQ(again.result.output_json(), first.result.output_json());
  }
  EXPECT_EQ(Reservations("s-doc-2/reserve/execute"), 1);
  EXPECT_EQ(Booked("d-2003", "2026-12-11"), before + 1);
}

TEST_F(DoctorTest, ConcurrentDuplicatesHaveOneEffect) {
  auto request = ExecuteRequest("s-doc-3", "reserve", "reserve_doctor",
                                ReserveInput("dermatology", "2026-12-12"));
  int64_t before = Booked("d-2003", "2026-12-12");
  std::vector<std::string> outputs(10);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < outputs.size(); ++i) {
    threads.emplace_back([&, i] {
      auto reply = doctor_->Execute(request);
      outputs[i] = reply.result.output_json();
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& output : outputs) {
    EXPECT_FALSE(output.empty());
    EXPECT_EQ(output, outputs[0]);
  }
  EXPECT_EQ(Reservations("s-doc-3/reserve/execute"), 1);
  EXPECT_EQ(Booked("d-2003", "2026-12-12"), before + 1);
}

TEST_F(DoctorTest, PicksClosestDateEarlierOnTies) {
  AddDoctor("d-test-close", "closest-test",
            {{"2027-01-08", 1}, {"2027-01-10", 0}, {"2027-01-12", 1}});
  auto first = doctor_->Execute(
      ExecuteRequest("s-doc-4a", "reserve", "reserve_doctor",
                     ReserveInput("closest-test", "2027-01-10")));
  ASSERT_EQ(first.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED)
      << first.result.error();
  EXPECT_EQ(first.output["date"], "2027-01-08");
  auto second = doctor_->Execute(
      ExecuteRequest("s-doc-4b", "reserve", "reserve_doctor",
                     ReserveInput("closest-test", "2027-01-10")));
  ASSERT_EQ(second.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED);
  EXPECT_EQ(second.output["date"], "2027-01-12");
  auto third = doctor_->Execute(
      ExecuteRequest("s-doc-4c", "reserve", "reserve_doctor",
                     ReserveInput("closest-test", "2027-01-10")));
  EXPECT_EQ(third.result.outcome(), saga::v1::STEP_OUTCOME_BUSINESS_FAILURE);
  EXPECT_EQ(third.result.error(),
            "no closest-test doctor has room within 60 days of 2027-01-10");
}

TEST_F(DoctorTest, RejectsUnknownSpecialtyAndBadDates) {
  auto unknown =
      doctor_->Execute(ExecuteRequest("s-doc-5a", "reserve", "reserve_doctor",
                                      ReserveInput("astrology", "2026-12-10")));
  EXPECT_EQ(unknown.result.outcome(), saga::v1::STEP_OUTCOME_BUSINESS_FAILURE);
  EXPECT_EQ(unknown.result.error(), "unknown specialty \"astrology\"");

  for (const std::string date : {"2027-02-30", "10.12.2026", "2026-1-5"}) {
    auto bad = doctor_->Execute(
        ExecuteRequest("s-doc-5b-" + date, "reserve", "reserve_doctor",
                       ReserveInput("cardiology", date)));
    EXPECT_EQ(bad.result.outcome(), saga::v1::STEP_OUTCOME_BUSINESS_FAILURE)
        << date;
    EXPECT_EQ(bad.result.error(), "invalid input: preferred_date \"" + date +
                                      "\" is not a date in YYYY-MM-DD form");
  }
  EXPECT_EQ(doctor_->QueryInt("SELECT count(*) FROM reservations "
                              "WHERE saga_id LIKE 's-doc-5%'"),
            0);
}

// Regression: with the preferred date and the days after it full and the
// day before free, the booking landed on that day: yesterday.
TEST_F(DoctorTest, NeverBooksBeforeToday) {
  AddDoctor("d-test-past", "past-test",
            {{"2026-11-19", 5}, {"2026-11-20", 0}, {"2026-11-21", 0}});
  auto full = doctor_->Execute(
      ExecuteRequest("s-doc-past-1", "reserve", "reserve_doctor",
                     ReserveInput("past-test", kToday)));
  ASSERT_TRUE(full.status.ok()) << full.status.error_message();
  EXPECT_EQ(full.result.outcome(), saga::v1::STEP_OUTCOME_BUSINESS_FAILURE);
  EXPECT_EQ(full.result.error(),
            "no past-test doctor has room within 60 days of 2026-11-20");

  auto past = doctor_->Execute(
      ExecuteRequest("s-doc-past-2", "reserve", "reserve_doctor",
                     ReserveInput("past-test", "2026-11-19")));
  EXPECT_EQ(past.result.outcome(), saga::v1::STEP_OUTCOME_BUSINESS_FAILURE);
  EXPECT_EQ(past.result.error(),
            "preferred_date 2026-11-19 is in the past (today is 2026-11-20)");
  EXPECT_EQ(Booked("d-test-past", "2026-11-19"), 0);
  EXPECT_EQ(doctor_->QueryInt("SELECT count(*) FROM reservations "
                              "WHERE saga_id LIKE 's-doc-past-%'"),
            0);
}

// "The closest possible date" counts from today on: today itself is open.
TEST_F(DoctorTest, ClosestDateMayBeTodayButNoEarlier) {
  AddDoctor("d-test-today", "today-test",
            {{"2026-11-19", 5},
             {"2026-11-20", 1},
             {"2026-11-21", 0},
             {"2026-11-23", 1}});
  auto first = doctor_->Execute(
      ExecuteRequest("s-doc-today-1", "reserve", "reserve_doctor",
                     ReserveInput("today-test", "2026-11-21")));
  ASSERT_EQ(first.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED)
      << first.result.error();
  EXPECT_EQ(first.output["date"], kToday);
  auto second = doctor_->Execute(
      ExecuteRequest("s-doc-today-2", "reserve", "reserve_doctor",
                     ReserveInput("today-test", "2026-11-21")));
  ASSERT_EQ(second.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED)
      << second.result.error();
  EXPECT_EQ(second.output["date"], "2026-11-23");
}

// Regression: year 0000 passed the date check and then failed PostgreSQL's
// ::date cast, answered as a retryable database error: five retries, then
// the raw error. Dates outside 0001..9999 are refused at once.
TEST_F(DoctorTest, DatesTheDatabaseCannotHoldAreRefusedAtOnce) {
  for (const std::string date :
       {"0000-01-01", "0000-02-29", "10000-01-01", "99999-12-31"}) {
    auto reply = doctor_->Execute(
        ExecuteRequest("s-doc-range-" + date, "reserve", "reserve_doctor",
                       ReserveInput("cardiology", date)));
    ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
    EXPECT_EQ(reply.result.outcome(), saga::v1::STEP_OUTCOME_BUSINESS_FAILURE)
        << date << ": " << reply.result.error();
    EXPECT_EQ(reply.result.error(),
              "invalid input: preferred_date \"" + date +
                  "\" is not a date between 0001-01-01 and 9999-12-31");
  }
  // The far end of the range is a date, only with no doctor working then.
  auto far = doctor_->Execute(
      ExecuteRequest("s-doc-range-far", "reserve", "reserve_doctor",
                     ReserveInput("cardiology", "9999-12-31")));
  EXPECT_EQ(far.result.outcome(), saga::v1::STEP_OUTCOME_BUSINESS_FAILURE);
  EXPECT_EQ(far.result.error(),
            "no cardiology doctor has room within 60 days of 9999-12-31");
}

TEST_F(DoctorTest, CompensateAfterExecuteReleasesOnce) {
  auto reserved = doctor_->Execute(
      ExecuteRequest("s-doc-6", "reserve", "reserve_doctor",
                     ReserveInput("pediatrics", "2026-12-20")));
  ASSERT_EQ(reserved.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED);
  std::string doctor_id = reserved.output["doctor_id"];
  std::string date = reserved.output["date"];
  int64_t booked = Booked(doctor_id, date);

  auto request = CompensateRequest("s-doc-6", "reserve", "release_reservation");
  request.set_original_output_json(reserved.result.output_json());
  auto released = doctor_->Compensate(request);
  ASSERT_TRUE(released.status.ok()) << released.status.error_message();
  ASSERT_EQ(released.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED)
      << released.result.error();
  EXPECT_EQ(released.output,
            json({{"compensated", true},
                  {"released", true},
                  {"reservation_id", reserved.output["reservation_id"]},
                  {"doctor_id", doctor_id},
                  {"date", date}}));
  EXPECT_EQ(Booked(doctor_id, date), booked - 1);
  EXPECT_EQ(doctor_->QueryText("SELECT status FROM reservations WHERE "
                               "idempotency_key = 's-doc-6/reserve/execute'"),
            "released");

  auto again = doctor_->Compensate(request);
  EXPECT_EQ(again.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED);
  EXPECT_EQ(again.result.output_json(), released.result.output_json());
  EXPECT_EQ(Booked(doctor_id, date), booked - 1);

  // A zombie Execute after the compensation changes nothing either.
  auto late = doctor_->Execute(
      ExecuteRequest("s-doc-6", "reserve", "reserve_doctor",
                     ReserveInput("pediatrics", "2026-12-20")));
  EXPECT_EQ(late.result.output_json(), reserved.result.output_json());
  EXPECT_EQ(Booked(doctor_id, date), booked - 1);
}

TEST_F(DoctorTest, CompensateBeforeExecuteLeavesTombstone) {
  int64_t booked_total =
      doctor_->QueryInt("SELECT sum(booked) FROM doctor_days");
  auto compensated = doctor_->Compensate(
      CompensateRequest("s-doc-7", "reserve", "release_reservation"));
  ASSERT_TRUE(compensated.status.ok());
  ASSERT_EQ(compensated.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED);
  EXPECT_EQ(compensated.output, json({{"compensated", false},
                                      {"reason", "execute never applied"}}));
  EXPECT_EQ(doctor_->QueryText("SELECT kind FROM idempotency_keys WHERE "
                               "key = 's-doc-7/reserve/execute'"),
            "tombstone");

  auto late = doctor_->Execute(
      ExecuteRequest("s-doc-7", "reserve", "reserve_doctor",
                     ReserveInput("cardiology", "2026-12-10")));
  ASSERT_TRUE(late.status.ok());
  EXPECT_EQ(late.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED);
  EXPECT_EQ(late.output, json({{"skipped", "compensated before execute"}}));
  EXPECT_EQ(Reservations("s-doc-7/reserve/execute"), 0);
  EXPECT_EQ(doctor_->QueryInt("SELECT sum(booked) FROM doctor_days"),
            booked_total);

  auto again = doctor_->Compensate(
      CompensateRequest("s-doc-7", "reserve", "release_reservation"));
  EXPECT_EQ(again.result.output_json(), compensated.result.output_json());
}

TEST_F(DoctorTest, CompensateAfterBusinessFailureUndoesNothing) {
  auto failed =
      doctor_->Execute(ExecuteRequest("s-doc-8", "reserve", "reserve_doctor",
                                      ReserveInput("astrology", "2026-12-10")));
  ASSERT_EQ(failed.result.outcome(), saga::v1::STEP_OUTCOME_BUSINESS_FAILURE);
  auto compensated = doctor_->Compensate(
      CompensateRequest("s-doc-8", "reserve", "release_reservation"));
  ASSERT_EQ(compensated.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED);
  EXPECT_EQ(compensated.output, json({{"compensated", false},
                                      {"reason",
                                       "execute failed: unknown specialty "
                                       "\"astrology\""}}));
}

TEST_F(DoctorTest, ConcurrentReservationsNeverExceedCapacity) {
  AddDoctor("d-test-busy", "busy-test", {{"2027-03-15", 5}});
  constexpr int kCalls = 30;
  std::vector<saga::v1::StepOutcome> outcomes(kCalls);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      auto reply = doctor_->Execute(ExecuteRequest(
          "s-doc-busy-" + std::to_string(i), "reserve", "reserve_doctor",
          ReserveInput("busy-test", "2027-03-15")));
      outcomes[i] = reply.status.ok() ? reply.result.outcome()
                                      : saga::v1::STEP_OUTCOME_UNSPECIFIED;
    });
  }
  for (auto& thread : threads) thread.join();
  int succeeded = 0;
  int rejected = 0;
  for (auto outcome : outcomes) {
    if (outcome == saga::v1::STEP_OUTCOME_SUCCEEDED) ++succeeded;
    if (outcome == saga::v1::STEP_OUTCOME_BUSINESS_FAILURE) ++rejected;
  }
  EXPECT_EQ(succeeded, 5);
  EXPECT_EQ(rejected, kCalls - 5);
  EXPECT_EQ(Booked("d-test-busy", "2027-03-15"), 5);
  EXPECT_EQ(doctor_->QueryInt("SELECT count(*) FROM reservations WHERE "
                              "doctor_id = 'd-test-busy' AND status = "
                              "'active'"),
            5);
}

TEST_F(DoctorTest, SurvivesKilledConnections) {
  // Warm the pool, then cut every server-side connection of the database.
  doctor_->Execute(ExecuteRequest("s-doc-9a", "reserve", "reserve_doctor",
                                  ReserveInput("cardiology", "2026-12-15")));
  {
    pqxx::connection admin(saga::testing::AdminDsn());
    pqxx::nontransaction tx(admin);
    tx.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
        "datname = " +
        tx.quote(doctor_->db_name()) + " AND pid <> pg_backend_pid()");
  }
  auto reply = doctor_->Execute(
      ExecuteRequest("s-doc-9b", "reserve", "reserve_doctor",
                     ReserveInput("cardiology", "2026-12-15")));
  ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
  EXPECT_EQ(reply.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED);
}

// A database that refuses connections for a while: calls answer
// UNAVAILABLE, then succeed again once it is back.
TEST(ParticipantOutageTest, AnswersUnavailableAndReconnects) {
  Participant patient("patient");
  ASSERT_TRUE(patient.started()) << patient.Log();
  auto admin_exec = [&](const std::string& sql) {
    pqxx::connection admin(saga::testing::AdminDsn());
    pqxx::nontransaction tx(admin);
    tx.exec(sql);
  };
  std::string db = "\"" + patient.db_name() + "\"";
  admin_exec("ALTER DATABASE " + db + " WITH ALLOW_CONNECTIONS false");
  admin_exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
      "datname = '" +
      patient.db_name() + "'");
  auto down = patient.Execute(ExecuteRequest(
      "s-out-1", "validate", "validate_patient", {{"patient_id", "p-1001"}}));
  EXPECT_EQ(down.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << down.status.error_message();

  admin_exec("ALTER DATABASE " + db + " WITH ALLOW_CONNECTIONS true");
  EXPECT_TRUE(saga::testing::PollUntil(
      [&] {
        auto up = patient.Execute(ExecuteRequest("s-out-2", "validate",
                                                 "validate_patient",
                                                 {{"patient_id", "p-1001"}}));
        return up.status.ok() &&
               up.result.outcome() == saga::v1::STEP_OUTCOME_SUCCEEDED;
      },
      std::chrono::seconds(15)));
}

// The participant's database server itself restarts (a stop, calls in
// between, a start): calls answer UNAVAILABLE while it is down and succeed
// again once it is back, on fresh connections, without a restart of the
// participant.
TEST(ParticipantOutageTest, ReconnectsAfterItsDatabaseServerRestarts) {
  std::string error;
  std::unique_ptr<saga::testing::PgServer> server =
      saga::testing::PgServer::StartPrimary(&error);
  ASSERT_NE(server, nullptr) << error;
  Participant patient("patient", {}, {}, server->admin_dsn());
  ASSERT_TRUE(patient.started()) << patient.Log();
  auto call = [&](const std::string& saga_id) {
    return patient.Execute(ExecuteRequest(
        saga_id, "validate", "validate_patient", {{"patient_id", "p-1001"}}));
  };
  auto before = call("s-restart-1");
  ASSERT_TRUE(before.status.ok()) << before.status.error_message();

  ASSERT_TRUE(server->Stop("fast"));
  auto down = call("s-restart-2");
  EXPECT_EQ(down.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << down.status.error_message();

  ASSERT_TRUE(server->Restart());
  EXPECT_TRUE(saga::testing::PollUntil(
      [&] {
        auto up = call("s-restart-3");
        return up.status.ok() &&
               up.result.outcome() == saga::v1::STEP_OUTCOME_SUCCEEDED;
      },
      std::chrono::seconds(30)))
      << patient.Log();
}

// A call repeated with a used key is answered from the record, writing
// nothing; such a commit used to wait for no synchronous standby, so the
// answer could report an effect the standby did not have yet (visible on
// the primary after a commit whose wait was cut short), lost if the
// primary then died. The answer now waits until the standby has it.
TEST(ParticipantOutageTest, AReplayIsAnsweredOnlyOnceTheStandbyHasTheRecord) {
  std::string error;
  std::unique_ptr<saga::testing::PgServer> primary =
      saga::testing::PgServer::StartPrimary(&error);
  ASSERT_NE(primary, nullptr) << error;
  std::unique_ptr<saga::testing::PgServer> standby =
      saga::testing::PgServer::StartStandby(*primary, &error);
  ASSERT_NE(standby, nullptr) << error;
  Participant doctor("doctor", {}, {}, primary->admin_dsn());
  ASSERT_TRUE(doctor.started()) << doctor.Log();
  const StepRequest request =
      ExecuteRequest("s-sync-replay", "reserve", "reserve_doctor",
                     {{"patient_id", "p-1001"},
                      {"specialty", "cardiology"},
                      {"preferred_date", "2027-03-10"}});
  auto first = doctor.Execute(request);
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  ASSERT_EQ(first.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED);

  ASSERT_TRUE(standby->Stop("fast"));
  auto replay =
      std::async(std::launch::async, [&] { return doctor.Execute(request); });
  const bool waited = primary->SessionWaitsForTheStandby(
      doctor.db_name(), std::chrono::seconds(15));
  const bool answered_early =
      replay.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  // Back first, so that no failure below leaves a session waiting for it.
  ASSERT_TRUE(standby->Restart());
  EXPECT_TRUE(waited) << "the replay did not wait for the synchronous standby";
  EXPECT_FALSE(answered_early)
      << "the replay was answered before the standby had the record";
  auto replayed = replay.get();
  ASSERT_TRUE(replayed.status.ok()) << replayed.status.error_message();
  EXPECT_EQ(replayed.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED);
  EXPECT_EQ(replayed.output, first.output);
}

// A session on a server that does not accept writes (a standby, or a
// primary demoted under it; here a database whose sessions start read-only)
// is dropped and the call answered UNAVAILABLE, nothing applied, so that
// the next call reconnects (with a multi-host DSN, to the primary). Kept,
// the sessions refused every write until they broke.
TEST(ParticipantOutageTest, DropsSessionsThatLandedOnAReadOnlyServer) {
  Participant patient("patient");
  ASSERT_TRUE(patient.started()) << patient.Log();
  auto admin_exec = [&](const std::string& sql) {
    pqxx::connection admin(saga::testing::AdminDsn());
    pqxx::nontransaction tx(admin);
    tx.exec(sql);
  };
  auto call = [&](const std::string& saga_id) {
    return patient.Execute(ExecuteRequest(
        saga_id, "validate", "validate_patient", {{"patient_id", "p-1001"}}));
  };
  ASSERT_TRUE(call("s-ro-1").status.ok());
  const std::string db = "\"" + patient.db_name() + "\"";
  admin_exec("ALTER DATABASE " + db +
             " SET default_transaction_read_only = on");
  admin_exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
      "datname = '" +
      patient.db_name() + "'");

  auto refused = call("s-ro-2");
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << refused.status.error_message() << "; outcome "
      << saga::v1::StepOutcome_Name(refused.result.outcome());
  EXPECT_EQ(patient.QueryInt("SELECT count(*) FROM idempotency_keys WHERE "
                             "saga_id = 's-ro-2'"),
            0);

  admin_exec("ALTER DATABASE " + db + " RESET default_transaction_read_only");
  EXPECT_TRUE(saga::testing::PollUntil(
      [&] {
        auto up = call("s-ro-3");
        return up.status.ok() &&
               up.result.outcome() == saga::v1::STEP_OUTCOME_SUCCEEDED;
      },
      std::chrono::seconds(15)))
      << patient.Log();
}

// ------------------------------------------------------------------ email

json MailInput() {
  return {{"reservation_id", "r-1"},
          {"date", "2026-12-10"},
          {"patient_name", "Ada Lovelace"},
          {"patient_email", "ada.lovelace@example.com"},
          {"doctor_name", "Dr. Helen Taussig"},
          {"doctor_email", "helen.taussig@example.com"}};
}

class EmailTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { email_ = new Participant("email"); }
  static void TearDownTestSuite() {
    delete email_;
    email_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(email_->started()) << email_->Log(); }

  static int64_t Mails(const std::string& key) {
    return email_->QueryInt(
        "SELECT count(*) FROM mail_log WHERE idempotency_key = " + Quote(key));
  }

  static Participant* email_;
};

Participant* EmailTest::email_ = nullptr;

TEST_F(EmailTest, SendsTwoMailsOnce) {
  auto request =
      ExecuteRequest("s-mail-1", "notify", "send_notification", MailInput());
  auto first = email_->Execute(request);
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  ASSERT_EQ(first.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED)
      << first.result.error();
  ASSERT_EQ(first.output.size(), 1u);
  ASSERT_EQ(first.output["message_ids"].size(), 2u);
  auto again = email_->Execute(request);
  EXPECT_EQ(again.result.output_json(), first.result.output_json());
  EXPECT_EQ(Mails("s-mail-1/notify/execute"), 2);
  EXPECT_EQ(email_->QueryText(
                "SELECT string_agg(recipient || ':' || status, ',' ORDER BY "
                "id) FROM mail_log WHERE saga_id = 's-mail-1'"),
            "ada.lovelace@example.com:logged,helen.taussig@example.com:logged");
}

TEST_F(EmailTest, ConcurrentDuplicatesSendTwoMails) {
  auto request =
      ExecuteRequest("s-mail-2", "notify", "send_notification", MailInput());
  std::vector<std::string> outputs(12);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < outputs.size(); ++i) {
    threads.emplace_back(
        [&, i] { outputs[i] = email_->Execute(request).result.output_json(); });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& output : outputs) {
    EXPECT_FALSE(output.empty());
    EXPECT_EQ(output, outputs[0]);
  }
  EXPECT_EQ(Mails("s-mail-2/notify/execute"), 2);
}

TEST_F(EmailTest, MissingFieldSendsNothing) {
  json input = MailInput();
  input.erase("doctor_email");
  auto reply = email_->Execute(
      ExecuteRequest("s-mail-3", "notify", "send_notification", input));
  EXPECT_EQ(reply.result.outcome(), saga::v1::STEP_OUTCOME_BUSINESS_FAILURE);
  EXPECT_EQ(reply.result.error(),
            "invalid input: missing field \"doctor_email\"");
  EXPECT_EQ(Mails("s-mail-3/notify/execute"), 0);
}

// A minimal SMTP sink on a port chosen by the kernel: accepts sessions one
// after another and records each message's recipient.
class FakeSmtpServer {
 public:
  FakeSmtpServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    listen(listen_fd_, 8);
    socklen_t length = sizeof(address);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeSmtpServer() {
    stop_ = true;
    thread_.join();
    close(listen_fd_);
  }

  int port() const { return port_; }
  std::vector<std::string> recipients() {
    std::lock_guard<std::mutex> lock(mu_);
    return recipients_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd >= 0) Session(fd);
    }
  }

  void Session(int fd) {
    auto send_line = [fd](const std::string& line) {
      std::string data = line + "\r\n";
      ssize_t ignored = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      (void)ignored;
    };
    send_line("220 fake ESMTP");
    std::string buffer;
    bool in_data = false;
    std::string recipient;
    char chunk[1024];
    while (!stop_) {
      auto end = buffer.find("\r\n");
      if (end == std::string::npos) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0) continue;
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n <= 0) break;
        buffer.append(chunk, static_cast<size_t>(n));
        continue;
      }
      std::string line = buffer.substr(0, end);
      buffer.erase(0, end + 2);
      if (in_data) {
        if (line == ".") {
          in_data = false;
          std::lock_guard<std::mutex> lock(mu_);
          recipients_.push_back(recipient);
          send_line("250 queued");
        }
      } else if (line.rfind("RCPT TO:<", 0) == 0) {
        recipient = line.substr(9, line.size() - 10);
        send_line("250 ok");
      } else if (line == "DATA") {
        in_data = true;
        send_line("354 go ahead");
      } else if (line == "QUIT") {
        send_line("221 bye");
        break;
      } else {
        send_line("250 ok");
      }
    }
    close(fd);
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> recipients_;
};

TEST(EmailSmtpTest, DeliversThroughSmtpAndLogsSent) {
  FakeSmtpServer smtp;
  Participant email("email",
                    {"--smtp", "127.0.0.1:" + std::to_string(smtp.port())});
  ASSERT_TRUE(email.started()) << email.Log();
  auto reply = email.Execute(
      ExecuteRequest("s-smtp-1", "notify", "send_notification", MailInput()));
  ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
  ASSERT_EQ(reply.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED)
      << reply.result.error();
  EXPECT_EQ(smtp.recipients(),
            (std::vector<std::string>{"ada.lovelace@example.com",
                                      "helen.taussig@example.com"}));
  EXPECT_EQ(email.QueryInt("SELECT count(*) FROM mail_log WHERE status = "
                           "'sent' AND saga_id = 's-smtp-1'"),
            2);
}

TEST(EmailSmtpTest, SmtpFailureIsRetryableAndLogsNothing) {
  // A port that was free a moment ago: nothing listens there.
  int closed_port = saga::testing::FreePort();
  Participant email("email",
                    {"--smtp", "127.0.0.1:" + std::to_string(closed_port),
                     "--smtp-timeout-ms", "2000"});
  ASSERT_TRUE(email.started()) << email.Log();
  auto reply = email.Execute(
      ExecuteRequest("s-smtp-2", "notify", "send_notification", MailInput()));
  ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
  EXPECT_EQ(reply.result.outcome(), saga::v1::STEP_OUTCOME_RETRYABLE_FAILURE);
  EXPECT_NE(reply.result.error().find("smtp: cannot connect"),
            std::string::npos)
      << reply.result.error();
  EXPECT_EQ(email.QueryInt("SELECT count(*) FROM mail_log"), 0);
  EXPECT_EQ(email.QueryInt("SELECT count(*) FROM idempotency_keys"), 0);
}

// --------------------------------------------------------- faults, process

TEST(ParticipantFaultTest, FailRateOneIsRetryableAndWritesNothing) {
  Participant email("email", {"--fail-rate", "send_notification=1"});
  ASSERT_TRUE(email.started()) << email.Log();
  auto reply = email.Execute(
      ExecuteRequest("s-fault-1", "notify", "send_notification", MailInput()));
  ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
  EXPECT_EQ(reply.result.outcome(), saga::v1::STEP_OUTCOME_RETRYABLE_FAILURE);
  EXPECT_EQ(reply.result.error(), "injected failure");
  EXPECT_EQ(email.QueryInt("SELECT count(*) FROM mail_log"), 0);
  EXPECT_EQ(email.QueryInt("SELECT count(*) FROM idempotency_keys"), 0);
}

// A retryable failure promises that nothing was recorded, so injected
// failures must not hide a key that was already applied: its repeat still
// answers the recorded result (here: an earlier, successful send).
TEST(ParticipantFaultTest, FailRateOneStillAnswersAnAppliedKey) {
  Participant email("email", {"--fail-rate", "send_notification=1"});
  ASSERT_TRUE(email.started()) << email.Log();
  email.Exec(
      "INSERT INTO idempotency_keys (key, saga_id, step, action, kind, "
      "outcome, output) VALUES ('s-fault-6/notify/execute', 's-fault-6', "
      "'notify', 'send_notification', 'execute', 'succeeded', "
      "'{\"sent\": 2}')");
  auto reply = email.Execute(
      ExecuteRequest("s-fault-6", "notify", "send_notification", MailInput()));
  ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
  EXPECT_EQ(reply.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED)
      << reply.result.error();
  EXPECT_EQ(reply.output, json({{"sent", 2}}));
  EXPECT_EQ(email.QueryInt("SELECT count(*) FROM mail_log"), 0);
}

TEST(ParticipantFaultTest, EnvironmentFailRateAppliesToEveryAction) {
  Participant doctor("doctor", {}, {"SAGA_FAULT_FAIL_RATE=*=1"});
  ASSERT_TRUE(doctor.started()) << doctor.Log();
  auto execute =
      doctor.Execute(ExecuteRequest("s-fault-2", "reserve", "reserve_doctor",
                                    ReserveInput("cardiology", "2026-12-10")));
  EXPECT_EQ(execute.result.outcome(), saga::v1::STEP_OUTCOME_RETRYABLE_FAILURE);
  auto compensate = doctor.Compensate(
      CompensateRequest("s-fault-2", "reserve", "release_reservation"));
  EXPECT_EQ(compensate.result.outcome(),
            saga::v1::STEP_OUTCOME_RETRYABLE_FAILURE);
  EXPECT_EQ(doctor.QueryInt("SELECT count(*) FROM reservations"), 0);
  EXPECT_EQ(doctor.QueryInt("SELECT count(*) FROM idempotency_keys"), 0);
}

TEST(ParticipantFaultTest, RefuseAllAnswersUnavailable) {
  Participant patient("patient", {"--refuse-all"});
  ASSERT_TRUE(patient.started()) << patient.Log();
  auto reply = patient.Execute(ExecuteRequest(
      "s-fault-3", "validate", "validate_patient", {{"patient_id", "p-1001"}}));
  EXPECT_EQ(reply.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(patient.QueryInt("SELECT count(*) FROM idempotency_keys"), 0);
}

TEST(ParticipantFaultTest, RefuseAllFromEnvironment) {
  Participant patient("patient", {}, {"SAGA_FAULT_REFUSE_ALL=1"});
  ASSERT_TRUE(patient.started()) << patient.Log();
  auto reply = patient.Compensate(
      CompensateRequest("s-fault-4", "validate", "validate_patient"));
  EXPECT_EQ(reply.status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST(ParticipantFaultTest, LatencyDelaysTheAnswer) {
  Participant patient("patient", {"--latency-ms", "validate_patient=300"});
  ASSERT_TRUE(patient.started()) << patient.Log();
  auto started = std::chrono::steady_clock::now();
  auto reply = patient.Execute(ExecuteRequest(
      "s-fault-5", "validate", "validate_patient", {{"patient_id", "p-1001"}}));
  auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(reply.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED);
  EXPECT_GE(elapsed, std::chrono::milliseconds(300));
}

// The participant's log line for the call with this saga id, once it has
// answered ("" if it never does within 10 s).
std::string AnsweredLine(Participant& participant, const std::string& saga_id) {
  std::string line;
  saga::testing::PollUntil(
      [&] {
        std::istringstream log(participant.Log());
        for (std::string next; std::getline(log, next);) {
          if (next.find("saga_id=" + saga_id + " ") != std::string::npos &&
              next.find(" outcome=") != std::string::npos) {
            line = next;
            return true;
          }
        }
        return false;
      },
      std::chrono::seconds(10));
  return line;
}

// Regression: --latency-ms slept before the transaction, so a call slower
// than its caller's deadline still committed after the caller gave up (and
// a retry found the key used). The latency now sits in the action's
// transaction, like a slow dependency, and the deadline is checked before
// COMMIT: past it nothing applies and the key stays free.
TEST(ParticipantDeadlineTest, ACallPastItsDeadlineAppliesNothing) {
  Participant doctor(
      "doctor", {"--today", kToday, "--latency-ms", "reserve_doctor=1500"});
  ASSERT_TRUE(doctor.started()) << doctor.Log();
  auto request = ExecuteRequest("s-late-1", "reserve", "reserve_doctor",
                                ReserveInput("neurology", "2026-12-03"));
  const int64_t booked_before = doctor.QueryInt(
      "SELECT booked FROM doctor_days WHERE doctor_id = 'd-2004' "
      "AND day = '2026-12-03'");
  auto late = doctor.Execute(request, std::chrono::milliseconds(300));
  EXPECT_EQ(late.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // Once the participant has answered, its database shows no effect and
  // the key is unused.
  const std::string answered = AnsweredLine(doctor, "s-late-1");
  EXPECT_NE(answered.find("outcome=DEADLINE_EXCEEDED"), std::string::npos)
      << doctor.Log();
  EXPECT_EQ(doctor.QueryInt("SELECT count(*) FROM reservations"), 0);
  EXPECT_EQ(doctor.QueryInt("SELECT count(*) FROM idempotency_keys"), 0);

  // A retry with time enough applies it, once.
  request.set_attempt(2);
  request.set_deadline_unix_ms(NowUnixMs() + 15000);
  auto retried = doctor.Execute(request);
  ASSERT_TRUE(retried.status.ok()) << retried.status.error_message();
  ASSERT_EQ(retried.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED)
      << retried.result.error();
  EXPECT_EQ(
      doctor.QueryInt("SELECT count(*) FROM reservations "
                      "WHERE idempotency_key = 's-late-1/reserve/execute'"),
      1);
  EXPECT_EQ(doctor.QueryInt("SELECT booked FROM doctor_days WHERE doctor_id = "
                            "'d-2004' AND day = '2026-12-03'"),
            booked_before + 1);
}

// The request's own deadline_unix_ms counts as well as the gRPC deadline:
// the participant answers DEADLINE_EXCEEDED itself, saying nothing applied.
TEST(ParticipantDeadlineTest, RequestDeadlineIsHonouredUpToTheCommit) {
  Participant patient("patient", {"--latency-ms", "validate_patient=1000"});
  ASSERT_TRUE(patient.started()) << patient.Log();
  auto request = ExecuteRequest("s-late-2", "validate", "validate_patient",
                                {{"patient_id", "p-1001"}});
  request.set_deadline_unix_ms(NowUnixMs() + 300);
  auto reply = patient.Execute(request);
  EXPECT_EQ(reply.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_NE(reply.status.error_message().find("nothing was applied"),
            std::string::npos)
      << reply.status.error_message();
  EXPECT_EQ(patient.QueryInt("SELECT count(*) FROM idempotency_keys"), 0);
}

// With the only connection busy until after a call's deadline, the pool
// must not hand it to that call once it frees up.
TEST(ParticipantDeadlineTest, PoolHandsOutNoConnectionPastTheDeadline) {
  Participant doctor("doctor", {"--today", kToday, "--db-pool-size", "1",
                                "--latency-ms", "reserve_doctor=1500"});
  ASSERT_TRUE(doctor.started()) << doctor.Log();
  Participant::Reply slow;
  std::thread holder([&] {
    slow = doctor.Execute(
        ExecuteRequest("s-pool-1", "reserve", "reserve_doctor",
                       ReserveInput("pediatrics", "2026-12-04")));
  });
  ASSERT_TRUE(saga::testing::PollUntil(
      [&] {
        return doctor.QueryInt(
                   "SELECT count(*) FROM pg_stat_activity WHERE "
                   "query LIKE 'SELECT pg_sleep%'") > 0;
      },
      std::chrono::seconds(10)))
      << doctor.Log();
  auto waiting = ExecuteRequest("s-pool-2", "reserve", "reserve_doctor",
                                ReserveInput("pediatrics", "2026-12-04"));
  waiting.set_deadline_unix_ms(NowUnixMs() + 300);
  auto refused = doctor.Execute(waiting);
  holder.join();
  ASSERT_EQ(slow.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED)
      << slow.result.error() << slow.status.error_message();
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << refused.status.error_message();
  EXPECT_EQ(refused.status.error_message(),
            "the caller's deadline passed before a database connection was "
            "handed out");
  EXPECT_EQ(doctor.QueryInt("SELECT count(*) FROM reservations "
                            "WHERE saga_id = 's-pool-2'"),
            0);
  EXPECT_EQ(doctor.QueryInt("SELECT count(*) FROM idempotency_keys "
                            "WHERE saga_id = 's-pool-2'"),
            0);
}

TEST(ParticipantProcessTest, ExitsCleanlyOnSigterm) {
  Participant doctor("doctor");
  ASSERT_TRUE(doctor.started()) << doctor.Log();
  doctor.process().Signal(SIGTERM);
  int status = doctor.process().Wait();
  ASSERT_TRUE(WIFEXITED(status)) << doctor.Log();
  EXPECT_EQ(WEXITSTATUS(status), 0) << doctor.Log();
}

TEST(ParticipantProcessTest, SigtermLetsInFlightCallsFinish) {
  Participant patient("patient", {"--latency-ms", "validate_patient=500",
                                  "--log-level", "debug"});
  ASSERT_TRUE(patient.started()) << patient.Log();
  Participant::Reply reply;
  std::thread call([&] {
    reply = patient.Execute(ExecuteRequest("s-term-1", "validate",
                                           "validate_patient",
                                           {{"patient_id", "p-1001"}}));
  });
  bool in_flight = saga::testing::PollUntil(
      [&] {
        return patient.Log().find("saga_id=s-term-1 step=validate") !=
               std::string::npos;
      },
      std::chrono::seconds(10));
  patient.process().Signal(SIGTERM);
  int status = patient.process().Wait();
  call.join();
  ASSERT_TRUE(in_flight) << patient.Log();
  EXPECT_TRUE(reply.status.ok()) << reply.status.error_message();
  EXPECT_EQ(reply.result.outcome(), saga::v1::STEP_OUTCOME_SUCCEEDED);
  ASSERT_TRUE(WIFEXITED(status)) << patient.Log();
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ParticipantProcessTest, MigrateOnlyAppliesMigrationsAndExits) {
  TestDatabase db("part_migrate");
  ChildProcess process({saga::testing::BinaryPath("saga-email"), "--db",
                        db.dsn(), "--migrations",
                        saga::testing::SourcePath("migrations/email"),
                        "--migrate-only"});
  int status = process.Wait();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  pqxx::connection connection(db.dsn());
  pqxx::nontransaction tx(connection);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM mail_log")[0][0].as<int>(), 0);
}

TEST(ParticipantProcessTest, BadFaultFlagIsRejected) {
  TestDatabase db("part_badflag");
  ChildProcess process({saga::testing::BinaryPath("saga-patient"), "--listen",
                        "127.0.0.1:0", "--db", db.dsn(), "--migrations",
                        saga::testing::SourcePath("migrations/patient"),
                        "--fail-rate", "validate_patient=2"});
  int status = process.Wait();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
}

}  // namespace
}  // namespace saga::participants
