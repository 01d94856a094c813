#include "orchestrator/console/static_files.h"

#include <algorithm>

namespace saga::console {

const StaticFile* FindStaticFile(std::string_view target) {
  target = target.substr(0, target.find_first_of("?#"));
  if (target.empty() || target.front() != '/') return nullptr;
  std::string_view path = target.substr(1);
  if (path.empty()) path = "index.html";
  const std::span<const StaticFile> files = EmbeddedFiles();
  const auto found = std::lower_bound(
      files.begin(), files.end(), path,
      [](const StaticFile& file, std::string_view p) { return file.path < p; });
  if (found == files.end() || found->path != path) return nullptr;
  return &*found;
}

}  // namespace saga::console
