#include "tools/sagactl/bulk_progress.h"

#include <cstdio>

#include "tools/sagactl/bulk_filter.h"
#include "tools/sagactl/duration.h"

namespace saga::sagactl {
namespace {

constexpr size_t kBarWidth = 20;

// Erases the rest of the terminal line.
constexpr char kClearToEnd[] = "\033[K";

}  // namespace

std::string FormatProgress(size_t done, size_t total,
                           std::chrono::milliseconds elapsed, bool bar) {
  std::string line;
  const double fraction =
      total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
  if (bar) {
    const size_t filled = static_cast<size_t>(fraction * kBarWidth);
    line = "[" + std::string(filled, '=') +
           (filled < kBarWidth ? ">" + std::string(kBarWidth - filled - 1, ' ')
                               : "") +
           "] ";
  }
  line += GroupedCount(static_cast<int64_t>(done)) + "/" +
          GroupedCount(static_cast<int64_t>(total)) + "  " +
          std::to_string(static_cast<int>(fraction * 100)) + "%";
  if (done > 0 && elapsed.count() > 0) {
    const double per_second = static_cast<double>(done) * 1000.0 /
                              static_cast<double>(elapsed.count());
    char rate[32];
    std::snprintf(rate, sizeof rate, "%.1f/s", per_second);
    line += std::string("  ") + rate;
    if (done < total) {
      const auto eta = std::chrono::milliseconds(static_cast<int64_t>(
          static_cast<double>(total - done) * 1000.0 / per_second));
      line += "  ETA " + FormatDuration(eta);
    }
  }
  return line;
}

std::string ProgressReporter::Update(size_t done, size_t total,
                                     std::chrono::milliseconds elapsed) {
  const std::chrono::milliseconds interval =
      terminal_ ? kTerminalInterval : kLogInterval;
  if (drawn_ && elapsed - last_ < interval) return "";
  if (!terminal_ && elapsed < interval) return "";  // short runs log nothing
  drawn_ = true;
  last_ = elapsed;
  if (terminal_) {
    return "\r" + FormatProgress(done, total, elapsed, true) + kClearToEnd;
  }
  return "sagactl: " + FormatProgress(done, total, elapsed, false) + "\n";
}

std::string ProgressReporter::Finish(size_t done, size_t total,
                                     std::chrono::milliseconds elapsed) {
  const std::string line = FormatProgress(done, total, elapsed, terminal_) +
                           " in " + FormatDuration(elapsed);
  if (terminal_) return "\r" + line + kClearToEnd + "\n";
  return "sagactl: " + line + "\n";
}

}  // namespace saga::sagactl
