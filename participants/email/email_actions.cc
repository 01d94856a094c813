#include "participants/email/email_actions.h"

#include <string>
#include <utility>
#include <vector>

namespace saga::participants {
namespace {

struct Mail {
  std::string recipient;
  std::string subject;
  std::string body;
};

ActionResult SendNotification(const std::optional<SmtpOptions>& smtp,
                              pqxx::work& tx, const ActionCall& call) {
  std::string reservation_id = RequireString(call.input, "reservation_id");
  std::string date = RequireString(call.input, "date");
  std::string patient_name = RequireString(call.input, "patient_name");
  std::string patient_email = RequireString(call.input, "patient_email");
  std::string doctor_name = RequireString(call.input, "doctor_name");
  std::string doctor_email = RequireString(call.input, "doctor_email");

  std::vector<Mail> mails = {
      {patient_email, "Your appointment on " + date + " is confirmed",
       "Dear " + patient_name + ",\n\nyour appointment with " + doctor_name +
           " on " + date + " is confirmed (reservation " + reservation_id +
           ").\n"},
      {doctor_email, "New appointment on " + date,
       "Dear " + doctor_name + ",\n\n" + patient_name + " (" + patient_email +
           ") booked an appointment with you on " + date + " (reservation " +
           reservation_id + ").\n"},
  };
  std::string status = smtp ? "sent" : "logged";
  nlohmann::json message_ids = nlohmann::json::array();
  std::vector<SmtpMessage> outgoing;
  for (const Mail& mail : mails) {
    pqxx::result row = tx.exec_params(
        "INSERT INTO mail_log (idempotency_key, saga_id, recipient, subject, "
        "body, status) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        call.idempotency_key, call.saga_id, mail.recipient, mail.subject,
        mail.body, status);
    int64_t id = row[0][0].as<int64_t>();
    message_ids.push_back(id);
    outgoing.push_back(SmtpMessage{mail.recipient, mail.subject, mail.body,
                                   "<" + std::to_string(id) + "@saga-email>"});
  }
  if (smtp) {
    if (absl::Status status = SendMail(*smtp, outgoing); !status.ok()) {
      return ActionResult::RetryableFailure(std::string(status.message()));
    }
  }
  return ActionResult::Succeeded({{"message_ids", std::move(message_ids)}});
}

}  // namespace

void RegisterEmailActions(ActionRegistry& registry,
                          std::optional<SmtpOptions> smtp) {
  registry.AddExecute(
      "send_notification",
      [smtp = std::move(smtp)](pqxx::work& tx, const ActionCall& call) {
        return SendNotification(smtp, tx, call);
      });
}

}  // namespace saga::participants
