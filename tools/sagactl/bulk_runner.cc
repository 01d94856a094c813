#include "tools/sagactl/bulk_runner.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace saga::sagactl {

size_t RunBulk(size_t n, const BulkRunOptions& options,
               const std::function<void(size_t)>& run_item,
               const std::atomic<bool>& stop,
               const std::function<void(size_t done)>& on_tick) {
  std::mutex mu;
  std::condition_variable all_finished;
  size_t next = 0;     // GUARDED_BY(mu): the next item to start
  size_t done = 0;     // GUARDED_BY(mu)
  size_t running = 0;  // GUARDED_BY(mu): workers still taking items

  // Each worker takes the next item until none is left or stop is set, so
  // at most `parallel` items are in flight and they start in order.
  auto worker = [&] {
    for (;;) {
      size_t item;
      {
        std::lock_guard lock(mu);
        if (next >= n || stop.load()) break;
        item = next++;
      }
      run_item(item);
      std::lock_guard lock(mu);
      ++done;
    }
    std::lock_guard lock(mu);
    if (--running == 0) all_finished.notify_all();
  };

  const size_t threads =
      std::min(n, static_cast<size_t>(std::max(options.parallel, 1)));
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mu);
    running = threads;
  }
  for (size_t i = 0; i < threads; ++i) workers.emplace_back(worker);
  {
    std::unique_lock lock(mu);
    while (running > 0) {
      all_finished.wait_for(lock, options.tick);
      const size_t finished = done;
      lock.unlock();
      on_tick(finished);
      lock.lock();
    }
  }
  for (std::thread& thread : workers) thread.join();
  return next;
}

}  // namespace saga::sagactl
