// The console's pages: every file under orchestrator/console/web/, embedded
// into the binary at build time (embed_files.cmake), so nothing is read from
// the disk or fetched from elsewhere at run time.
#pragma once

#include <span>
#include <string_view>

namespace saga::console {

struct StaticFile {
  std::string_view path;          // relative to web/: "index.html", "js/a.js"
  std::string_view content_type;  // from the file name's extension
  std::string_view bytes;
};

// Every embedded file, sorted by path (generated).
std::span<const StaticFile> EmbeddedFiles();

// The file a request path names: "/" is index.html, "/js/a.js" is
// "js/a.js"; a query string is ignored. Null for anything else (no
// directory listings, no "..": only the embedded names match).
const StaticFile* FindStaticFile(std::string_view target);

}  // namespace saga::console
