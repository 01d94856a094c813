// A webhook sink: POSTs each batch as {"messages":[...]} (message_json.h)
// with Content-Type application/json over plain HTTP/1.1, one connection
// per batch. Any 2xx answer accepts the whole batch; anything else (another
// status, a refused connection, no answer within the timeout) is a failure
// and the dispatcher sends the batch again later, so the receiver must
// dedupe on message_id.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "orchestrator/outbox/sink.h"

namespace saga::outbox {

class HttpSink final : public Sink {
 public:
  // `spec.kind` must be kHttp. `timeout` bounds each whole exchange
  // (resolve, connect, send, answer).
  HttpSink(SinkSpec spec, std::chrono::milliseconds timeout);

  absl::Status Deliver(const std::vector<store::OutboxEntry>& entries) override;
  std::string Describe() const override;

 private:
  const SinkSpec spec_;
  const std::chrono::milliseconds timeout_;
};

}  // namespace saga::outbox
