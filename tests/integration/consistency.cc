#include "tests/integration/consistency.h"

#include <algorithm>
#include <pqxx/pqxx>
#include <set>

namespace saga::testing {
namespace {

using saga::v1::Saga;

// Runs a query returning one integer on a fresh connection: the cluster's
// cached ones may have been cut by a PostgreSQL restart.
int64_t QueryInt(const TestCluster& cluster, const std::string& database,
                 const std::string& sql) {
  pqxx::connection connection(cluster.database(database).dsn());
  pqxx::nontransaction tx(connection);
  return tx.exec1(sql)[0].as<int64_t>();
}

struct Effects {
  int reservations = 0;
  int active_reservations = 0;
  int mails = 0;
  // The payment provider's charges (clusters with saga-payment): all, and
  // those that stand (settled) or may still settle (pending).
  int charges = 0;
  int settled_charges = 0;
  int pending_charges = 0;

  // A parent saga answers for the effects of its children.
  Effects& operator+=(const Effects& other) {
    reservations += other.reservations;
    active_reservations += other.active_reservations;
    mails += other.mails;
    charges += other.charges;
    settled_charges += other.settled_charges;
    pending_charges += other.pending_charges;
    return *this;
  }
};

// Every saga's effects in the participants' databases, in two queries
// (thousands of sagas make per-saga probes slow).
std::map<std::string, Effects> EffectsBySaga(const TestCluster& cluster) {
  std::map<std::string, Effects> effects;
  {
    pqxx::connection doctor(cluster.database("doctor").dsn());
    pqxx::nontransaction tx(doctor);
    for (const auto& row : tx.exec("SELECT saga_id, count(*), "
                                   "count(*) FILTER (WHERE status = 'active') "
                                   "FROM reservations GROUP BY saga_id")) {
      Effects& e = effects[row[0].as<std::string>()];
      e.reservations = row[1].as<int>();
      e.active_reservations = row[2].as<int>();
    }
  }
  {
    pqxx::connection email(cluster.database("email").dsn());
    pqxx::nontransaction tx(email);
    for (const auto& row :
         tx.exec("SELECT saga_id, count(*) FROM mail_log GROUP BY saga_id")) {
      effects[row[0].as<std::string>()].mails = row[1].as<int>();
    }
  }
  const auto& names = cluster.ParticipantNames();
  if (std::find(names.begin(), names.end(), "payment") == names.end()) {
    return effects;
  }
  pqxx::connection payment(cluster.database("payment").dsn());
  pqxx::nontransaction tx(payment);
  for (const auto& row : tx.exec("SELECT saga_id, count(*), "
                                 "count(*) FILTER (WHERE status = 'settled'), "
                                 "count(*) FILTER (WHERE status = 'pending') "
                                 "FROM charges GROUP BY saga_id")) {
    Effects& e = effects[row[0].as<std::string>()];
    e.charges = row[1].as<int>();
    e.settled_charges = row[2].as<int>();
    e.pending_charges = row[3].as<int>();
  }
  return effects;
}

}  // namespace

std::string ConsistencyReport::Line() const {
  return "sagas=" + std::to_string(sagas) + " lost=" + std::to_string(lost) +
         " duplicate_effects=" + std::to_string(duplicate_effects) +
         " inconsistent=" + std::to_string(inconsistent);
}

std::string ConsistencyReport::StatusCounts() const {
  auto count = [&](saga::v1::SagaStatus status) {
    auto it = by_status.find(status);
    return it == by_status.end() ? 0 : it->second;
  };
  const int completed = count(saga::v1::SAGA_STATUS_COMPLETED);
  const int compensated = count(saga::v1::SAGA_STATUS_COMPENSATED);
  const int failed = count(saga::v1::SAGA_STATUS_FAILED);
  return std::to_string(completed) + " COMPLETED, " +
         std::to_string(compensated) + " COMPENSATED, " +
         std::to_string(failed) + " FAILED, " +
         std::to_string(sagas - lost - completed - compensated - failed) +
         " not ended";
}

ConsistencyReport CheckConsistency(TestCluster& cluster,
                                   const std::vector<std::string>& acknowledged,
                                   std::chrono::milliseconds timeout) {
  using std::chrono::milliseconds;
  ConsistencyReport report;
  const std::set<std::string> known(acknowledged.begin(), acknowledged.end());
  report.sagas = static_cast<int>(known.size());
  if (known.size() != acknowledged.size()) {
    report.duplicate_effects +=
        static_cast<int>(acknowledged.size() - known.size());
    report.problems.push_back("two StartSaga calls returned the same saga id");
  }

  // Invariant 1: every acknowledged saga is known and ends.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (const std::string& id : known) {
    const auto remaining = std::chrono::duration_cast<milliseconds>(
        deadline - std::chrono::steady_clock::now());
    Saga saga = cluster.AwaitTerminal(id, std::max(remaining, milliseconds(1)));
    if (saga.saga_type().empty()) {
      ++report.lost;
      report.problems.push_back("lost: acknowledged saga " + id +
                                " is unknown to (or unreachable through) "
                                "the orchestrator");
      continue;
    }
    ++report.by_status[saga.status()];
    report.final[id] = std::move(saga);
  }

  // Child sagas (steps of kind saga): each ends, as its parent did, and
  // its effects count as its parent's.
  std::map<std::string, std::vector<std::string>> children;
  std::set<std::string> known_children;
  for (const auto& [id, saga] : report.final) {
    for (const auto& step : saga.steps()) {
      if (step.child_saga_id().empty()) continue;
      const auto remaining = std::chrono::duration_cast<milliseconds>(
          deadline - std::chrono::steady_clock::now());
      const Saga child = cluster.AwaitTerminal(
          step.child_saga_id(), std::max(remaining, milliseconds(1)));
      children[id].push_back(step.child_saga_id());
      known_children.insert(step.child_saga_id());
      if (child.status() != saga.status()) {
        ++report.inconsistent;
        report.problems.push_back("inconsistent: child " + DescribeSaga(child) +
                                  " of " + DescribeSaga(saga));
      }
    }
  }

  // Invariants 2 and 3, saga by saga.
  std::map<std::string, Effects> effects = EffectsBySaga(cluster);
  int completed = 0;
  for (const auto& [id, saga] : report.final) {
    Effects e = effects.count(id) ? effects[id] : Effects{};
    for (const std::string& child : children[id]) {
      if (effects.count(child)) e += effects[child];
    }
    const std::string counts =
        "; reservations " + std::to_string(e.reservations) + " (active " +
        std::to_string(e.active_reservations) + "), mails " +
        std::to_string(e.mails) + ", charges " + std::to_string(e.charges) +
        " (settled " + std::to_string(e.settled_charges) + ", pending " +
        std::to_string(e.pending_charges) + ")";
    // A saga with a charge step charges once (one idempotency key).
    const bool charges = FindStep(saga, "charge") != nullptr;
    if (e.reservations > 1 || e.mails > 2 || e.charges > 1 ||
        (!charges && e.charges > 0)) {
      ++report.duplicate_effects;
      report.problems.push_back("duplicate effect: " + DescribeSaga(saga) +
                                counts);
    }
    bool agrees = false;
    switch (saga.status()) {
      case saga::v1::SAGA_STATUS_COMPLETED:
        ++completed;
        agrees = e.active_reservations == 1 && e.mails == 2 &&
                 e.settled_charges == (charges ? 1 : 0);
        break;
      case saga::v1::SAGA_STATUS_COMPENSATED:
        // The pivot (notify) never succeeded, so no mail may exist; a
        // charge was refunded, voided, declined or never made.
        agrees = e.active_reservations == 0 && e.mails == 0 &&
                 e.settled_charges == 0 && e.pending_charges == 0;
        break;
      default:  // FAILED needs an operator; anything else did not end.
        break;
    }
    if (!agrees) {
      ++report.inconsistent;
      report.problems.push_back("inconsistent: " + DescribeSaga(saga) + counts);
    }
  }

  // Effects nobody asked for, and totals that must match the sagas.
  for (const auto& [id, e] : effects) {
    if (!known.count(id) && !known_children.count(id)) {
      ++report.duplicate_effects;
      report.problems.push_back("effect of an unknown saga " + id);
    }
  }
  const int64_t recorded =
      QueryInt(cluster, "orchestrator", "SELECT count(*) FROM sagas");
  const int64_t expected =
      report.sagas - report.lost + static_cast<int64_t>(known_children.size());
  if (recorded != expected) {
    ++report.duplicate_effects;
    report.problems.push_back(
        "the orchestrator recorded " + std::to_string(recorded) +
        " sagas for " + std::to_string(report.sagas) + " acknowledged and " +
        std::to_string(known_children.size()) + " of their children");
  }
  const int64_t booked = QueryInt(
      cluster, "doctor", "SELECT coalesce(sum(booked), 0) FROM doctor_days");
  if (booked != completed) {
    ++report.duplicate_effects;
    report.problems.push_back("doctor_days count " + std::to_string(booked) +
                              " booked slots for " + std::to_string(completed) +
                              " COMPLETED sagas");
  }
  return report;
}

}  // namespace saga::testing
