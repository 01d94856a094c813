// Saga definitions for tests: the frozen copies under tests/testdata, never
// the demo's sagas/ (which may change without breaking a test). Each test
// definition is a folder holding one YAML file, so a registry or an
// orchestrator's --definitions can load it on its own.
#pragma once

#include <string>

#include "orchestrator/core/definition.h"

namespace saga::testing {

// Absolute path of tests/testdata/<name>, e.g. "booking_v1".
std::string TestDefinitionDir(const std::string& name);

// Absolute path of the one definition file in TestDefinitionDir(name).
std::string TestDefinitionPath(const std::string& name);

// The definition in TestDefinitionDir(name), e.g. TestDefinition("booking").
// On any error, fails the test (ADD_FAILURE) and returns an empty definition.
core::SagaDefinition TestDefinition(const std::string& name);

// The booking saga: version 2 (TestDefinition("booking")) and version 1, whose
// pivot gives up after 4 attempts (TestDefinition("booking_v1")).
core::SagaDefinition Booking();
core::SagaDefinition BookingV1();

}  // namespace saga::testing
