#include "participants/payment/completion_reporter.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <utility>
#include <vector>

namespace saga::participants {

struct CompletionReporter::Settled {
  std::string charge_id;
  std::string saga_id;
  std::string step;
  std::string token;
  std::string status;  // settled or declined
  int64_t amount_cents = 0;
};

namespace {

// Reconnects within a second once the orchestrator is back (gRPC's default
// backoff grows to two minutes while it is away).
std::shared_ptr<grpc::Channel> OrchestratorChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

// A charge's own delay is settle_after ($1) plus its share of the jitter
// ($3), both in milliseconds.
constexpr char kSettleSql[] =
    "UPDATE charges SET settled_at = now(), status = CASE "
    "  WHEN amount_cents > $2 THEN 'declined' ELSE 'settled' END "
    "WHERE status = 'pending' "
    "  AND accepted_at + make_interval(secs => ($1::float8 + "
    "    abs(hashtext(charge_id)::bigint) % ($3::bigint + 1)) / 1000) "
    "    <= now()";

constexpr char kUnreportedSql[] =
    "SELECT charge_id, saga_id, step, completion_token, status, amount_cents "
    "FROM charges WHERE NOT reported AND status IN ('settled', 'declined') "
    "ORDER BY accepted_at LIMIT 100";

// Only if the token is still the one reported with: a repeated Execute may
// have replaced it meanwhile, and then the result goes again.
constexpr char kMarkReportedSql[] =
    "UPDATE charges SET reported = true "
    "WHERE charge_id = $1 AND completion_token = $2";

constexpr std::chrono::seconds kCallTimeout{5};

// "a:1,b:2" -> {"a:1", "b:2"}; empty entries are dropped.
std::vector<std::string> SplitTargets(const std::string& list) {
  std::vector<std::string> targets;
  size_t begin = 0;
  while (begin <= list.size()) {
    size_t end = list.find(',', begin);
    if (end == std::string::npos) end = list.size();
    if (end > begin) targets.push_back(list.substr(begin, end - begin));
    begin = end + 1;
  }
  return targets;
}

}  // namespace

CompletionReporter::CompletionReporter(pg::ConnectionPool* pool,
                                       CompletionReporterOptions options)
    : pool_(pool), options_(std::move(options)) {
  for (const std::string& target : SplitTargets(options_.orchestrator)) {
    stubs_.push_back(
        v1::SagaOrchestrator::NewStub(OrchestratorChannel(target)));
  }
  thread_ = std::thread([this] { Run(); });
}

CompletionReporter::~CompletionReporter() { Stop(); }

void CompletionReporter::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CompletionReporter::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    Round();
    lock.lock();
    wake_.wait_for(lock, options_.interval, [this] { return stopping_; });
  }
}

void CompletionReporter::Round() {
  absl::StatusOr<std::vector<Settled>> due = pool_->Run(
      "settling charges",
      [this](pqxx::connection& connection)
          -> absl::StatusOr<std::vector<Settled>> {
        pqxx::work tx(connection);
        tx.exec_params(kSettleSql,
                       static_cast<int64_t>(options_.settle_after.count()),
                       options_.decline_above_cents,
                       static_cast<int64_t>(options_.settle_jitter.count()));
        std::vector<Settled> charges;
        for (const auto& row : tx.exec(kUnreportedSql)) {
          charges.push_back({row[0].as<std::string>(), row[1].as<std::string>(),
                             row[2].as<std::string>(), row[3].as<std::string>(),
                             row[4].as<std::string>(), row[5].as<int64_t>()});
        }
        tx.commit();
        return charges;
      });
  if (!due.ok()) {
    spdlog::warn("completion reporter: {}", due.status().ToString());
    return;
  }
  for (const Settled& charge : *due) {
    const grpc::Status status = Report(charge);
    if (!status.ok() &&
        status.error_code() != grpc::StatusCode::FAILED_PRECONDITION) {
      spdlog::warn(
          "charge {} of saga {}: CompleteStep failed ({}: {}); "
          "trying again",
          charge.charge_id, charge.saga_id,
          static_cast<int>(status.error_code()), status.error_message());
      continue;
    }
    if (status.ok()) {
      spdlog::info("charge {} of saga {} reported {}", charge.charge_id,
                   charge.saga_id, charge.status);
    } else {
      spdlog::info(
          "charge {} of saga {}: the orchestrator refused the "
          "completion ({}); a retry of the step will bring a new "
          "token",
          charge.charge_id, charge.saga_id, status.error_message());
    }
    absl::Status marked = pool_->Run(
        "marking a charge reported",
        [&charge](pqxx::connection& connection) -> absl::Status {
          pqxx::work tx(connection);
          tx.exec_params(kMarkReportedSql, charge.charge_id, charge.token);
          tx.commit();
          return absl::OkStatus();
        });
    if (!marked.ok()) {
      // Reported again next round: the orchestrator refuses the spent
      // token, which then marks it.
      spdlog::warn("completion reporter: {}", marked.ToString());
    }
  }
}

grpc::Status CompletionReporter::Report(const Settled& charge) {
  grpc::Status status(grpc::StatusCode::UNAVAILABLE, "no orchestrator address");
  for (size_t tried = 0; tried < stubs_.size(); ++tried) {
    const size_t instance = (preferred_ + tried) % stubs_.size();
    status = ReportTo(*stubs_[instance], charge);
    // Unavailable: down, restarting, or another instance drives the saga.
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE &&
        status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      preferred_ = instance;
      break;
    }
  }
  return status;
}

grpc::Status CompletionReporter::ReportTo(v1::SagaOrchestrator::Stub& stub,
                                          const Settled& charge) {
  v1::CompleteStepRequest request;
  request.set_saga_id(charge.saga_id);
  request.set_step(charge.step);
  request.set_completion_token(charge.token);
  v1::StepResult* result = request.mutable_result();
  if (charge.status == "settled") {
    result->set_outcome(v1::STEP_OUTCOME_SUCCEEDED);
    result->set_output_json(nlohmann::json{
        {"charge_id", charge.charge_id},
        {"amount_cents", charge.amount_cents},
        {"status",
         charge.status}}.dump());
  } else {
    result->set_outcome(v1::STEP_OUTCOME_BUSINESS_FAILURE);
    result->set_error("charge " + charge.charge_id +
                      " declined: " + std::to_string(charge.amount_cents) +
                      " cents is above the limit");
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  if (!options_.bearer_token.empty()) {
    context.AddMetadata("authorization", "Bearer " + options_.bearer_token);
  }
  v1::CompleteStepResponse response;
  return stub.CompleteStep(&context, request, &response);
}

}  // namespace saga::participants
