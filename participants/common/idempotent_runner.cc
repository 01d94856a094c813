#include "participants/common/idempotent_runner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <pqxx/transaction>
#include <string>
#include <utility>

#include "orchestrator/core/strict_json.h"
#include "orchestrator/pg/await_standby.h"
#include "orchestrator/pg/errors.h"

namespace saga::participants {
namespace {

constexpr char kInjectedFailure[] = "injected failure";

// What a transaction body decided: the answer, and whether to commit.
struct TxResult {
  ActionResult result;
  bool commit = false;
};

constexpr char kInsertKeySql[] =
    "INSERT INTO idempotency_keys (key, saga_id, step, action, kind, outcome) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING "
    "RETURNING key";

bool InsertKey(pqxx::work& tx, const std::string& key, const StepCall& call,
               const char* kind, const char* outcome) {
  return !tx.exec_params(kInsertKeySql, key, call.saga_id, call.step,
                         call.action, std::string(kind), std::string(outcome))
              .empty();
}

struct KeyRow {
  std::string kind;
  std::string outcome;
  std::string output;
  std::string error;
};

std::optional<KeyRow> ReadKey(pqxx::work& tx, const std::string& key) {
  pqxx::result rows = tx.exec_params(
      "SELECT kind, outcome, COALESCE(output::text, ''), COALESCE(error, '') "
      "FROM idempotency_keys WHERE key = $1",
      key);
  if (rows.empty()) return std::nullopt;
  return KeyRow{rows[0][0].as<std::string>(), rows[0][1].as<std::string>(),
                rows[0][2].as<std::string>(), rows[0][3].as<std::string>()};
}

void RecordResult(pqxx::work& tx, const std::string& key,
                  const ActionResult& result) {
  std::string output =
      result.outcome == Outcome::kSucceeded ? result.output.dump() : "";
  tx.exec_params(
      "UPDATE idempotency_keys SET outcome = $2, "
      "output = NULLIF($3, '')::jsonb, error = NULLIF($4, '') WHERE key = $1",
      key, std::string(OutcomeName(result.outcome)), output, result.error);
}

// Parses a JSON object (strictly: a key given twice is refused, as
// everywhere JSON enters); an empty string is an empty object.
std::optional<nlohmann::json> ParseObject(const std::string& text,
                                          const std::string& what,
                                          std::string* error) {
  if (text.empty()) return nlohmann::json::object();
  absl::StatusOr<nlohmann::json> value = core::ParseStrictJson(text, what);
  if (!value.ok()) {
    *error = std::string(value.status().message());
    return std::nullopt;
  }
  if (!value->is_object()) {
    *error = what + " is not a JSON object";
    return std::nullopt;
  }
  return *std::move(value);
}

ActionCall MakeActionCall(const StepCall& call, nlohmann::json input) {
  ActionCall action_call;
  action_call.saga_id = call.saga_id;
  action_call.step = call.step;
  action_call.action = call.action;
  action_call.idempotency_key = call.idempotency_key;
  action_call.original_idempotency_key = call.original_idempotency_key;
  action_call.attempt = call.attempt;
  action_call.input = std::move(input);
  action_call.completion_token = call.completion_token;
  return action_call;
}

// Runs the handler behind a savepoint so a business failure can drop the
// handler's partial writes while the idempotency row (written before the
// savepoint) stays and records the failure.
ActionResult RunHandler(pqxx::work& tx, const ActionHandler& handler,
                        const ActionCall& call) {
  tx.exec("SAVEPOINT participant_action");
  ActionResult result;
  try {
    result = handler(tx, call);
  } catch (const InputError& e) {
    result = ActionResult::BusinessFailure(std::string("invalid input: ") +
                                           e.what());
  } catch (const nlohmann::json::exception& e) {
    result = ActionResult::BusinessFailure(std::string("invalid input: ") +
                                           e.what());
  }
  if (result.outcome == Outcome::kBusinessFailure) {
    tx.exec("ROLLBACK TO SAVEPOINT participant_action");
  }
  if (result.outcome == Outcome::kSucceeded && !result.output.is_object()) {
    result.output = nlohmann::json{{"result", result.output}};
  }
  return result;
}

// The answer recorded under a key that already exists.
ActionResult RecordedResult(const KeyRow& row, const std::string& key,
                            const char* expected_kind) {
  if (row.kind != expected_kind) {
    return ActionResult::BusinessFailure("idempotency key \"" + key +
                                         "\" was already used by a " +
                                         row.kind + " call");
  }
  if (row.outcome == "succeeded") {
    nlohmann::json output = nlohmann::json::parse(row.output, nullptr, false);
    if (output.is_discarded()) output = nlohmann::json::object();
    return ActionResult::Succeeded(std::move(output));
  }
  if (row.outcome == "business_failure") {
    return ActionResult::BusinessFailure(row.error);
  }
  return ActionResult::RetryableFailure("idempotency key \"" + key +
                                        "\" has unexpected outcome \"" +
                                        row.outcome + "\"");
}

ActionResult StoredResult(const KeyRow& row, const std::string& key,
                          const char* expected_kind) {
  ActionResult result = RecordedResult(row, key, expected_kind);
  result.replayed = true;
  return result;
}

using Clock = std::chrono::system_clock;

absl::Status DeadlinePassed(const std::string& when) {
  return absl::DeadlineExceededError("the caller's deadline passed " + when +
                                     "; rolled back, nothing was applied");
}

// Bounds every statement of the transaction by the time left before the
// caller's deadline, so a slow statement (a lock wait, a slow dependency)
// gives up when the caller does instead of holding the connection. Each
// statement's timer starts with the statement, so it never fires before
// the deadline.
void LimitStatementsTo(pqxx::work& tx, Clock::time_point deadline) {
  const auto left =
      std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  tx.exec_params("SELECT set_config('statement_timeout', $1, true)",
                 std::to_string(std::max<int64_t>(1, left.count())));
}

// What a call answers when its transaction failed (classified by
// orchestrator/pg/errors.h). Nothing at all for a lost session or a server
// that does not accept writes: nothing was written, so the caller runs the
// transaction again on a new session.
std::optional<absl::StatusOr<ActionResult>> AnswerTo(const pg::Failure& failure,
                                                     Clock::time_point deadline,
                                                     const std::string& key) {
  switch (failure.fault) {
    case pg::Fault::kSessionLost:  // the pool logged it
      return std::nullopt;
    case pg::Fault::kRolledBack:
      return ActionResult::RetryableFailure(
          std::string(failure.status.message()));
    case pg::Fault::kCanceled:
      if (Clock::now() >= deadline) {
        return DeadlinePassed("while the action ran");
      }
      [[fallthrough]];
    case pg::Fault::kDuplicate:
    case pg::Fault::kRefused:
      // Rolled back: a retryable failure promises that nothing was
      // recorded.
      spdlog::error("database error for key {}: {}", key,
                    std::string(failure.status.message()));
      return ActionResult::RetryableFailure(
          std::string(failure.status.message()));
    case pg::Fault::kOutcomeUnknown:
      // Never a definite answer: the effect and its record may have
      // committed. The orchestrator treats the call's outcome as unknown
      // and asks again with the same key, which reads the record.
    case pg::Fault::kUnreachable:
    case pg::Fault::kNotDatabase:
      spdlog::error("database failure for key {}: {}", key,
                    std::string(failure.status.message()));
      return failure.status;
  }
  return failure.status;
}

template <typename Body>
absl::StatusOr<ActionResult> RunTransaction(pg::ConnectionPool* pool,
                                            Clock::time_point deadline,
                                            const std::string& key, Body body) {
  // A lost session before COMMIT, or a session on a server that does not
  // accept writes, means nothing was written, so the whole transaction can
  // run again on a new session. Once: if that fails too, the orchestrator's
  // retry policy takes over.
  absl::Status last_error;
  for (int round = 0; round < 2; ++round) {
    absl::StatusOr<pg::ConnectionPool::Lease> lease = pool->Acquire(deadline);
    if (!lease.ok()) return lease.status();
    try {
      pqxx::work tx(**lease);
      LimitStatementsTo(tx, deadline);
      TxResult outcome = body(tx);
      // The last moment to give up: a caller that stopped waiting must not
      // find the effect applied and its key used when it tries again. (A
      // deadline passing during COMMIT itself still leaves the caller
      // unsure; it then retries with the same key and reads the result.)
      if (outcome.commit && Clock::now() >= deadline) {
        tx.abort();
        return DeadlinePassed("before the effect was committed");
      }
      if (outcome.commit) {
        tx.commit();
      } else if (outcome.result.replayed) {
        // Answered from the record: only once the record is durable
        // (orchestrator/pg/await_standby.h).
        tx.exec(pg::kAwaitStandbySql);
        tx.commit();
      } else {
        tx.abort();
      }
      return std::move(outcome.result);
    } catch (...) {
      // pqxx reports a COMMIT cut off as in_doubt_error: the transaction's
      // statements and its commit are classified alike.
      const pg::Failure failure = lease->Fail(
          std::current_exception(), pg::Phase::kStatement, "key " + key);
      std::optional<absl::StatusOr<ActionResult>> answer =
          AnswerTo(failure, deadline, key);
      if (answer.has_value()) return *std::move(answer);
      last_error = failure.status;
    }
  }
  return last_error;
}

}  // namespace

IdempotentRunner::IdempotentRunner(pg::ConnectionPool* pool,
                                   const ActionRegistry* registry,
                                   const FaultInjector* faults)
    : pool_(pool), registry_(registry), faults_(faults) {}

bool IdempotentRunner::InjectFailure(const std::string& action) const {
  return faults_ != nullptr && faults_->ShouldFail(action);
}

void IdempotentRunner::SlowDependency(pqxx::work& tx,
                                      const std::string& action) const {
  if (faults_ == nullptr) return;
  const std::chrono::milliseconds latency = faults_->LatencyFor(action);
  if (latency.count() <= 0) return;
  // In the database and in the transaction, where a slow query or a slow
  // dependency of the action would hold it: the statement timeout cuts it
  // at the caller's deadline.
  tx.exec_params("SELECT pg_sleep($1::float8 / 1000)", latency.count());
}

absl::StatusOr<ActionResult> IdempotentRunner::Execute(
    const StepCall& call, std::chrono::system_clock::time_point deadline) {
  if (call.idempotency_key.empty()) {
    return ActionResult::BusinessFailure("idempotency_key is required");
  }
  return RunTransaction(
      pool_, deadline, call.idempotency_key, [&](pqxx::work& tx) -> TxResult {
        if (!InsertKey(tx, call.idempotency_key, call, "execute", "pending")) {
          std::optional<KeyRow> row = ReadKey(tx, call.idempotency_key);
          if (!row) {
            return {ActionResult::RetryableFailure(
                        "idempotency key vanished while reading it"),
                    false};
          }
          if (row->kind == "tombstone") {
            ActionResult skipped = ActionResult::Succeeded(
                {{"skipped", "compensated before execute"}});
            skipped.replayed = true;
            return {std::move(skipped), false};
          }
          if (row->kind != "execute" || row->outcome != "accepted") {
            return {StoredResult(*row, call.idempotency_key, "execute"), false};
          }
          // Accepted, not final: the handler takes the call again below.
        }
        if (InjectFailure(call.action)) {
          return {ActionResult::RetryableFailure(kInjectedFailure), false};
        }
        SlowDependency(tx, call.action);
        ActionResult result;
        std::string error;
        std::optional<nlohmann::json> input =
            ParseObject(call.input_json, "input_json", &error);
        const ActionHandler* handler = registry_->FindExecute(call.action);
        if (!input) {
          result = ActionResult::BusinessFailure(error);
        } else if (handler == nullptr) {
          result = ActionResult::BusinessFailure("unknown action \"" +
                                                 call.action + "\"");
        } else {
          result =
              RunHandler(tx, *handler, MakeActionCall(call, std::move(*input)));
          if (result.outcome == Outcome::kRetryableFailure) {
            return {std::move(result), false};
          }
        }
        RecordResult(tx, call.idempotency_key, result);
        return {std::move(result), true};
      });
}

absl::StatusOr<ActionResult> IdempotentRunner::Compensate(
    const StepCall& call, std::chrono::system_clock::time_point deadline) {
  if (call.idempotency_key.empty()) {
    return ActionResult::BusinessFailure("idempotency_key is required");
  }
  if (call.original_idempotency_key.empty()) {
    return ActionResult::BusinessFailure(
        "original_idempotency_key is required for Compensate");
  }
  if (call.original_idempotency_key == call.idempotency_key) {
    return ActionResult::BusinessFailure(
        "original_idempotency_key must differ from idempotency_key");
  }
  return RunTransaction(
      pool_, deadline, call.idempotency_key, [&](pqxx::work& tx) -> TxResult {
        if (!InsertKey(tx, call.idempotency_key, call, "compensate",
                       "pending")) {
          std::optional<KeyRow> row = ReadKey(tx, call.idempotency_key);
          if (!row) {
            return {ActionResult::RetryableFailure(
                        "idempotency key vanished while reading it"),
                    false};
          }
          return {StoredResult(*row, call.idempotency_key, "compensate"),
                  false};
        }
        if (InjectFailure(call.action)) {
          return {ActionResult::RetryableFailure(kInjectedFailure), false};
        }
        SlowDependency(tx, call.action);
        ActionResult result;
        const ActionHandler* handler = registry_->FindCompensate(call.action);
        if (handler == nullptr) {
          result = ActionResult::BusinessFailure("unknown action \"" +
                                                 call.action + "\"");
        } else if (InsertKey(tx, call.original_idempotency_key, call,
                             "tombstone", "none")) {
          result = ActionResult::Succeeded(
              {{"compensated", false}, {"reason", "execute never applied"}});
        } else {
          std::optional<KeyRow> original =
              ReadKey(tx, call.original_idempotency_key);
          if (!original) {
            return {ActionResult::RetryableFailure(
                        "original idempotency key vanished while reading it"),
                    false};
          }
          if (original->kind == "tombstone") {
            result = ActionResult::Succeeded(
                {{"compensated", false}, {"reason", "execute never applied"}});
          } else if (original->kind != "execute") {
            result = ActionResult::BusinessFailure(
                "original_idempotency_key \"" + call.original_idempotency_key +
                "\" belongs to a " + original->kind + " call");
          } else if (original->outcome == "business_failure") {
            result = ActionResult::Succeeded(
                {{"compensated", false},
                 {"reason", "execute failed: " + original->error}});
          } else {
            std::string error;
            std::optional<nlohmann::json> input =
                ParseObject(call.input_json, "input_json", &error);
            if (!input) {
              result = ActionResult::BusinessFailure(error);
            } else {
              ActionCall action_call = MakeActionCall(call, std::move(*input));
              // The recorded output is authoritative; the request's copy is
              // only what the orchestrator happened to know.
              std::string ignored;
              std::optional<nlohmann::json> output =
                  ParseObject(original->output, "recorded output", &ignored);
              if (!output) {
                output = ParseObject(call.original_output_json,
                                     "original_output_json", &ignored);
              }
              if (output) action_call.original_output = std::move(*output);
              result = RunHandler(tx, *handler, action_call);
              if (result.outcome == Outcome::kRetryableFailure) {
                return {std::move(result), false};
              }
              if (result.outcome == Outcome::kSucceeded &&
                  !result.output.contains("compensated")) {
                result.output["compensated"] = true;
              }
            }
          }
        }
        RecordResult(tx, call.idempotency_key, result);
        return {std::move(result), true};
      });
}

}  // namespace saga::participants
