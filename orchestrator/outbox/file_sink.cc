#include "orchestrator/outbox/file_sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "orchestrator/outbox/message_json.h"

namespace saga::outbox {

absl::StatusOr<std::unique_ptr<FileSink>> FileSink::Open(
    const std::string& path) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InvalidArgumentError("cannot open outbox sink file " + path +
                                      ": " + std::strerror(errno));
  }
  return std::unique_ptr<FileSink>(new FileSink(path, fd));
}

FileSink::~FileSink() { ::close(fd_); }

absl::Status FileSink::Deliver(const std::vector<store::OutboxEntry>& entries) {
  std::string lines;
  for (const auto& entry : entries) {
    lines += EntryJson(entry);
    lines += '\n';
  }
  size_t written = 0;
  while (written < lines.size()) {
    const ssize_t n =
        ::write(fd_, lines.data() + written, lines.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::UnavailableError("writing to " + path_ + ": " +
                                    std::strerror(errno));
    }
    written += static_cast<size_t>(n);
  }
  if (::fdatasync(fd_) != 0) {
    return absl::UnavailableError("syncing " + path_ + ": " +
                                  std::strerror(errno));
  }
  return absl::OkStatus();
}

}  // namespace saga::outbox
