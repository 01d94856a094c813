#include "orchestrator/engine/definition_registry.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "orchestrator/core/child_saga_check.h"
#include "orchestrator/core/definition_loader.h"

namespace saga::engine {

namespace {

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

absl::Status DefinitionRegistry::LoadDirectory(const std::string& dir) {
  std::error_code error;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    const auto ext = entry.path().extension();
    if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml")) {
      files.push_back(entry.path());
    }
  }
  if (error) {
    return absl::NotFoundError("definitions directory " + dir + ": " +
                               error.message());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    return absl::NotFoundError("no saga definitions (*.yaml) in " + dir);
  }

  std::map<std::string, std::shared_ptr<const core::SagaDefinition>> loaded;
  std::map<std::string, std::string> loaded_from;
  std::map<std::string, std::string> source_of;
  for (const auto& path : files) {
    auto source = ReadFile(path);
    if (!source.ok()) return source.status();
    auto definition = core::ParseDefinition(*source, path.string());
    if (!definition.ok()) return definition.status();
    if (loaded.count(definition->name)) {
      return absl::InvalidArgumentError(
          path.string() + ": saga type '" + definition->name +
          "' is already defined in " + loaded_from[definition->name]);
    }
    const std::string name = definition->name;
    loaded_from[name] = path.string();
    source_of[name] = *std::move(source);
    loaded[name] =
        std::make_shared<const core::SagaDefinition>(std::move(*definition));
  }
  // The set is checked as a whole (child sagas) before any of it is stored.
  std::vector<core::SourcedDefinition> sourced;
  for (const auto& [name, definition] : loaded) {
    sourced.push_back({loaded_from[name], definition.get()});
  }
  if (absl::Status linked = core::CheckChildSagas(sourced); !linked.ok()) {
    return linked;
  }
  for (const auto& [name, definition] : loaded) {
    // A changed definition under an old version number would silently
    // change sagas already running under it: the store refuses that.
    absl::Status stored =
        store_->PutDefinition(name, definition->version, source_of[name]);
    if (!stored.ok()) {
      return absl::Status(stored.code(), loaded_from[name] + ": " +
                                             std::string(stored.message()));
    }
  }

  sync::MutexLock lock(&mutex_);
  for (const auto& [name, definition] : loaded) {
    current_[name] = definition;
    versions_[{name, definition->version}] = definition;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const core::SagaDefinition>>
DefinitionRegistry::Current(const std::string& saga_type) const {
  sync::MutexLock lock(&mutex_);
  auto it = current_.find(saga_type);
  if (it == current_.end()) {
    std::string known;
    for (const auto& [name, definition] : current_) {
      known += (known.empty() ? "" : ", ") + name;
    }
    return absl::NotFoundError("unknown saga type '" + saga_type +
                               "' (known: " + known + ")");
  }
  return it->second;
}

absl::StatusOr<std::shared_ptr<const core::SagaDefinition>>
DefinitionRegistry::Version(const std::string& saga_type, int version) {
  {
    sync::MutexLock lock(&mutex_);
    auto it = versions_.find({saga_type, version});
    if (it != versions_.end()) return it->second;
  }
  auto source = store_->GetDefinition(saga_type, version);
  if (!source.ok()) return source.status();
  auto definition =
      core::ParseDefinition(*source, "stored definition " + saga_type + " v" +
                                         std::to_string(version));
  if (!definition.ok()) return definition.status();
  auto shared =
      std::make_shared<const core::SagaDefinition>(std::move(*definition));
  sync::MutexLock lock(&mutex_);
  versions_[{saga_type, version}] = shared;
  return shared;
}

std::vector<std::shared_ptr<const core::SagaDefinition>>
DefinitionRegistry::Known() const {
  sync::MutexLock lock(&mutex_);
  std::vector<std::shared_ptr<const core::SagaDefinition>> known;
  for (const auto& [key, definition] : versions_) known.push_back(definition);
  return known;
}

std::vector<std::string> DefinitionRegistry::Participants() const {
  sync::MutexLock lock(&mutex_);
  std::set<std::string> names;
  for (const auto& [type, definition] : current_) {
    for (const auto& step : definition->steps) {
      // Wait and delay steps call nobody.
      if (core::RulesFor(step.kind).calls_participant) {
        names.insert(step.participant);
      }
    }
  }
  return {names.begin(), names.end()};
}

}  // namespace saga::engine
