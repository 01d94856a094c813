// Outbox messages: what the rest of the system learns of a saga, written in
// the same transaction as the events that cause them. Pure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "orchestrator/core/definition.h"
#include "orchestrator/core/events.h"

namespace saga::core {

struct OutboxMessage {
  // "<saga_id>:<seq>" of the causing event: stable, so consumers dedupe.
  std::string message_id;
  std::string saga_id;
  std::string type;          // e.g. "saga.started", "saga.step.succeeded"
  std::string header_json;   // {"saga_id","saga_type","seq","step"}
  std::string payload_json;  // the event's data
  int64_t at_ms = 0;
  // The seq of the event the message is about (0: none). A store may take
  // the payload from that event's row instead of storing the text twice.
  int64_t seq = 0;
};

// Messages for the events worth telling other services about: saga started
// and ended, a step succeeded or failed for good, a step compensated.
std::vector<OutboxMessage> OutboxMessagesFor(const SagaDefinition& definition,
                                             const std::string& saga_id,
                                             const std::vector<Event>& events);

}  // namespace saga::core
