#include "orchestrator/engine/call_window.h"

#include <algorithm>

namespace saga::engine {

CallWindow::CallWindow(int64_t length_ms)
    : slice_ms_(std::max<int64_t>(1, length_ms / kSlices)) {}

void CallWindow::Advance(int64_t now_ms) {
  const int64_t slice = now_ms / slice_ms_;
  if (newest_ < 0) {
    newest_ = slice;
    return;
  }
  if (slice <= newest_) return;
  // Each slice between the old end and the new one is left behind; past
  // kSlices of them, everything is.
  const int64_t leaving = std::min<int64_t>(slice - newest_, kSlices);
  for (int64_t k = 1; k <= leaving; ++k) {
    CallCounts& old = slices_[(newest_ + k) % kSlices];
    total_.calls -= old.calls;
    total_.failures -= old.failures;
    total_.slow -= old.slow;
    old = {};
  }
  newest_ = slice;
}

void CallWindow::Add(int64_t now_ms, bool failure, bool slow) {
  Advance(now_ms);
  CallCounts& slice = slices_[newest_ % kSlices];
  const CallCounts one{1, failure ? 1 : 0, slow ? 1 : 0};
  for (CallCounts* counts : {&slice, &total_}) {
    counts->calls += one.calls;
    counts->failures += one.failures;
    counts->slow += one.slow;
  }
}

CallCounts CallWindow::CountsAt(int64_t now_ms) {
  Advance(now_ms);
  return total_;
}

void CallWindow::Clear() {
  slices_ = {};
  total_ = {};
  newest_ = -1;
}

}  // namespace saga::engine
