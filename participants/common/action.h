// The vocabulary between the shared participant server and the services'
// business handlers: what a call carries (ActionCall), what a handler
// answers (ActionResult) and the table of handlers (ActionRegistry).
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <pqxx/transaction>
#include <stdexcept>
#include <string>

namespace saga::participants {

enum class Outcome {
  kSucceeded,
  kBusinessFailure,
  kRetryableFailure,
  // Execute of an asynchronous step: taken on, the result follows through
  // the orchestrator's CompleteStep (see participant.proto). Not final: a
  // repeated call with the key runs the handler again (with the new
  // completion token) and records its answer.
  kAccepted,
};

// Lower-case name for logs and the idempotency_keys.outcome column.
const char* OutcomeName(Outcome outcome);

struct ActionCall {
  std::string saga_id;
  std::string step;
  std::string action;
  std::string idempotency_key;
  // Compensate only: the key of the Execute being undone.
  std::string original_idempotency_key;
  int attempt = 0;
  // Always a JSON object (an empty one when the request had no input).
  nlohmann::json input = nlohmann::json::object();
  // Compensate only: the output the undone Execute recorded.
  nlohmann::json original_output = nlohmann::json::object();
  // Execute of an asynchronous step: the token its CompleteStep must carry
  // (a secret: never log it).
  std::string completion_token;
};

struct ActionResult {
  Outcome outcome = Outcome::kSucceeded;
  // A JSON object; set on success.
  nlohmann::json output = nlohmann::json::object();
  // Set on failure.
  std::string error;
  // Set by the server (not handlers) when the answer was read back from an
  // earlier call's record instead of being computed now.
  bool replayed = false;

  static ActionResult Succeeded(nlohmann::json output);
  static ActionResult BusinessFailure(std::string error);
  static ActionResult RetryableFailure(std::string error);
  static ActionResult Accepted();
};

// A handler runs inside the transaction that also records the idempotency
// key, so its writes commit exactly when the key does. It must not commit or
// abort `tx` itself. Returning a business failure rolls back the handler's
// own writes but records the failure under the key; returning a retryable
// failure rolls back everything. Handlers may throw InputError for a bad
// request (recorded as a business failure) and let database exceptions
// propagate (the server maps them to retryable failures or UNAVAILABLE).
using ActionHandler =
    std::function<ActionResult(pqxx::work& tx, const ActionCall& call)>;

// A request the handler cannot act on (missing field, wrong type, bad
// value). Never retried.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// input[field] as a non-empty string; throws InputError otherwise.
std::string RequireString(const nlohmann::json& input,
                          const std::string& field);

// Maps action names to handlers. Filled once at start-up, then read-only
// (safe to share between threads).
class ActionRegistry {
 public:
  void AddExecute(const std::string& action, ActionHandler handler);
  // `action` is the compensation's own name (e.g. "release_reservation"),
  // the one the orchestrator sends in Compensate.
  void AddCompensate(const std::string& action, ActionHandler handler);

  // nullptr when no handler is registered under that name.
  const ActionHandler* FindExecute(const std::string& action) const;
  const ActionHandler* FindCompensate(const std::string& action) const;

 private:
  std::map<std::string, ActionHandler> execute_;
  std::map<std::string, ActionHandler> compensate_;
};

}  // namespace saga::participants
