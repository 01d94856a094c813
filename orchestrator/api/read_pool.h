// The service's own threads for store reads and the watch streams' timers,
// so that no handler blocks a gRPC thread.
//
// Thread-safety: Post may be called from any thread. The destructor waits
// for everything posted, and for pending timers.
#pragma once

// Boost 1.74 Asio needs <utility> first under C++20.
#include <utility>
//
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

namespace saga::api {

class ReadPool {
 public:
  explicit ReadPool(int threads) : pool_(threads) {}
  ~ReadPool() { pool_.join(); }
  ReadPool(const ReadPool&) = delete;
  ReadPool& operator=(const ReadPool&) = delete;

  template <typename Fn>
  void Post(Fn fn) {
    boost::asio::post(pool_, std::move(fn));
  }

  // For timers whose handlers run on the pool.
  boost::asio::thread_pool::executor_type executor() {
    return pool_.get_executor();
  }

 private:
  boost::asio::thread_pool pool_;
};

}  // namespace saga::api
