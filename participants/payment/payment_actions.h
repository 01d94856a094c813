// saga-payment's actions: a payment provider that completes asynchronously.
//
// charge {customer_id, amount_cents (integer > 0)} -> ACCEPTED
//   Records a pending charge under the Execute's key with the request's
//   completion token, and answers ACCEPTED; the completion reporter
//   (completion_reporter.h) settles it later and reports
//   {charge_id, amount_cents, status: "settled"} (or a business failure,
//   "declined") with CompleteStep. A repeated charge with the key takes
//   the new token and has the result reported again with it. A request
//   without a completion token (a step not declared `completion: async`)
//   is a business failure.
// refund_charge (compensation of charge)
//   -> {compensated: true, charge_id, status: "refunded" | "voided" | ...}
//   A settled charge is refunded, a pending one voided (it never settles).
// get_charge {charge_id} -> {charge_id, status, amount_cents}
//   Read-only: a business failure unless the charge is settled.
#pragma once

#include "participants/common/action.h"

namespace saga::participants {

void RegisterPaymentActions(ActionRegistry& registry);

}  // namespace saga::participants
