#include "observability/batched_fd_sink.h"

#include <fcntl.h>
#include <spdlog/logger.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "observability/logging.h"

namespace saga::observability {
namespace {

// A pipe drained by a thread into a string, as a log collector would.
class Collector {
 public:
  Collector() {
    EXPECT_EQ(::pipe(fds_), 0);
    reader_ = std::thread([this] {
      char buffer[4096];
      ssize_t n;
      while ((n = ::read(fds_[0], buffer, sizeof(buffer))) > 0) {
        text_.append(buffer, static_cast<size_t>(n));
      }
    });
  }
  ~Collector() { Close(); }

  int write_fd() const { return fds_[1]; }

  // Everything written, once the writing end is closed.
  const std::string& Close() {
    if (fds_[1] >= 0) {
      ::close(fds_[1]);
      fds_[1] = -1;
      reader_.join();
      ::close(fds_[0]);
    }
    return text_;
  }

 private:
  int fds_[2] = {-1, -1};
  std::thread reader_;
  std::string text_;
};

TEST(BatchedFdSinkTest, EveryLineArrivesWholeAndInEachThreadsOrder) {
  Collector collector;
  {
    auto sink = std::make_shared<BatchedFdSink>(collector.write_fd());
    spdlog::logger logger("test", sink);
    logger.set_pattern("%v");
    constexpr int kThreads = 4, kLines = 5000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&logger, t] {
        for (int i = 0; i < kLines; ++i) {
          logger.info("thread {} line {} {}", t, i, std::string(40, 'x'));
        }
      });
    }
    for (auto& thread : threads) thread.join();
  }  // the sink writes what is pending before it goes
  std::istringstream lines(collector.Close());
  std::map<int, int> next_of_thread;
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    int thread = -1, index = -1;
    char padding[64] = {};
    ASSERT_EQ(std::sscanf(line.c_str(), "thread %d line %d %63s", &thread,
                          &index, padding),
              3)
        << line;
    EXPECT_EQ(std::string(padding), std::string(40, 'x')) << line;
    EXPECT_EQ(index, next_of_thread[thread]++) << "thread " << thread;
    ++count;
  }
  EXPECT_EQ(count, 4 * 5000);
}

TEST(BatchedFdSinkTest, FlushReturnsOnceEverythingLoggedIsWritten) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  {
    auto sink = std::make_shared<BatchedFdSink>(fds[1]);
    spdlog::logger logger("test", sink);
    logger.set_pattern("%v");
    for (int i = 0; i < 100; ++i) logger.info("line {}", i);
    logger.flush();
    // Nothing else writes to the pipe: what flush waited for is in it.
    ASSERT_EQ(::fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
    std::string text;
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buffer, sizeof(buffer))) > 0) {
      text.append(buffer, static_cast<size_t>(n));
    }
    EXPECT_EQ(text.substr(0, 7), "line 0\n");
    EXPECT_EQ(text.size() >= 7 ? text.substr(text.size() - 8) : "",
              "line 99\n");
  }
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(BatchedFdSinkTest, JsonLinesKeepTheirFields) {
  Collector collector;
  ConfigureLogging("saga-test", spdlog::level::info, LogFormat::kJson,
                   std::make_shared<BatchedFdSink>(collector.write_fd()));
  Log(spdlog::level::info, "saga event", {{"saga_id", "s-1"}, {"seq", 3}});
  // Back to the default sink: the test's sink writes its line and goes.
  ConfigureLogging("saga-test", spdlog::level::info, LogFormat::kText,
                   std::make_shared<BatchedFdSink>(STDERR_FILENO));
  const std::string& text = collector.Close();
  EXPECT_NE(text.find(R"("msg":"saga event","saga_id":"s-1","seq":3})"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace saga::observability
