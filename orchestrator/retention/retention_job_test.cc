#include "orchestrator/retention/retention_job.h"

#include <gtest/gtest.h>

namespace saga::retention {
namespace {

TEST(RetentionForTest, ATypeOfItsOwnReplacesTheDefaults) {
  RetentionOptions options;
  options.defaults = {1000, 0};
  options.types["audit"] = {5000, 9000};
  EXPECT_EQ(RetentionFor(options, "audit"), (SagaRetention{5000, 9000}));
  EXPECT_EQ(RetentionFor(options, "booking"), (SagaRetention{1000, 0}));
}

TEST(PrunesAnythingTest, NothingConfiguredPrunesNothing) {
  RetentionOptions options;
  EXPECT_FALSE(PrunesAnything(options));
  options.archive_dir = "/tmp/archive";  // an archive alone deletes nothing
  EXPECT_FALSE(PrunesAnything(options));
  options.types["audit"] = {0, 0};
  EXPECT_FALSE(PrunesAnything(options));
  options.types["audit"].failed_ms = 1;
  EXPECT_TRUE(PrunesAnything(options));
  RetentionOptions outbox_only;
  outbox_only.outbox_pending_ms = 1;
  EXPECT_TRUE(PrunesAnything(outbox_only));
}

}  // namespace
}  // namespace saga::retention
