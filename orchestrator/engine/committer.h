// The engine's writer: batches from many sagas queue here, and a few writer
// threads each take whatever is queued and commit it as one group
// (SagaStore::CreateGroup / AppendGroup: one transaction, one durable
// commit), then hand every result back in one delivery. LevelDB's writer
// queue made asynchronous: no thread blocks per write, so a group holds
// every transition that is ready rather than one per waiting thread, and a
// commit costs one thread hand-off each way instead of one per write.
//
// Under light load a write commits alone and at once (an idle writer takes
// it: nobody waits for a timer); under load the next group forms while the
// writers wait for their fsync.
//
// Thread-safety: Create and Append may be called from any thread. Results
// are delivered through `deliver` (the engine posts them to its thread);
// the results of one group arrive in one delivery, in submission order.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "orchestrator/store/store.h"
#include "orchestrator/sync/mutex.h"

namespace saga::engine {

struct CommitterOptions {
  // Groups committing at once, each on its own thread (and connection).
  int writers = 2;
  // Most batches one group carries.
  size_t max_group = 512;
};

class Committer {
 public:
  using CreateDone = std::function<void(absl::StatusOr<store::CreateResult>)>;
  using AppendDone = std::function<void(absl::Status)>;
  // Runs `work` where the results belong (e.g. posts it to an io_context).
  using Deliver = std::function<void(std::function<void()> work)>;

  // `store` must outlive the committer.
  Committer(store::SagaStore* store, Deliver deliver, CommitterOptions options);
  // Stop().
  ~Committer();
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

  // Starts the writer threads.
  void Start();
  // Commits everything queued so far, delivers the results and joins the
  // writers. Writes submitted afterwards are refused with Unavailable.
  void Stop();

  void Create(std::shared_ptr<const store::AppendBatch> batch, CreateDone done);
  void Append(std::shared_ptr<const store::AppendBatch> batch, AppendDone done);

 private:
  template <typename Done>
  struct Pending {
    std::shared_ptr<const store::AppendBatch> batch;
    Done done;
  };

  void Run();
  template <typename Done>
  void Refuse(Done done);
  template <typename Done, typename Commit>
  void CommitGroup(std::vector<Pending<Done>> group, Commit commit);

  store::SagaStore* const store_;
  const Deliver deliver_;
  const CommitterOptions options_;

  sync::Mutex mu_;
  sync::CondVar ready_;
  std::vector<Pending<CreateDone>> creates_ ABSL_GUARDED_BY(mu_);
  std::vector<Pending<AppendDone>> appends_ ABSL_GUARDED_BY(mu_);
  bool prefer_creates_ ABSL_GUARDED_BY(mu_) = true;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> writers_;
};

}  // namespace saga::engine
