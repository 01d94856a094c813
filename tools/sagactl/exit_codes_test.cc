#include "tools/sagactl/exit_codes.h"

#include "gtest/gtest.h"

namespace saga::sagactl {
namespace {

TEST(ExitCodesTest, MapsEachKindOfOutcome) {
  EXPECT_EQ(ExitCodeFor(absl::OkStatus()), kExitOk);
  EXPECT_EQ(ExitCodeFor(UsageError("bad flag")), kExitUsage);
  EXPECT_EQ(ExitCodeFor(absl::NotFoundError("no saga")), kExitNotFound);
  EXPECT_EQ(ExitCodeFor(UnreachableError("h:1", "refused")), kExitUnreachable);
  EXPECT_EQ(ExitCodeFor(SagaEndedBadlyError("s1", "FAILED", "x")),
            kExitSagaEndedBadly);
  EXPECT_EQ(ExitCodeFor(DivergedError("1 of 3 histories diverge")),
            kExitDiverged);
  EXPECT_EQ(ExitCodeFor(absl::UnauthenticatedError("unknown bearer token")),
            kExitDenied);
  EXPECT_EQ(ExitCodeFor(absl::PermissionDeniedError("operator role needed")),
            kExitDenied);
  // The same codes sent by the server are plain errors.
  EXPECT_EQ(ExitCodeFor(absl::InvalidArgumentError("bad input")), kExitError);
  EXPECT_EQ(ExitCodeFor(absl::UnavailableError("db down")), kExitError);
  EXPECT_EQ(ExitCodeFor(absl::DeadlineExceededError("slow")), kExitError);
}

TEST(ExitCodesTest, ErrorLineNamesTheCodeOfServerErrors) {
  EXPECT_EQ(ErrorLine(absl::NotFoundError("saga s1 not found")),
            "sagactl: NOT_FOUND: saga s1 not found");
  EXPECT_EQ(ErrorLine(absl::FailedPreconditionError("past the\npivot")),
            "sagactl: FAILED_PRECONDITION: past the pivot");
  EXPECT_EQ(ErrorLine(UnreachableError("127.0.0.1:1", "refused")),
            "sagactl: cannot reach the orchestrator at 127.0.0.1:1: refused");
  EXPECT_EQ(ErrorLine(UsageError("--input is not valid JSON")),
            "sagactl: --input is not valid JSON");
  EXPECT_EQ(ErrorLine(SagaEndedBadlyError("s1", "COMPENSATED", "no slot")),
            "sagactl: saga s1 ended COMPENSATED: no slot");
  EXPECT_EQ(ErrorLine(DivergedError("1 of 3 histories diverge")),
            "sagactl: 1 of 3 histories diverge");
}

TEST(ExitCodesTest, HelpDocumentsEveryCode) {
  std::string help = ExitCodesHelp();
  for (const char* code :
       {"  0 ", "  1 ", "  2 ", "  3 ", "  4 ", "  5 ", "  6 ", "  7 "}) {
    EXPECT_NE(help.find(code), std::string::npos) << code;
  }
}

}  // namespace
}  // namespace saga::sagactl
