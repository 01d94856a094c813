// A log sink that writes to a file descriptor from a thread of its own, in
// batches, so that a line costs the thread that logs it a format and a copy,
// not a write(2) (and a flush) of its own.
//
// Lines reach the descriptor whole and in the order they were logged. The
// first line logged into an empty buffer wakes the writer, which then waits
// kLinger for more before it writes them all at once: a saga logs several
// lines within a millisecond, and waking the writer for each one cost the
// logging thread a context switch per line (on a virtual machine, most of
// the engine thread's time at low load). Past kWakeBytes pending the writer
// goes at once. flush() returns once every line logged before it is
// written, so a logger that flushes on warnings (ConfigureLogging does)
// loses no warning or error to a crash; a SIGKILL can lose the info lines
// of the last kLinger.
//
// Thread-safety: log() and flush() from any thread.
#pragma once

#include <spdlog/sinks/sink.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace saga::observability {

class BatchedFdSink final : public spdlog::sinks::sink {
 public:
  // How long the writer gathers lines after the first one.
  static constexpr std::chrono::milliseconds kLinger{5};
  // Pending bytes that make the writer go without waiting out kLinger.
  static constexpr size_t kWakeBytes = 64 << 10;

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
  int flushes_waiting_ = 0;                       // guarded by mu_
  bool stopping_ = false;                         // guarded by mu_
  std::thread writer_;
};

}  // namespace saga::observability
