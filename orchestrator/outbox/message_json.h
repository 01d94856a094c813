// The JSON form in which sinks deliver an outbox entry, one object per
// message (README "Outbox dispatcher"):
//   {"position":12,"message_id":"<saga>:<seq>","saga_id":"...",
//    "type":"saga.completed","header":{...},"payload":{...},
//    "at_unix_ms":...,"recorded_unix_ms":...}
// header and payload are embedded as JSON values. Pure.
#pragma once

#include <string>
#include <vector>

#include "orchestrator/store/outbox_store.h"

namespace saga::outbox {

// One entry on one line (no newline).
std::string EntryJson(const store::OutboxEntry& entry);

// {"messages":[<EntryJson>...]}: a webhook's request body.
std::string BatchJson(const std::vector<store::OutboxEntry>& entries);

}  // namespace saga::outbox
