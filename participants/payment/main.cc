// saga-payment: a payment provider that completes asynchronously (charge
// answers ACCEPTED; the result follows through the orchestrator's
// CompleteStep).
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "participants/common/participant_main.h"
#include "participants/payment/completion_reporter.h"
#include "participants/payment/payment_actions.h"

int main(int argc, char** argv) {
  saga::participants::CompletionReporterOptions options;
  int64_t settle_after_ms = 1000;
  int64_t settle_jitter_ms = 0;
  saga::participants::ParticipantSpec spec;
  spec.name = "saga-payment";
  spec.description =
      "Payment provider participant (charge, asynchronous; refund_charge; "
      "get_charge)";
  spec.add_flags = [&](CLI::App& app) {
    app.add_option("--orchestrator", options.orchestrator,
                   "HOST:PORT of the orchestrator, to report completed "
                   "charges to (CompleteStep); with several instances, "
                   "each one's, comma-separated")
        ->required();
    app.add_option("--orchestrator-token", options.bearer_token,
                   "Bearer token for the orchestrator (a submitter's); "
                   "prefer the environment variable")
        ->envname("SAGA_ORCHESTRATOR_TOKEN");
    app.add_option("--settle-after-ms", settle_after_ms,
                   "How long a charge takes to settle after it was accepted")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--settle-jitter-ms", settle_jitter_ms,
                   "Each charge settles up to this much later than "
                   "--settle-after-ms (a delay of its own)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--decline-above-cents", options.decline_above_cents,
                   "Charges above this amount are declined when they settle");
  };
  spec.register_actions =
      [](saga::participants::ActionRegistry& registry) -> absl::Status {
    saga::participants::RegisterPaymentActions(registry);
    return absl::OkStatus();
  };
  spec.start_worker = [&](saga::pg::ConnectionPool& pool) {
    options.settle_after = std::chrono::milliseconds(settle_after_ms);
    options.settle_jitter = std::chrono::milliseconds(settle_jitter_ms);
    auto reporter = std::make_shared<saga::participants::CompletionReporter>(
        &pool, options);
    return [reporter] { reporter->Stop(); };
  };
  return saga::participants::RunParticipant(argc, argv, spec);
}
