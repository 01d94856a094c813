#include "tests/support/definitions.h"

#include <filesystem>
#include <vector>

#include "gtest/gtest.h"
#include "orchestrator/core/definition_loader.h"
#include "tests/support/test_support.h"

namespace saga::testing {

std::string TestDefinitionDir(const std::string& name) {
  return SourcePath("tests/testdata/" + name);
}

std::string TestDefinitionPath(const std::string& name) {
  std::vector<std::string> files;
  std::error_code error;
  for (const auto& entry :
       std::filesystem::directory_iterator(TestDefinitionDir(name), error)) {
    const std::string extension = entry.path().extension().string();
    if (extension == ".yaml" || extension == ".yml") {
      files.push_back(entry.path().string());
    }
  }
  if (error || files.size() != 1) {
    ADD_FAILURE() << "test definition '" << name
                  << "': " << TestDefinitionDir(name)
                  << " must be a folder with exactly one *.yaml file";
    return "";
  }
  return files[0];
}

core::SagaDefinition TestDefinition(const std::string& name) {
  const std::string path = TestDefinitionPath(name);
  if (path.empty()) return core::SagaDefinition{};
  absl::StatusOr<core::SagaDefinition> def = core::LoadDefinitionFile(path);
  if (!def.ok()) {
    ADD_FAILURE() << def.status();
    return core::SagaDefinition{};
  }
  return *def;
}

core::SagaDefinition Booking() { return TestDefinition("booking"); }

core::SagaDefinition BookingV1() { return TestDefinition("booking_v1"); }

}  // namespace saga::testing
