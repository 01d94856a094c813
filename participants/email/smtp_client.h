// A minimal plain-SMTP client (RFC 5321 without extensions, TLS or auth):
// HELO, then MAIL FROM / RCPT TO / DATA per message, then QUIT, on one
// connection. Meant for a local relay or a test sink such as MailHog.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace saga::participants {

struct SmtpOptions {
  std::string host;
  int port = 25;
  std::string from = "saga-email@example.com";
  std::string helo_name = "saga-email";
  // Bounds connecting and each read or write.
  std::chrono::milliseconds timeout{5000};
};

struct SmtpMessage {
  std::string to;
  std::string subject;
  std::string body;
  // Goes into the Message-ID header, e.g. "<42@saga-email>".
  std::string message_id;
};

// Parses "HOST:PORT" into options.host and options.port.
absl::Status ParseSmtpAddress(const std::string& address, SmtpOptions* options);

// Delivers every message in one session. Unavailable: the server could not
// be reached, timed out or refused a command (the reply is in the message).
// Some messages may have been accepted before a failure.
absl::Status SendMail(const SmtpOptions& options,
                      const std::vector<SmtpMessage>& messages);

}  // namespace saga::participants
