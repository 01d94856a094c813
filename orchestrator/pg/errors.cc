#include "orchestrator/pg/errors.h"

#include <pqxx/except>

namespace saga::pg {
namespace {

// The session is gone: connection exceptions (08) and the server shutting
// down or terminating the backend (57P0x).
bool EndedSession(const std::string& sqlstate) {
  return sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57P0", 0) == 0;
}

constexpr char kReadOnlyTransaction[] = "25006";
constexpr char kQueryCanceled[] = "57014";

Failure Make(Fault fault, absl::StatusCode code, const std::string& what,
             const std::string& reason, const std::exception& error,
             std::string sqlstate = "") {
  return {
      fault,
      absl::Status(code, what + ": " + reason + ": " + OneLine(error.what())),
      std::move(sqlstate)};
}

// The session ended under the work: nothing landed before COMMIT; during
// it, nobody can tell.
Failure Lost(Phase phase, const std::string& what, const std::exception& error,
             std::string sqlstate = "") {
  if (phase == Phase::kCommit) {
    return Make(Fault::kOutcomeUnknown, absl::StatusCode::kUnknown, what,
                "connection lost while committing, outcome unknown", error,
                std::move(sqlstate));
  }
  return Make(Fault::kSessionLost, absl::StatusCode::kUnavailable, what,
              "database connection lost", error, std::move(sqlstate));
}

}  // namespace

Failure Classify(std::exception_ptr error, Phase phase, const std::string& what,
                 bool session_open) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    if (phase == Phase::kConnect) {
      return Make(Fault::kUnreachable, absl::StatusCode::kUnavailable, what,
                  "database unreachable", e);
    }
    try {
      throw;
    } catch (const pqxx::in_doubt_error& e) {
      return Make(Fault::kOutcomeUnknown, absl::StatusCode::kUnknown, what,
                  "commit outcome unknown", e);
    } catch (const pqxx::broken_connection& e) {
      return Lost(phase, what, e);
    } catch (const pqxx::statement_completion_unknown& e) {
      if (phase == Phase::kCommit) {
        return Make(Fault::kOutcomeUnknown, absl::StatusCode::kUnknown, what,
                    "outcome unknown", e);
      }
      return Make(Fault::kRolledBack, absl::StatusCode::kUnavailable, what,
                  "rolled back by the database, retry", e);
    } catch (const pqxx::transaction_rollback& e) {
      return Make(Fault::kRolledBack, absl::StatusCode::kUnavailable, what,
                  "rolled back by the database, retry", e);
    } catch (const pqxx::sql_error& e) {
      const std::string& sqlstate = e.sqlstate();
      if (!session_open || EndedSession(sqlstate)) {
        return Lost(phase, what, e, sqlstate);
      }
      if (sqlstate == kReadOnlyTransaction) {
        return Make(Fault::kSessionLost, absl::StatusCode::kUnavailable, what,
                    "database not writable", e, sqlstate);
      }
      if (sqlstate == kQueryCanceled) {
        return Make(Fault::kCanceled, absl::StatusCode::kInternal, what,
                    "statement canceled", e, sqlstate);
      }
      if (dynamic_cast<const pqxx::unique_violation*>(&e) != nullptr) {
        return Make(Fault::kDuplicate, absl::StatusCode::kAlreadyExists, what,
                    "already exists", e, sqlstate);
      }
      return Make(Fault::kRefused, absl::StatusCode::kInternal, what,
                  "database error (sqlstate " + sqlstate + ")", e, sqlstate);
    } catch (const pqxx::failure& e) {
      return Lost(phase, what, e);
    } catch (const std::exception& e) {
      return Make(Fault::kNotDatabase, absl::StatusCode::kInternal, what,
                  "unexpected error", e);
    }
  } catch (...) {
  }
  return {Fault::kNotDatabase,
          absl::InternalError(what + ": unexpected error of unknown type"), ""};
}

std::string OneLine(const std::string& text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

}  // namespace saga::pg
