// The saga definitions the orchestrator knows: the current version of each
// type (loaded from the definitions directory at start-up) and any older
// version a running saga started with (read back from the store).
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "orchestrator/core/definition.h"
#include "orchestrator/store/store.h"
#include "orchestrator/sync/mutex.h"

namespace saga::engine {

class DefinitionRegistry {
 public:
  explicit DefinitionRegistry(store::SagaStore* store) : store_(store) {}

  // Parses every *.yaml / *.yml file of `dir` and records each definition in
  // the store under its version. Fails (naming the file, step and field) on
  // a bad definition, on two files of the same type, and on a changed
  // definition that kept its version number.
  absl::Status LoadDirectory(const std::string& dir);

  // The current definition of `saga_type`; NotFound if unknown.
  absl::StatusOr<std::shared_ptr<const core::SagaDefinition>> Current(
      const std::string& saga_type) const;

  // A specific version (for sagas that started under it).
  absl::StatusOr<std::shared_ptr<const core::SagaDefinition>> Version(
      const std::string& saga_type, int version);

  // Every definition known to this process: the current ones and any older
  // version read back for running sagas, ordered by type and version.
  std::vector<std::shared_ptr<const core::SagaDefinition>> Known() const;

  // Names of the participants the current definitions call (wait and
  // delay steps call none).
  std::vector<std::string> Participants() const;

 private:
  store::SagaStore* store_;
  mutable sync::Mutex mutex_;
  std::map<std::string, std::shared_ptr<const core::SagaDefinition>> current_
      ABSL_GUARDED_BY(mutex_);
  std::map<std::pair<std::string, int>,
           std::shared_ptr<const core::SagaDefinition>>
      versions_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace saga::engine
