// Runs a bulk repair's items with a bounded number in flight, stopping
// cleanly on request. No gRPC: the item's work is a function.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>

namespace saga::sagactl {

struct BulkRunOptions {
  int parallel = 8;  // items in flight at most (>= 1)
  // How often `on_tick` runs on the calling thread while items run.
  std::chrono::milliseconds tick{100};
};

// Calls run_item(i) for i = 0, 1, ... n-1, in that order of starting, on up
// to options.parallel threads at once. Once `stop` is true no further item
// starts; the ones in flight finish. The calling thread calls on_tick(done)
// every options.tick while items run (done: items finished so far) and
// returns once every started item has finished. Returns how many items
// started (items [0, started) ran; the rest never did).
// run_item must be safe to call from several threads at once.
size_t RunBulk(size_t n, const BulkRunOptions& options,
               const std::function<void(size_t)>& run_item,
               const std::atomic<bool>& stop,
               const std::function<void(size_t done)>& on_tick);

}  // namespace saga::sagactl
