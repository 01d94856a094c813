// saga-email's actions.
//
// send_notification {reservation_id, date, patient_name, patient_email,
//                    doctor_name, doctor_email}
//   -> {message_ids: [patient message id, doctor message id]}
//   Writes two mail_log rows (one to the patient, one to the doctor) in the
//   transaction that records the idempotency key, so one key never yields
//   more than two mails. With SMTP configured the mails are delivered before
//   the commit and logged as 'sent'; an SMTP failure is a retryable failure
//   and logs nothing (a mail accepted just before a failure or a lost commit
//   may be delivered again on the retry: delivery is at-least-once, the log
//   exactly-once). Without SMTP the mails are only logged ('logged').
//   No compensation: notify is the booking saga's pivot.
#pragma once

#include <optional>

#include "participants/common/action.h"
#include "participants/email/smtp_client.h"

namespace saga::participants {

void RegisterEmailActions(ActionRegistry& registry,
                          std::optional<SmtpOptions> smtp);

}  // namespace saga::participants
