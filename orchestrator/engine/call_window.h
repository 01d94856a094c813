// The results of a participant's recent calls, counted over a sliding time
// window: the calls that ended within the last `length_ms`, with how many
// of them failed and how many were slow. The window moves in tenths: it is
// kept as ten slices of length_ms / 10, and a slice's results leave it all
// at once, so at any time it covers between 90% and 100% of length_ms.
// A time window (rather than the last N calls) forgets a burst of failures
// once it is old, however little traffic follows it.
//
// Pure: the time is passed in; it must not go backwards (an earlier time is
// treated as the latest one seen).
//
// Thread-safety: none; use from one thread.
#pragma once

#include <array>
#include <cstdint>

namespace saga::engine {

struct CallCounts {
  int64_t calls = 0;
  int64_t failures = 0;
  int64_t slow = 0;

  bool operator==(const CallCounts&) const = default;
};

class CallWindow {
 public:
  // REQUIRES: length_ms > 0.
  explicit CallWindow(int64_t length_ms);

  // One call that ended at `now_ms`.
  void Add(int64_t now_ms, bool failure, bool slow);
  // The calls that ended within the window that ends at `now_ms`.
  CallCounts CountsAt(int64_t now_ms);
  // Forgets every result.
  void Clear();

 private:
  static constexpr int kSlices = 10;

  // Moves the window's end to `now_ms`, dropping the slices it leaves.
  void Advance(int64_t now_ms);

  int64_t slice_ms_;
  std::array<CallCounts, kSlices> slices_{};
  // Number (time / slice_ms_) of the newest slice; slices_[newest_ %
  // kSlices] holds it. -1: nothing added since construction or Clear.
  int64_t newest_ = -1;
  CallCounts total_;
};

}  // namespace saga::engine
