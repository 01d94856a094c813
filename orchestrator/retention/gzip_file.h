// A gzip file written so that it is either whole or absent: the data goes
// to PATH.partial, and Commit finishes the stream, fsyncs the file, renames
// it to PATH and fsyncs the directory. A GzipFile destroyed without Commit
// removes its partial file. `gunzip`/`zcat` read the result.
//
// Not thread-safe.
#pragma once

#include <zlib.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace saga::retention {

class GzipFile {
 public:
  // Creates PATH.partial (Internal naming the path and errno if it cannot;
  // AlreadyExists if PATH exists).
  static absl::StatusOr<std::unique_ptr<GzipFile>> Create(std::string path);
  ~GzipFile();
  GzipFile(const GzipFile&) = delete;
  GzipFile& operator=(const GzipFile&) = delete;

  // Compresses `data` into the file.
  absl::Status Append(std::string_view data);
  // Finishes the stream; on OK the file is durable at PATH. The object
  // takes no more data afterwards.
  absl::Status Commit();

  const std::string& path() const { return path_; }

 private:
  GzipFile(std::string path, int fd);
  // Runs deflate with `flush` until it has consumed its input (and, for
  // Z_FINISH, ended the stream), writing what it produces.
  absl::Status Deflate(int flush);
  absl::Status Fail(const std::string& what, int error);

  const std::string path_;
  const std::string partial_;
  int fd_;
  z_stream stream_{};
  bool committed_ = false;
};

// The decompressed content of the gzip file at `path`, read with zlib's own
// reader (tests and tools that read archives back): NotFound if it cannot be
// opened, DataLoss if it is corrupt.
absl::StatusOr<std::string> ReadGzipFile(const std::string& path);

}  // namespace saga::retention
