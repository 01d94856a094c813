// saga-email: the notification participant. Extra flags: --smtp HOST:PORT
// (deliver through that SMTP server; without it mails are only logged),
// --smtp-from ADDR, --smtp-timeout-ms MS.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "participants/common/participant_main.h"
#include "participants/email/email_actions.h"
#include "participants/email/smtp_client.h"

int main(int argc, char** argv) {
  std::string smtp_address;
  saga::participants::SmtpOptions smtp;
  int timeout_ms = static_cast<int>(smtp.timeout.count());

  saga::participants::ParticipantSpec spec;
  spec.name = "saga-email";
  spec.description = "Notification participant (send_notification)";
  spec.add_flags = [&](CLI::App& app) {
    app.add_option("--smtp", smtp_address,
                   "HOST:PORT of an SMTP server to deliver through (default: "
                   "only log the mails)");
    app.add_option("--smtp-from", smtp.from, "Envelope and header sender")
        ->capture_default_str();
    app.add_option("--smtp-timeout-ms", timeout_ms,
                   "Bound on connecting and on each SMTP exchange")
        ->check(CLI::Range(1, 600000))
        ->capture_default_str();
  };
  spec.register_actions = [&](saga::participants::ActionRegistry& registry) {
    std::optional<saga::participants::SmtpOptions> delivery;
    if (!smtp_address.empty()) {
      absl::Status status =
          saga::participants::ParseSmtpAddress(smtp_address, &smtp);
      if (!status.ok()) return status;
      smtp.timeout = std::chrono::milliseconds(timeout_ms);
      delivery = smtp;
      spdlog::info("delivering mail through SMTP at {}:{} as {}", smtp.host,
                   smtp.port, smtp.from);
    } else {
      spdlog::info("no --smtp given: mails are only logged");
    }
    saga::participants::RegisterEmailActions(registry, std::move(delivery));
    return absl::OkStatus();
  };
  return saga::participants::RunParticipant(argc, argv, spec);
}
