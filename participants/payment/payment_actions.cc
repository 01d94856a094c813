#include "participants/payment/payment_actions.h"

#include <cstdint>
#include <string>

namespace saga::participants {
namespace {

int64_t RequirePositiveInteger(const nlohmann::json& input,
                               const std::string& field) {
  auto it = input.find(field);
  if (it == input.end()) throw InputError("missing field \"" + field + "\"");
  if (!it->is_number_integer() || it->get<int64_t>() <= 0) {
    throw InputError("field \"" + field + "\" must be an integer > 0");
  }
  return it->get<int64_t>();
}

ActionResult Charge(pqxx::work& tx, const ActionCall& call) {
  const std::string customer_id = RequireString(call.input, "customer_id");
  const int64_t amount_cents =
      RequirePositiveInteger(call.input, "amount_cents");
  if (call.completion_token.empty()) {
    return ActionResult::BusinessFailure(
        "charge completes asynchronously: its step must say "
        "'completion: async'");
  }
  // A repeated Execute of an accepted charge (the orchestrator's next
  // attempt) brings a new token: the result is reported again with it.
  tx.exec_params(
      "INSERT INTO charges (charge_id, idempotency_key, saga_id, step, "
      "  customer_id, amount_cents, status, completion_token) "
      "VALUES ('ch-' || nextval('charge_numbers'), $1, $2, $3, $4, $5, "
      "  'pending', $6) "
      "ON CONFLICT (idempotency_key) DO UPDATE "
      "  SET completion_token = EXCLUDED.completion_token, reported = false",
      call.idempotency_key, call.saga_id, call.step, customer_id, amount_cents,
      call.completion_token);
  return ActionResult::Accepted();
}

ActionResult RefundCharge(pqxx::work& tx, const ActionCall& call) {
  pqxx::result rows = tx.exec_params(
      "UPDATE charges SET status = CASE status "
      "  WHEN 'settled' THEN 'refunded' WHEN 'pending' THEN 'voided' "
      "  ELSE status END "
      "WHERE idempotency_key = $1 RETURNING charge_id, status",
      call.original_idempotency_key);
  if (rows.empty()) {
    return ActionResult::Succeeded(
        {{"compensated", false},
         {"reason", "no charge under the original key"}});
  }
  return ActionResult::Succeeded({{"compensated", true},
                                  {"charge_id", rows[0][0].as<std::string>()},
                                  {"status", rows[0][1].as<std::string>()}});
}

ActionResult GetCharge(pqxx::work& tx, const ActionCall& call) {
  const std::string charge_id = RequireString(call.input, "charge_id");
  pqxx::result rows = tx.exec_params(
      "SELECT status, amount_cents FROM charges WHERE charge_id = $1",
      charge_id);
  if (rows.empty()) {
    return ActionResult::BusinessFailure("no charge " + charge_id);
  }
  const std::string status = rows[0][0].as<std::string>();
  if (status != "settled") {
    return ActionResult::BusinessFailure("charge " + charge_id + " is " +
                                         status);
  }
  return ActionResult::Succeeded({{"charge_id", charge_id},
                                  {"status", status},
                                  {"amount_cents", rows[0][1].as<int64_t>()}});
}

}  // namespace

void RegisterPaymentActions(ActionRegistry& registry) {
  registry.AddExecute("charge", Charge);
  registry.AddCompensate("refund_charge", RefundCharge);
  registry.AddExecute("get_charge", GetCharge);
}

}  // namespace saga::participants
