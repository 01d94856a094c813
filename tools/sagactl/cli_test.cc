// Runs whole sagactl commands against an in-process fake orchestrator bound
// to a loopback port chosen by the kernel.
#include "tools/sagactl/cli.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "saga/v1/orchestrator.grpc.pb.h"
#include "tools/sagactl/exit_codes.h"

namespace saga::sagactl {
namespace {

using nlohmann::json;

constexpr int64_t kT0 = 1714564800000;

// Sagas of type "ok" complete, "doomed" compensate and "slow" keep running.
// Page size is capped at 2 so that paging is exercised with a few sagas.
class FakeOrchestrator final : public v1::SagaOrchestrator::Service {
 public:
  grpc::Status StartSaga(grpc::ServerContext*,
                         const v1::StartSagaRequest* request,
                         v1::StartSagaResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    starts_.push_back(*request);
    const std::string& type = request->saga_type();
    if (type != "ok" && type != "doomed" && type != "slow") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "unknown saga type " + type);
    }
    if (!request->idempotency_key().empty()) {
      auto it = by_key_.find(request->idempotency_key());
      if (it != by_key_.end()) {
        response->set_saga_id(it->second);
        response->set_created(false);
        return grpc::Status::OK;
      }
    }
    v1::Saga saga;
    saga.set_saga_id("saga-" + std::to_string(sagas_.size() + 1));
    saga.set_saga_type(type);
    saga.set_definition_version(1);
    saga.set_input_json(request->input_json());
    saga.set_idempotency_key(request->idempotency_key());
    saga.set_created_unix_ms(kT0);
    saga.set_updated_unix_ms(kT0 + 100);
    v1::Step* step = saga.add_steps();
    step->set_name("reserve_slot");
    step->set_attempts(1);
    if (type == "ok") {
      saga.set_status(v1::SAGA_STATUS_COMPLETED);
      step->set_status(v1::STEP_STATUS_SUCCEEDED);
      step->set_output_json(R"({"slot":"s9"})");
    } else if (type == "doomed") {
      saga.set_status(v1::SAGA_STATUS_COMPENSATED);
      saga.set_error("reserve_slot: slot taken");
      step->set_status(v1::STEP_STATUS_FAILED);
      step->set_error("slot taken");
    } else {
      saga.set_status(v1::SAGA_STATUS_RUNNING);
      saga.set_current_step("reserve_slot");
      step->set_status(v1::STEP_STATUS_RUNNING);
    }
    if (!request->idempotency_key().empty()) {
      by_key_[request->idempotency_key()] = saga.saga_id();
    }
    response->set_saga_id(saga.saga_id());
    response->set_created(true);
    order_.push_back(saga.saga_id());
    sagas_[saga.saga_id()] = std::move(saga);
    return grpc::Status::OK;
  }

  grpc::Status GetSaga(grpc::ServerContext*, const v1::GetSagaRequest* request,
                       v1::GetSagaResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sagas_.find(request->saga_id());
    if (it == sagas_.end()) return NotFound(request->saga_id());
    *response->mutable_saga() = it->second;
    return grpc::Status::OK;
  }

  grpc::Status ListSagas(grpc::ServerContext*,
                         const v1::ListSagasRequest* request,
                         v1::ListSagasResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    list_requests_.push_back(*request);
    size_t start =
        request->page_token().empty() ? 0 : std::stoul(request->page_token());
    size_t page_size = std::min<size_t>(
        request->page_size() == 0 ? 50 : request->page_size(), 2);
    size_t index = start;
    for (; index < order_.size() &&
           static_cast<size_t>(response->sagas_size()) < page_size;
         ++index) {
      const v1::Saga& saga = sagas_[order_[index]];
      if (request->status() != v1::SAGA_STATUS_UNSPECIFIED &&
          saga.status() != request->status()) {
        continue;
      }
      v1::Saga* summary = response->add_sagas();
      *summary = saga;
      summary->clear_steps();
    }
    if (index < order_.size()) {
      response->set_next_page_token(std::to_string(index));
    }
    return grpc::Status::OK;
  }

  grpc::Status GetSagaHistory(grpc::ServerContext*,
                              const v1::GetSagaHistoryRequest* request,
                              v1::GetSagaHistoryResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (request->saga_id() == "db-down") {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "database down");
    }
    if (sagas_.count(request->saga_id()) == 0) {
      return NotFound(request->saga_id());
    }
    response->set_saga_id(request->saga_id());
    v1::SagaEvent* event = response->add_events();
    event->set_seq(1);
    event->set_type("SagaStarted");
    event->set_data_json(sagas_[request->saga_id()].input_json());
    event->set_recorded_unix_ms(kT0);
    return grpc::Status::OK;
  }

  // Answers at once: the fake's sagas never change by themselves.
  grpc::Status AwaitSaga(grpc::ServerContext*,
                         const v1::AwaitSagaRequest* request,
                         v1::AwaitSagaResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    awaits_.push_back(*request);
    auto it = sagas_.find(request->saga_id());
    if (it == sagas_.end()) return NotFound(request->saga_id());
    *response->mutable_saga() = it->second;
    bool step_done = !request->step().empty() &&
                     it->second.steps(0).name() == request->step() &&
                     it->second.steps(0).status() == v1::STEP_STATUS_SUCCEEDED;
    v1::SagaStatus status = it->second.status();
    response->set_reached(step_done || status == v1::SAGA_STATUS_COMPLETED ||
                          status == v1::SAGA_STATUS_COMPENSATED ||
                          status == v1::SAGA_STATUS_FAILED);
    return grpc::Status::OK;
  }

  grpc::Status CancelSaga(grpc::ServerContext*,
                          const v1::CancelSagaRequest* request,
                          v1::CancelSagaResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sagas_.find(request->saga_id());
    if (it == sagas_.end()) return NotFound(request->saga_id());
    if (it->second.status() != v1::SAGA_STATUS_RUNNING) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "saga " + request->saga_id() + " has ended");
    }
    it->second.set_status(v1::SAGA_STATUS_COMPENSATING);
    it->second.set_error("cancelled: " + request->reason());
    *response->mutable_saga() = it->second;
    return grpc::Status::OK;
  }

  std::vector<v1::StartSagaRequest> starts() {
    std::lock_guard<std::mutex> lock(mu_);
    return starts_;
  }
  std::vector<v1::ListSagasRequest> list_requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return list_requests_;
  }
  std::vector<v1::AwaitSagaRequest> awaits() {
    std::lock_guard<std::mutex> lock(mu_);
    return awaits_;
  }

 private:
  static grpc::Status NotFound(const std::string& id) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "saga " + id + " not found");
  }

  std::mutex mu_;
  std::map<std::string, v1::Saga> sagas_;
  std::vector<std::string> order_;
  std::map<std::string, std::string> by_key_;
  std::vector<v1::StartSagaRequest> starts_;
  std::vector<v1::ListSagasRequest> list_requests_;
  std::vector<v1::AwaitSagaRequest> awaits_;
};

struct Result {
  int code;
  std::string out;
  std::string err;
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    address_ = "127.0.0.1:" + std::to_string(port);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // Runs `sagactl --address <fake> args...`.
  Result Run(std::vector<std::string> args, const std::string& stdin_text = "",
             bool with_address = true) {
    std::vector<std::string> full = {"sagactl"};
    if (with_address) {
      full.push_back("--address");
      full.push_back(address_);
    }
    full.insert(full.end(), args.begin(), args.end());
    std::vector<const char*> argv;
    for (const std::string& arg : full) argv.push_back(arg.c_str());
    std::istringstream in(stdin_text);
    std::ostringstream out;
    std::ostringstream err;
    int code = RunCli(static_cast<int>(argv.size()), argv.data(), in, out, err);
    return {code, out.str(), err.str()};
  }

  FakeOrchestrator fake_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

TEST_F(CliTest, HelpDocumentsExitCodesAndExitsZero) {
  Result r = Run({"--help"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_NE(r.out.find("Exit codes:"), std::string::npos);
  EXPECT_NE(r.out.find("SAGACTL_ADDRESS"), std::string::npos);
  for (const char* command :
       {"start", "show", "list", "history", "await", "cancel"}) {
    EXPECT_NE(r.out.find(std::string("  ") + command + " "), std::string::npos)
        << command;
  }
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  std::vector<std::vector<std::string>> cases = {
      {},
      {"frobnicate"},
      {"show"},
      {"-o", "yaml", "list"},
      {"list", "--status", "done"},
      {"list", "--limit", "0"},
      {"list", "--all", "--limit", "3"},
      {"await", "saga-1", "--timeout", "10"},
      {"cancel", "saga-1"},
      {"start", "ok"},
      {"start", "ok", "--input", "{not json"},
      {"start", "ok", "--input", "[1, 2]"},
      {"start", "ok", "--input", "@/nonexistent/input.json"},
  };
  for (const auto& args : cases) {
    Result r = Run(args);
    std::string joined;
    for (const auto& arg : args) joined += arg + " ";
    EXPECT_EQ(r.code, kExitUsage) << joined << "\n" << r.err;
    EXPECT_EQ(r.err.rfind("sagactl: ", 0), 0u) << joined << "\n" << r.err;
  }
  EXPECT_TRUE(fake_.starts().empty());
}

TEST_F(CliTest, StartPrintsTheIdOrJson) {
  Result table = Run({"start", "ok", "--input", R"({"patient_id": "p1"})"});
  EXPECT_EQ(table.code, kExitOk) << table.err;
  EXPECT_EQ(table.out, "saga-1\n");
  ASSERT_EQ(fake_.starts().size(), 1u);
  EXPECT_EQ(fake_.starts()[0].input_json(), R"({"patient_id":"p1"})");

  Result json_out = Run({"-o", "json", "start", "ok", "--input", "{}",
                         "--idempotency-key", "k1"});
  EXPECT_EQ(json_out.code, kExitOk) << json_out.err;
  EXPECT_EQ(json::parse(json_out.out),
            json({{"saga_id", "saga-2"}, {"created", true}}));

  Result again = Run({"start", "ok", "--input", "{}", "--idempotency-key", "k1",
                      "-o", "json"});
  EXPECT_EQ(again.code, kExitOk);
  EXPECT_EQ(json::parse(again.out)["created"], false);
  EXPECT_NE(again.err.find("already existed"), std::string::npos);
}

TEST_F(CliTest, StartReadsInputFromFileAndStdin) {
  std::string path = ::testing::TempDir() + "sagactl_input.json";
  {
    std::ofstream file(path);
    file << "{\n  \"doctor_id\": \"d1\"\n}\n";
  }
  EXPECT_EQ(Run({"start", "ok", "--input", "@" + path}).code, kExitOk);
  EXPECT_EQ(Run({"start", "ok", "--input", "@-"}, R"({"a": [1]})").code,
            kExitOk);
  std::remove(path.c_str());
  ASSERT_EQ(fake_.starts().size(), 2u);
  EXPECT_EQ(fake_.starts()[0].input_json(), R"({"doctor_id":"d1"})");
  EXPECT_EQ(fake_.starts()[1].input_json(), R"({"a":[1]})");
}

TEST_F(CliTest, StartUnknownTypeExitsThree) {
  Result r = Run({"start", "nope", "--input", "{}"});
  EXPECT_EQ(r.code, kExitNotFound);
  EXPECT_EQ(r.err, "sagactl: NOT_FOUND: unknown saga type nope\n");
}

TEST_F(CliTest, StartWaitPrintsTheSagaAsShowDoes) {
  Result r = Run({"start", "ok", "--input", R"({"p": 1})", "--wait"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, Run({"show", "saga-1"}).out);
  EXPECT_NE(r.out.find("Status:           COMPLETED"), std::string::npos);
  ASSERT_EQ(fake_.awaits().size(), 1u);
  EXPECT_EQ(fake_.awaits()[0].saga_id(), "saga-1");
}

TEST_F(CliTest, StartWaitOnACompensatedSagaExitsFive) {
  Result r = Run({"-o", "json", "start", "doomed", "--input", R"({"p": 1})",
                  "--wait", "--timeout", "30s"});
  EXPECT_EQ(r.code, kExitSagaEndedBadly);
  EXPECT_EQ(r.err,
            "sagactl: saga saga-1 ended COMPENSATED: reserve_slot: slot "
            "taken\n");
  json value = json::parse(r.out);
  EXPECT_EQ(value["saga"]["status"], "SAGA_STATUS_COMPENSATED");
  EXPECT_EQ(value["saga"]["input_json"]["p"], 1);
  EXPECT_EQ(value["events"][0]["data_json"]["p"], 1);
  ASSERT_EQ(fake_.awaits().size(), 1u);
  EXPECT_LE(fake_.awaits()[0].timeout_ms(), 30000);
  EXPECT_GT(fake_.awaits()[0].timeout_ms(), 25000);
}

TEST_F(CliTest, ShowPrintsStepsAndTimeline) {
  ASSERT_EQ(Run({"start", "doomed", "--input", "{}"}).code, kExitOk);
  Result r = Run({"show", "saga-1"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("Status:           COMPENSATED\n"), std::string::npos);
  EXPECT_NE(r.out.find("reserve_slot  FAILED  1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("SagaStarted"), std::string::npos);
  // Global flags may follow the command.
  Result json_out = Run({"show", "saga-1", "-o", "json"});
  EXPECT_EQ(json::parse(json_out.out)["saga"]["saga_id"], "saga-1");
}

TEST_F(CliTest, ShowUnknownSagaExitsThree) {
  Result r = Run({"show", "missing"});
  EXPECT_EQ(r.code, kExitNotFound);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "sagactl: NOT_FOUND: saga missing not found\n");
}

TEST_F(CliTest, ServerSideUnavailableIsAnOrdinaryError) {
  Result r = Run({"history", "db-down"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err, "sagactl: UNAVAILABLE: database down\n");
}

TEST_F(CliTest, HistoryPrintsEvents) {
  ASSERT_EQ(Run({"start", "ok", "--input", R"({"x": true})"}).code, kExitOk);
  Result table = Run({"history", "saga-1"});
  EXPECT_EQ(table.code, kExitOk);
  EXPECT_EQ(table.out.rfind("TIME ", 0), 0u) << table.out;
  Result json_out = Run({"history", "saga-1", "-o", "json"});
  json value = json::parse(json_out.out);
  EXPECT_EQ(value["saga_id"], "saga-1");
  EXPECT_EQ(value["events"][0]["data_json"]["x"], true);
}

TEST_F(CliTest, ListLimitsAndFollowsPages) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(Run({"start", i == 3 ? "doomed" : "ok", "--input", "{}"}).code,
              kExitOk);
  }
  Result limited = Run({"-o", "json", "list", "--limit", "3"});
  EXPECT_EQ(limited.code, kExitOk) << limited.err;
  json page = json::parse(limited.out);
  EXPECT_EQ(page["sagas"].size(), 3u);
  EXPECT_FALSE(page["next_page_token"].get<std::string>().empty());

  Result table = Run({"list", "--limit", "3"});
  EXPECT_NE(table.err.find("use --all"), std::string::npos);
  EXPECT_EQ(table.out.rfind("ID ", 0), 0u) << table.out;

  size_t requests_before = fake_.list_requests().size();
  Result all = Run({"list", "--all", "-o", "json"});
  EXPECT_EQ(all.code, kExitOk) << all.err;
  json everything = json::parse(all.out);
  ASSERT_EQ(everything["sagas"].size(), 5u);
  EXPECT_EQ(everything["sagas"][4]["saga_id"], "saga-5");
  EXPECT_EQ(everything["next_page_token"], "");
  EXPECT_EQ(fake_.list_requests().size() - requests_before, 3u);
}

TEST_F(CliTest, ListStatusAcceptsShortAndFullNames) {
  Run({"start", "ok", "--input", "{}"});
  Run({"start", "doomed", "--input", "{}"});
  for (const char* status : {"compensated", "SAGA_STATUS_COMPENSATED"}) {
    Result r = Run({"list", "--status", status, "--type", "doomed"});
    EXPECT_EQ(r.code, kExitOk) << r.err;
    EXPECT_EQ(fake_.list_requests().back().status(),
              v1::SAGA_STATUS_COMPENSATED);
    EXPECT_EQ(fake_.list_requests().back().saga_type(), "doomed");
    EXPECT_NE(r.out.find("saga-2"), std::string::npos);
    EXPECT_EQ(r.out.find("saga-1"), std::string::npos);
  }
}

TEST_F(CliTest, AwaitReportsTimeoutStepAndEnding) {
  Run({"start", "slow", "--input", "{}"});
  Run({"start", "ok", "--input", "{}"});
  Run({"start", "doomed", "--input", "{}"});

  Result timed_out = Run({"await", "saga-1", "--timeout", "0"});
  EXPECT_EQ(timed_out.code, kExitError);
  EXPECT_EQ(timed_out.err,
            "sagactl: DEADLINE_EXCEEDED: saga saga-1 is still RUNNING after "
            "0ms\n");
  EXPECT_NE(timed_out.out.find("Status:           RUNNING"), std::string::npos);

  Result step =
      Run({"-o", "json", "await", "saga-2", "--step", "reserve_slot"});
  EXPECT_EQ(step.code, kExitOk) << step.err;
  EXPECT_EQ(json::parse(step.out)["reached"], true);
  EXPECT_EQ(fake_.awaits().back().step(), "reserve_slot");
  EXPECT_EQ(fake_.awaits().back().timeout_ms(), 600000);

  EXPECT_EQ(Run({"await", "saga-3"}).code, kExitSagaEndedBadly);
  EXPECT_EQ(Run({"await", "nope"}).code, kExitNotFound);
}

TEST_F(CliTest, CancelSendsTheReason) {
  Run({"start", "slow", "--input", "{}"});
  Run({"start", "slow", "--input", "{}"});
  Result r = Run({"cancel", "saga-1", "--reason", "patient called"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("cancelled: patient called"), std::string::npos);
  EXPECT_NE(r.out.find("COMPENSATING"), std::string::npos);
  Result json_out = Run({"cancel", "saga-2", "--reason", "x", "-o", "json"});
  EXPECT_EQ(json_out.code, kExitOk) << json_out.err;
  json value = json::parse(json_out.out);
  EXPECT_EQ(value["saga"]["status"], "SAGA_STATUS_COMPENSATING");
  EXPECT_EQ(value["saga"]["error"], "cancelled: x");
}

TEST_F(CliTest, CancelAfterTheEndIsAnOrdinaryError) {
  Run({"start", "ok", "--input", "{}"});
  Result r = Run({"cancel", "saga-1", "--reason", "too late"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err, "sagactl: FAILED_PRECONDITION: saga saga-1 has ended\n");
}

TEST_F(CliTest, UnreachableServerExitsFour) {
  std::string closed = address_;
  server_->Shutdown();
  server_.reset();
  Result r = Run({"show", "saga-1"});
  EXPECT_EQ(r.code, kExitUnreachable);
  EXPECT_EQ(
      r.err.rfind("sagactl: cannot reach the orchestrator at " + closed + ": ",
                  0),
      0u)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
}

TEST_F(CliTest, AddressComesFromTheEnvironment) {
  ASSERT_EQ(setenv("SAGACTL_ADDRESS", address_.c_str(), 1), 0);
  Result r = Run({"start", "ok", "--input", "{}"}, "", /*with_address=*/false);
  unsetenv("SAGACTL_ADDRESS");
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "saga-1\n");
}

}  // namespace
}  // namespace saga::sagactl
