// The progress of a bulk repair on stderr: items done of all, rate and ETA.
// On a terminal one line redrawn in place at most 10 times a second; else a
// plain line every 5 seconds (a log stays short). Pure: the caller passes
// the time and writes what it is given.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace saga::sagactl {

// "[=========>          ] 512/1,000  51%  120.5/s  ETA 4s" (the bar only
// when `bar`); the rate and ETA are left out until something is done.
std::string FormatProgress(size_t done, size_t total,
                           std::chrono::milliseconds elapsed, bool bar);

class ProgressReporter {
 public:
  explicit ProgressReporter(bool terminal) : terminal_(terminal) {}

  // What to write to stderr now ("" if nothing: too soon since the last).
  std::string Update(size_t done, size_t total,
                     std::chrono::milliseconds elapsed);
  // The final state with the time taken, as a line of its own.
  std::string Finish(size_t done, size_t total,
                     std::chrono::milliseconds elapsed);

  static constexpr std::chrono::milliseconds kTerminalInterval{100};
  static constexpr std::chrono::milliseconds kLogInterval{5000};

 private:
  const bool terminal_;
  bool drawn_ = false;
  std::chrono::milliseconds last_{0};
};

}  // namespace saga::sagactl
