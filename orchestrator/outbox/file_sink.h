// A sink that appends one JSON line per message (message_json.h) to a file
// and fsyncs it: for log shippers, or for tailing by hand. A batch that
// failed half-way is appended again in full, so a line may repeat; dedupe
// on message_id.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "orchestrator/outbox/sink.h"

namespace saga::outbox {

class FileSink final : public Sink {
 public:
  // Opens (creating if needed) `path` for appending. InvalidArgument with
  // the reason when it cannot.
  static absl::StatusOr<std::unique_ptr<FileSink>> Open(
      const std::string& path);

  ~FileSink() override;
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  absl::Status Deliver(const std::vector<store::OutboxEntry>& entries) override;
  std::string Describe() const override { return "file:" + path_; }

 private:
  FileSink(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  const std::string path_;
  const int fd_;
};

}  // namespace saga::outbox
