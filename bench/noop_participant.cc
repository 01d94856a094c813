// saga-bench-participant: a saga.v1.Participant that does nothing, for
// benchmarks. Every Execute and Compensate answers SUCCEEDED at once, except
// the actions named with --retry-action, which answer RETRYABLE_FAILURE (the
// benchmark parks sagas on them; a compensation action named there makes
// rollbacks give up, so sagas end FAILED). Execute answers the booking saga's
// actions with outputs shaped like the real participants' (same fields,
// seed-sized values), so every participant name of that saga can point here and
// the orchestrator carries the same state as with the real services. It applies
// no effect, so repeating a key is trivially idempotent.
//
// It is a real gRPC server in its own process (callback API, no handler
// blocks), so the orchestrator pays for real calls. It logs "listening on
// HOST:PORT" with the bound port once it serves, and the wall-clock time of
// its first call ("first call at unix_us=N"), which the benchmark uses to time
// the orchestrator's restart.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "saga/v1/participant.grpc.pb.h"

namespace {

// What saga-patient and saga-doctor answer (participants/*/..._actions.cc),
// with values the size of their seed data.
constexpr char kPatientOutput[] =
    R"({"email":"ada.lovelace@example.com","name":"Ada Lovelace",)"
    R"("patient_id":"p-1001"})";
constexpr char kReservationOutput[] =
    R"({"date":"2026-12-01","doctor_email":"helen.taussig@example.com",)"
    R"("doctor_id":"d-2001","doctor_name":"Dr. Helen Taussig",)"
    R"("reservation_id":"r-1000001"})";

const char* OutputOf(const std::string& action) {
  if (action == "validate_patient") return kPatientOutput;
  if (action == "reserve_doctor") return kReservationOutput;
  return "{}";
}

int64_t NowUnixMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class NoopParticipant final : public saga::v1::Participant::CallbackService {
 public:
  explicit NoopParticipant(std::set<std::string> retry_actions)
      : retry_actions_(std::move(retry_actions)) {}

  grpc::ServerUnaryReactor* Execute(grpc::CallbackServerContext* context,
                                    const saga::v1::StepRequest* request,
                                    saga::v1::StepResult* response) override {
    NoteCall();
    if (retry_actions_.count(request->action()) > 0) {
      response->set_outcome(saga::v1::STEP_OUTCOME_RETRYABLE_FAILURE);
      response->set_error("held by the benchmark");
    } else {
      response->set_outcome(saga::v1::STEP_OUTCOME_SUCCEEDED);
      response->set_output_json(OutputOf(request->action()));
    }
    return Done(context);
  }

  grpc::ServerUnaryReactor* Compensate(
      grpc::CallbackServerContext* context,
      const saga::v1::StepRequest* request,
      saga::v1::StepResult* response) override {
    NoteCall();
    if (retry_actions_.count(request->action()) > 0) {
      response->set_outcome(saga::v1::STEP_OUTCOME_RETRYABLE_FAILURE);
      response->set_error("held by the benchmark");
    } else {
      response->set_outcome(saga::v1::STEP_OUTCOME_SUCCEEDED);
      response->set_output_json("{}");
    }
    return Done(context);
  }

 private:
  static grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  void NoteCall() {
    if (!first_call_seen_.exchange(true, std::memory_order_relaxed)) {
      std::printf("first call at unix_us=%lld\n",
                  static_cast<long long>(NowUnixMicros()));
      std::fflush(stdout);
    }
  }

  const std::set<std::string> retry_actions_;
  std::atomic<bool> first_call_seen_{false};
};

}  // namespace

int main(int argc, char** argv) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  CLI::App app{"saga-bench-participant: answers every call at once"};
  std::string listen = "127.0.0.1:0";
  std::vector<std::string> retry_actions;
  app.add_option("--listen", listen, "gRPC address; port 0 picks a free one")
      ->capture_default_str();
  app.add_option("--retry-action", retry_actions,
                 "Answer RETRYABLE_FAILURE to Execute or Compensate of this "
                 "action (repeatable)");
  CLI11_PARSE(app, argc, argv);

  NoopParticipant service(
      std::set<std::string>(retry_actions.begin(), retry_actions.end()));
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "cannot listen on %s\n", listen.c_str());
    return 1;
  }
  std::printf("listening on %s:%d\n",
              listen.substr(0, listen.rfind(':')).c_str(), port);
  std::fflush(stdout);

  int received = 0;
  sigwait(&signals, &received);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return 0;
}
