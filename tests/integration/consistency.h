// The end-of-run check of the crash and chaos tests (README, "Guarantees",
// 1-3): waits for every acknowledged saga to end, then compares the
// orchestrator's view with the participants' databases.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "saga/v1/orchestrator.pb.h"
#include "tests/integration/cluster.h"

namespace saga::testing {

struct ConsistencyReport {
  // Acknowledged sagas checked.
  int sagas = 0;
  // Acknowledged sagas the orchestrator does not know (invariant 1).
  int lost = 0;
  // Effects applied more than once or without a saga (invariant 2): a saga
  // with two reservations, more than two mails or two charges, a charge of
  // a saga without a `charge` step, a reservation, mail or charge of an
  // unknown saga, a saga recorded without being acknowledged, or
  // participant totals that disagree with the sagas.
  int duplicate_effects = 0;
  // Sagas not terminal, FAILED (an operator must look), or whose terminal
  // state the participants disagree with (invariant 3): COMPLETED needs
  // exactly one active reservation and two mails, and a settled charge if
  // it has a `charge` step; COMPENSATED none of these and no pending charge.
  // Charges are checked when the cluster runs saga-payment.
  int inconsistent = 0;
  // Every saga as last seen, by id, and the count per status.
  std::map<std::string, saga::v1::Saga> final;
  std::map<saga::v1::SagaStatus, int> by_status;
  // One line per problem found, naming the saga.
  std::vector<std::string> problems;

  // "sagas=N lost=L duplicate_effects=D inconsistent=I".
  std::string Line() const;
  // "C COMPLETED, P COMPENSATED, F FAILED, R not ended".
  std::string StatusCounts() const;
  bool Clean() const {
    return lost == 0 && duplicate_effects == 0 && inconsistent == 0;
  }
};

// Waits (AwaitSaga, riding out restarts) until each saga of `acknowledged`
// ends or `timeout` passes for all of them together, then checks the
// invariants above. A child saga (a step of kind saga) must end as its
// parent did, and its effects count as its parent's. Reports findings instead
// of failing the test; the caller asserts on them.
ConsistencyReport CheckConsistency(TestCluster& cluster,
                                   const std::vector<std::string>& acknowledged,
                                   std::chrono::milliseconds timeout);

}  // namespace saga::testing
