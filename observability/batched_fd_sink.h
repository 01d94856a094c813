// A log sink that writes to a file descriptor from a thread of its own, in
// batches, so that a line costs the thread that logs it a format and a copy,
// not a write(2) (and a flush) of its own.
//
// Lines reach the descriptor whole and in the order they were logged. When
// the writer is idle a line is written at once; under load, the lines logged
// while one write is under way go out together in the next (the group commit
// the engine's committer does for the database). flush() returns once every
// line logged before it is written, so a logger that flushes on warnings
// (ConfigureLogging does) loses no warning or error to a crash; a SIGKILL can
// lose only the info lines logged during the last write.
//
// Thread-safety: log() and flush() from any thread.
#pragma once

#include <spdlog/sinks/sink.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace saga::observability {

class BatchedFdSink final : public spdlog::sinks::sink {
 public:
  // Writes to `fd`, which the caller keeps open for the sink's lifetime.
  explicit BatchedFdSink(int fd);
  // Writes what is pending, then stops the writer.
  ~BatchedFdSink() override;

  BatchedFdSink(const BatchedFdSink&) = delete;
  BatchedFdSink& operator=(const BatchedFdSink&) = delete;

  void log(const spdlog::details::log_msg& msg) override;
  void flush() override;
  void set_pattern(const std::string& pattern) override;
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override;

 private:
  void Run();

  const int fd_;
  std::mutex mu_;
  std::condition_variable wake_;                  // lines pending, or stopping
  std::condition_variable written_;               // a write finished
  std::unique_ptr<spdlog::formatter> formatter_;  // guarded by mu_
  std::string pending_;                           // guarded by mu_
  bool writing_ = false;                          // guarded by mu_
  bool stopping_ = false;                         // guarded by mu_
  std::thread writer_;
};

}  // namespace saga::observability
