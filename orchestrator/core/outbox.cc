#include "orchestrator/core/outbox.h"

#include <cstdio>
#include <cstdlib>

#include "nlohmann/json.hpp"

namespace saga::core {
namespace {

using Json = nlohmann::json;

// The outbox message type of an event, or nullptr for events that are only
// of interest to the orchestrator itself.
const char* MessageType(const Event& event) {
  switch (event.type) {
    case EventType::kSagaStarted:
      return "saga.started";
    case EventType::kStepSucceeded:
      return "saga.step.succeeded";
    case EventType::kStepFailed:
      // A retryable failure is not final: the step may still succeed.
      return event.retryable ? nullptr : "saga.step.failed";
    case EventType::kCompensationStarted:
      return "saga.compensation.started";
    case EventType::kCompensationStepSucceeded:
      return "saga.step.compensated";
    case EventType::kSagaCompleted:
      return "saga.completed";
    case EventType::kSagaCompensated:
      return "saga.compensated";
    case EventType::kSagaFailed:
      return "saga.failed";
    case EventType::kOperatorAction:
      // Repairs by hand are worth an audit trail outside the orchestrator.
      return "saga.operator_action";
    case EventType::kSignalReceived:
      return "saga.signal.received";
    case EventType::kDeadlinePassed:
      // After the pivot nothing is undone: someone outside must know.
      return "saga.deadline_passed";
    default:
      return nullptr;
  }
}

[[noreturn]] void BrokenInvariant(const std::string& saga_id,
                                  const Event& event, const char* what) {
  std::fprintf(stderr, "saga %s: outbox for %s (seq %lld, step %d): %s\n",
               saga_id.c_str(), EventTypeName(event.type),
               static_cast<long long>(event.seq), event.step, what);
  std::fflush(stderr);
  std::abort();
}

}  // namespace

std::vector<OutboxMessage> OutboxMessagesFor(const SagaDefinition& definition,
                                             const std::string& saga_id,
                                             const std::vector<Event>& events) {
  std::vector<OutboxMessage> messages;
  for (const Event& event : events) {
    const char* type = MessageType(event);
    if (type == nullptr) continue;
    // The id must be stable across retries of the same append, so it can
    // only be built from a seq the store will keep.
    if (event.seq <= 0) BrokenInvariant(saga_id, event, "seq is not set");
    Json header = {
        {"saga_id", saga_id},
        {"saga_type", definition.name},
        {"seq", event.seq},
    };
    if (event.step >= 0) {
      if (static_cast<size_t>(event.step) >= definition.steps.size()) {
        BrokenInvariant(saga_id, event, "no such step in the definition");
      }
      header["step"] = definition.steps[event.step].name;
    }
    OutboxMessage message;
    message.message_id = saga_id + ":" + std::to_string(event.seq);
    message.saga_id = saga_id;
    message.type = type;
    message.header_json =
        header.dump(-1, ' ', false, Json::error_handler_t::replace);
    message.payload_json = EncodeEventData(event);
    message.at_ms = event.at_ms;
    message.seq = event.seq;
    messages.push_back(std::move(message));
  }
  return messages;
}

}  // namespace saga::core
