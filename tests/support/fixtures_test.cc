// The shared test fixtures: test definitions and the forwarding store.
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"
#include "orchestrator/core/definition_loader.h"
#include "orchestrator/store/memory/memory_store.h"
#include "tests/support/definitions.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

using namespace std::chrono_literals;

TEST(TestDefinitionTest, EveryTestdataFolderHoldsDefinitionsThatLoad) {
  int folders = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(SourcePath("tests/testdata"))) {
    if (!entry.is_directory()) continue;
    ++folders;
    const std::string name = entry.path().filename().string();
    int files = 0;
    for (const auto& file : std::filesystem::directory_iterator(entry)) {
      files += file.path().extension() == ".yaml";
    }
    if (files == 1) {
      EXPECT_FALSE(TestDefinition(name).name.empty()) << name;
    } else {
      // A parent and its children's types (children/) load as a set.
      absl::StatusOr<std::vector<core::SagaDefinition>> all =
          core::LoadDefinitionDir(TestDefinitionDir(name));
      ASSERT_TRUE(all.ok()) << name << ": " << all.status();
      EXPECT_EQ(all->size(), static_cast<size_t>(files)) << name;
    }
  }
  EXPECT_GE(folders, 3);
}

TEST(TestDefinitionTest, TheBookingVersionsAreFrozen) {
  const core::SagaDefinition v2 = Booking();
  const core::SagaDefinition v1 = BookingV1();
  EXPECT_EQ(v2.name, "appointment_booking");
  EXPECT_EQ(v2.version, 2);
  ASSERT_EQ(v2.steps.size(), 3u);
  EXPECT_EQ(v2.steps[2].retry.give_up_after_ms, 3600 * 1000);
  EXPECT_EQ(v1.name, "appointment_booking");
  EXPECT_EQ(v1.version, 1);
  ASSERT_EQ(v1.steps.size(), 3u);
  EXPECT_EQ(v1.steps[2].retry.max_attempts, 4);
}

TEST(TestDefinitionTest, AnUnknownNameFailsTheTest) {
  EXPECT_NONFATAL_FAILURE(TestDefinition("no_such_definition"),
                          "must be a folder with exactly one *.yaml file");
}

store::AppendBatch Started(const std::string& saga_id) {
  store::AppendBatch batch;
  core::Event started;
  started.type = core::EventType::kSagaStarted;
  started.seq = 1;
  started.saga_type = "t";
  started.input_json = "{}";
  batch.saga_id = saga_id;
  batch.events = {started};
  batch.summary.saga_id = saga_id;
  batch.summary.saga_type = "t";
  batch.summary.input_json = "{}";
  batch.summary.last_seq = 1;
  batch.writer = "w";
  batch.lease_ttl = 60s;
  return batch;
}

// Overrides Create alone; everything else is forwarded.
class CountingStore final : public ForwardingStore {
 public:
  explicit CountingStore(store::SagaStore* target) : ForwardingStore(target) {}
  absl::StatusOr<store::CreateResult> Create(
      const store::AppendBatch& first) override {
    ++creates;
    return ForwardingStore::Create(first);
  }
  int creates = 0;
};

TEST(ForwardingStoreTest, ForwardsEveryCallAndGroupsGoThroughTheOverride) {
  store::MemoryStore memory;
  CountingStore counting(&memory);
  const store::AppendBatch a = Started("a");
  const store::AppendBatch b = Started("b");
  std::vector<absl::StatusOr<store::CreateResult>> created =
      counting.CreateGroup({&a, &b});
  ASSERT_EQ(created.size(), 2u);
  EXPECT_TRUE(created[0].ok() && created[1].ok());
  EXPECT_EQ(counting.creates, 2);
  // What the override let through reached the target, and reads forward.
  EXPECT_TRUE(memory.Load("a").ok());
  absl::StatusOr<store::SagaSummary> b_summary = counting.LoadSummary("b");
  ASSERT_TRUE(b_summary.ok()) << b_summary.status();
  EXPECT_EQ(b_summary->saga_type, "t");
  ASSERT_TRUE(counting.PutDefinition("t", 1, "source").ok());
  absl::StatusOr<std::string> source = memory.GetDefinition("t", 1);
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ(*source, "source");
  EXPECT_EQ(counting.target(), &memory);
}

}  // namespace
}  // namespace saga::testing
