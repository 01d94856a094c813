#include "observability/batched_fd_sink.h"

#include <spdlog/pattern_formatter.h>
#include <unistd.h>

#include <cerrno>

namespace saga::observability {
namespace {

// A logging thread waits while this much is pending (the descriptor is a
// pipe nobody reads, or a full disk), as it would on a blocking write.
constexpr size_t kMaxPendingBytes = 4 << 20;

// Writes all of `text`; gives up on an error other than EINTR, as a
// logger cannot report its own failure anywhere better.
void WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    done += static_cast<size_t>(n);
  }
}

}  // namespace

BatchedFdSink::BatchedFdSink(int fd)
    : fd_(fd),
      formatter_(std::make_unique<spdlog::pattern_formatter>()),
      writer_([this] { Run(); }) {}

BatchedFdSink::~BatchedFdSink() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();
}

void BatchedFdSink::log(const spdlog::details::log_msg& msg) {
  std::unique_lock<std::mutex> lock(mu_);
  written_.wait(lock, [this] { return pending_.size() < kMaxPendingBytes; });
  spdlog::memory_buf_t line;
  formatter_->format(msg, line);
  const bool first = pending_.empty();
  pending_.append(line.data(), line.size());
  // The writer lingers after the first line, and a writer under way takes
  // the new lines when it comes back: neither needs another wake-up.
  if (first || pending_.size() >= kWakeBytes) wake_.notify_one();
}

void BatchedFdSink::flush() {
  std::unique_lock<std::mutex> lock(mu_);
  ++flushes_waiting_;
  wake_.notify_one();
  written_.wait(lock, [this] { return pending_.empty() && !writing_; });
  --flushes_waiting_;
}

void BatchedFdSink::set_pattern(const std::string& pattern) {
  set_formatter(std::make_unique<spdlog::pattern_formatter>(pattern));
}

void BatchedFdSink::set_formatter(
    std::unique_ptr<spdlog::formatter> formatter) {
  std::lock_guard<std::mutex> lock(mu_);
  formatter_ = std::move(formatter);
}

void BatchedFdSink::Run() {
  std::string batch;  // written outside the lock; keeps its capacity
  std::unique_lock<std::mutex> lock(mu_);
  const auto go_now = [this] {
    return stopping_ || flushes_waiting_ > 0 || pending_.size() >= kWakeBytes;
  };
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    wake_.wait_for(lock, kLinger, go_now);
    if (pending_.empty()) return;  // stopping, and everything is written
    batch.swap(pending_);
    writing_ = true;
    lock.unlock();
    WriteAll(fd_, batch);
    batch.clear();
    lock.lock();
    writing_ = false;
    written_.notify_all();
  }
}

}  // namespace saga::observability
