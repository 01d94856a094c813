#include "tests/support/test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "gtest/gtest.h"

namespace saga::testing {
namespace {

using std::chrono::milliseconds;

TEST(ChildProcessTest, ReportsExitStatus) {
  ChildProcess child({"/bin/sh", "-c", "exit 3"});
  const int status = child.Wait();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3);
  EXPECT_FALSE(child.Running());
}

TEST(ChildProcessTest, FindsProgramOnPath) {
  ChildProcess child({"true"});
  const int status = child.Wait();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ChildProcessTest, SignalStopsARunningChild) {
  ChildProcess child({"/bin/sleep", "60"});
  EXPECT_TRUE(child.Running());
  child.Signal(SIGTERM);
  const int status = child.Wait();
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
}

TEST(ChildProcessTest, DestructorKillsTheChild) {
  pid_t pid;
  {
    ChildProcess child({"/bin/sleep", "60"});
    pid = child.pid();
    ASSERT_TRUE(child.Running());
  }
  // Reaped by the destructor: the pid no longer names our child.
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1);
}

TEST(ChildProcessTest, AppendsOutputToLogAndPassesEnvironment) {
  const std::string log = ::testing::TempDir() + "child_process_test_" +
                          std::to_string(getpid()) + ".log";
  std::remove(log.c_str());
  {
    ChildProcess first({"/bin/sh", "-c", "echo out:$SAGA_X; echo err >&2"},
                       {"SAGA_X=1"}, log);
    ASSERT_EQ(first.Wait(), 0);
  }
  {
    ChildProcess second({"/bin/sh", "-c", "echo again:$HOME"}, {"HOME=/nope"},
                        log);
    ASSERT_EQ(second.Wait(), 0);
  }
  EXPECT_EQ(ReadFile(log), "out:1\nerr\nagain:/nope\n");
  std::remove(log.c_str());
}

TEST(ChildProcessTest, ThrowsWhenTheProgramCannotRun) {
  EXPECT_THROW(ChildProcess({"/nonexistent/program"}), std::runtime_error);
}

TEST(PortTest, WaitForPortSeesAListener) {
  const int port = FreePort();
  ASSERT_GT(port, 0);
  EXPECT_FALSE(WaitForPort(port, milliseconds(50)));

  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  const int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
            0);
  ASSERT_EQ(listen(fd, 4), 0);
  EXPECT_TRUE(WaitForPort(port, milliseconds(2000)));
  close(fd);
}

TEST(PollUntilTest, ReturnsOnceTheConditionHolds) {
  int calls = 0;
  EXPECT_TRUE(PollUntil([&] { return ++calls == 3; }, milliseconds(5000)));
  EXPECT_EQ(calls, 3);
  EXPECT_FALSE(PollUntil([] { return false; }, milliseconds(20)));
}

TEST(PathsTest, PointIntoTheSourceAndBuildTrees) {
  EXPECT_EQ(ReadFile(SourcePath("tests/support/test_support.h")).empty(),
            false);
  EXPECT_NE(BinaryPath("saga-orchestrator").find("/bin/saga-orchestrator"),
            std::string::npos);
}

}  // namespace
}  // namespace saga::testing
