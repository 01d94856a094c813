// The payment provider's back office: settles the charges that have waited
// `settle_after` (declining those above `decline_above_cents`), then
// reports each result to the orchestrator with CompleteStep and the
// charge's latest completion token, until the orchestrator has answered:
//   OK                  -> reported;
//   FAILED_PRECONDITION -> reported too: the token's attempt has ended (the
//                          wait timed out, the saga was cancelled); a retry
//                          of the step brings a new token and the result is
//                          reported again with it;
//   UNAVAILABLE, DEADLINE_EXCEEDED
//                       -> sent at once to the next orchestrator instance of
//                          the list (only the instance that drives a saga
//                          takes its completion), then, if none took it,
//                          tried again on the next round;
//   anything else       -> tried again on the next round.
// The token is never logged.
//
// Thread-safe; one background thread, a round every `interval`.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "orchestrator/pg/connection_pool.h"
#include "saga/v1/orchestrator.grpc.pb.h"

namespace saga::participants {

struct CompletionReporterOptions {
  // The orchestrator instances' HOST:PORT, comma-separated (plaintext gRPC).
  std::string orchestrator;
  // Bearer token for the orchestrator (a submitter's); empty: none.
  std::string bearer_token;
  std::chrono::milliseconds settle_after{1000};
  // Each charge settles at a moment of its own, up to this much later than
  // settle_after (drawn from its charge id, so the same on every round).
  std::chrono::milliseconds settle_jitter{0};
  int64_t decline_above_cents = 100000;
  std::chrono::milliseconds interval{100};
};

class CompletionReporter {
 public:
  // Starts the thread. `pool` must outlive the reporter.
  CompletionReporter(pg::ConnectionPool* pool,
                     CompletionReporterOptions options);
  ~CompletionReporter();  // Stop()
  void Stop();

 private:
  struct Settled;
  void Run();
  // One round: settles what is due, reports what is unreported.
  void Round();
  // OK, FAILED_PRECONDITION (both settle the report) or another error.
  grpc::Status Report(const Settled& charge);
  grpc::Status ReportTo(v1::SagaOrchestrator::Stub& stub,
                        const Settled& charge);

  pg::ConnectionPool* pool_;
  CompletionReporterOptions options_;
  // One per instance of options_.orchestrator; a report starts with the one
  // that last took a report (only Run's thread uses these).
  std::vector<std::unique_ptr<v1::SagaOrchestrator::Stub>> stubs_;
  size_t preferred_ = 0;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace saga::participants
