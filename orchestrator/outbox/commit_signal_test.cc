#include "orchestrator/outbox/commit_signal.h"

#include <gtest/gtest.h>

#include <memory>

namespace saga::outbox {
namespace {

class CountingListener final : public CommitSignal::Listener {
 public:
  void OnCommit() override { ++calls; }
  int calls = 0;
};

TEST(CommitSignalTest, WakesAListenerOnceOnTheNextCommit) {
  CommitSignal signal;
  auto listener = std::make_shared<CountingListener>();
  signal.NotifyOnce(signal.Generation(), listener);
  EXPECT_EQ(listener->calls, 0);
  signal.Notify();
  EXPECT_EQ(listener->calls, 1);
  signal.Notify();
  EXPECT_EQ(listener->calls, 1) << "a listener is woken once per NotifyOnce";
}

TEST(CommitSignalTest, ACommitBeforeTheWaitWakesAtOnce) {
  CommitSignal signal;
  const uint64_t seen = signal.Generation();
  signal.Notify();  // lands between the reader's read and its wait
  auto listener = std::make_shared<CountingListener>();
  signal.NotifyOnce(seen, listener);
  EXPECT_EQ(listener->calls, 1);
}

TEST(CommitSignalTest, SkipsListenersThatAreGone) {
  CommitSignal signal;
  auto gone = std::make_shared<CountingListener>();
  signal.NotifyOnce(signal.Generation(), gone);
  gone.reset();
  auto alive = std::make_shared<CountingListener>();
  signal.NotifyOnce(signal.Generation(), alive);
  signal.Notify();
  EXPECT_EQ(alive->calls, 1);
  EXPECT_EQ(signal.Generation(), 1u);
}

}  // namespace
}  // namespace saga::outbox
