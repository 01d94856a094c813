#include "orchestrator/pg/errors.h"

#include <gtest/gtest.h>

#include <pqxx/except>
#include <stdexcept>

namespace saga::pg {
namespace {

template <typename Exception>
Failure ClassifyThrown(const Exception& error, Phase phase,
                       bool session_open = true) {
  return Classify(std::make_exception_ptr(error), phase, "writing",
                  session_open);
}

pqxx::sql_error SqlError(const char* sqlstate) {
  return pqxx::sql_error("ERROR: something", "SELECT 1", sqlstate);
}

void ExpectFault(const Failure& failure, Fault fault, absl::StatusCode code) {
  EXPECT_EQ(failure.fault, fault) << failure.status;
  EXPECT_EQ(failure.status.code(), code) << failure.status;
}

TEST(ClassifyTest, NothingSentWhileConnectingIsUnreachable) {
  for (const Failure& failure :
       {ClassifyThrown(pqxx::broken_connection("refused"), Phase::kConnect),
        ClassifyThrown(SqlError("28P01"), Phase::kConnect),
        ClassifyThrown(SqlError("42601"), Phase::kConnect)}) {
    ExpectFault(failure, Fault::kUnreachable, absl::StatusCode::kUnavailable);
  }
}

// The store called this Unknown, the outbox and the participants
// Unavailable: a COMMIT cut off may have landed, so it is Unknown
// everywhere, and never a definite failure.
TEST(ClassifyTest, InDoubtIsAnUnknownOutcomeInEveryPhase) {
  for (Phase phase : {Phase::kStatement, Phase::kCommit}) {
    const Failure failure =
        ClassifyThrown(pqxx::in_doubt_error("lost during COMMIT"), phase);
    ExpectFault(failure, Fault::kOutcomeUnknown, absl::StatusCode::kUnknown);
    EXPECT_TRUE(failure.EndsSession());
  }
}

TEST(ClassifyTest, ALostSessionIsRetryableBeforeTheCommitAndUnknownDuringIt) {
  for (const std::exception_ptr& lost :
       {std::make_exception_ptr(pqxx::broken_connection("gone")),
        std::make_exception_ptr(pqxx::failure("could not send query")),
        std::make_exception_ptr(SqlError("08006")),
        std::make_exception_ptr(SqlError("57P01"))}) {
    const Failure before = Classify(lost, Phase::kStatement, "writing");
    ExpectFault(before, Fault::kSessionLost, absl::StatusCode::kUnavailable);
    EXPECT_TRUE(before.EndsSession());
    const Failure during = Classify(lost, Phase::kCommit, "writing");
    ExpectFault(during, Fault::kOutcomeUnknown, absl::StatusCode::kUnknown);
    EXPECT_TRUE(during.EndsSession());
  }
}

TEST(ClassifyTest, AnErrorOnAClosedSessionIsALostSession) {
  ExpectFault(ClassifyThrown(SqlError("25P03"), Phase::kStatement,
                             /*session_open=*/false),
              Fault::kSessionLost, absl::StatusCode::kUnavailable);
  ExpectFault(ClassifyThrown(SqlError("25P03"), Phase::kCommit,
                             /*session_open=*/false),
              Fault::kOutcomeUnknown, absl::StatusCode::kUnknown);
}

TEST(ClassifyTest, AReadOnlyServerWroteNothing) {
  for (Phase phase : {Phase::kStatement, Phase::kCommit}) {
    const Failure failure = ClassifyThrown(SqlError("25006"), phase);
    ExpectFault(failure, Fault::kSessionLost, absl::StatusCode::kUnavailable);
    EXPECT_TRUE(failure.EndsSession());
    EXPECT_EQ(failure.sqlstate, "25006");
  }
}

// The store called 40003 Unknown wherever it came from, the participants a
// rollback: inside a transaction it is a rollback, as its own commit nobody
// can tell.
TEST(ClassifyTest, StatementCompletionUnknownIsUnknownOnlyAsACommit) {
  const pqxx::statement_completion_unknown error("40003");
  ExpectFault(ClassifyThrown(error, Phase::kStatement), Fault::kRolledBack,
              absl::StatusCode::kUnavailable);
  ExpectFault(ClassifyThrown(error, Phase::kCommit), Fault::kOutcomeUnknown,
              absl::StatusCode::kUnknown);
}

TEST(ClassifyTest, ARollbackKeepsTheSessionAndMayBeRetried) {
  for (Phase phase : {Phase::kStatement, Phase::kCommit}) {
    for (const std::exception_ptr& rollback :
         {std::make_exception_ptr(pqxx::serialization_failure("40001")),
          std::make_exception_ptr(pqxx::deadlock_detected("40P01"))}) {
      const Failure failure = Classify(rollback, phase, "writing");
      ExpectFault(failure, Fault::kRolledBack, absl::StatusCode::kUnavailable);
      EXPECT_FALSE(failure.EndsSession());
    }
  }
}

TEST(ClassifyTest, RefusalsByTheServerAreDefinite) {
  ExpectFault(ClassifyThrown(pqxx::unique_violation("dup", "INSERT", "23505"),
                             Phase::kCommit),
              Fault::kDuplicate, absl::StatusCode::kAlreadyExists);
  ExpectFault(ClassifyThrown(SqlError("57014"), Phase::kStatement),
              Fault::kCanceled, absl::StatusCode::kInternal);
  const Failure refused = ClassifyThrown(SqlError("42601"), Phase::kCommit);
  ExpectFault(refused, Fault::kRefused, absl::StatusCode::kInternal);
  EXPECT_FALSE(refused.EndsSession());
  EXPECT_EQ(refused.sqlstate, "42601");
}

TEST(ClassifyTest, OtherExceptionsAreInternalAndKeepTheSession) {
  const Failure failure = ClassifyThrown(
      pqxx::conversion_error("NULL is not an int"), Phase::kStatement);
  ExpectFault(failure, Fault::kNotDatabase, absl::StatusCode::kInternal);
  EXPECT_FALSE(failure.EndsSession());
}

TEST(ClassifyTest, TheStatusSaysWhatFailedOnOneLine) {
  const Failure failure = ClassifyThrown(
      pqxx::broken_connection("server closed\n\tthe connection\n"),
      Phase::kStatement);
  EXPECT_EQ(failure.status.message(),
            "writing: database connection lost: server closed the connection");
}

}  // namespace
}  // namespace saga::pg
