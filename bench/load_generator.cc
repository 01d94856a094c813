// saga-bench-load: drives saga-orchestrator over its public gRPC API.
//
//   closed  C sagas in flight: each worker calls StartSaga with
//           await_timeout_ms, which answers once the saga ends, then starts
//           the next (--await separate: StartSaga, then AwaitSaga). Sagas
//           that end inside the measured window (after --warmup, for
//           --duration) count; their end-to-end latency is StartSaga sent ->
//           the saga's end answered. After
//           the window no saga is started and those in flight are awaited, so
//           the system is idle when the command returns.
//   start   starts --count sagas (C requests in flight) and returns once each
//           is acknowledged, without waiting for them to end.
//   participant  like closed, but each unit is one Participant.Execute call
//           straight to --target (a participant): the cost of a step's call
//           alone, to subtract from the saga's latency.
//
// Prints one line of key=value pairs on stdout (bench/run.sh reads it);
// failures are counted and the first few are described on stderr. Exits 1
// if any saga failed or ended in another status than --expect.
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "saga/v1/orchestrator.grpc.pb.h"
#include "saga/v1/participant.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string target;
  std::string mode = "closed";
  std::string saga_type = "appointment_booking";
  std::string input_json = R"({"patient_id":"p-1001","specialty":"cardiology",)"
                           R"("preferred_date":"2026-12-01"})";
  std::string expect = "COMPLETED";
  int concurrency = 16;
  double warmup_s = 2;
  double duration_s = 10;
  int64_t count = 1000;
  int channels = 2;
  int64_t await_timeout_ms = 120000;
  std::string await = "in-start";
};

// What every worker shares: the stubs, the clock window and the tallies.
class Run {
 public:
  explicit Run(const Options& options) : options_(options) {
    for (int i = 0; i < std::max(1, options.channels); ++i) {
      grpc::ChannelArguments args;
      // One TCP connection per channel, so the load spreads over several.
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      auto channel = grpc::CreateCustomChannel(
          options.target, grpc::InsecureChannelCredentials(), args);
      stubs_.push_back(saga::v1::SagaOrchestrator::NewStub(channel));
      participant_stubs_.push_back(saga::v1::Participant::NewStub(channel));
    }
    expected_ = saga::v1::SAGA_STATUS_UNSPECIFIED;
    saga::v1::SagaStatus_Parse("SAGA_STATUS_" + options.expect, &expected_);
  }

  const Options& options() const { return options_; }
  saga::v1::SagaOrchestrator::Stub& Stub(int worker) {
    return *stubs_[worker % stubs_.size()];
  }
  saga::v1::Participant::Stub& ParticipantStub(int worker) {
    return *participant_stubs_[worker % participant_stubs_.size()];
  }
  saga::v1::SagaStatus expected() const { return expected_; }

  void Begin() {
    begin_ = Clock::now();
    window_begin_ = begin_ + ToDuration(options_.warmup_s);
    window_end_ = window_begin_ + ToDuration(options_.duration_s);
  }
  Clock::time_point window_end() const { return window_end_; }

  // Whether a worker may start another saga.
  bool Open() {
    if (options_.mode == "start") {
      return started_.fetch_add(1) < options_.count;
    }
    return Clock::now() < window_end_;
  }

  void Ended(Clock::time_point started, Clock::time_point ended) {
    std::lock_guard lock(mu_);
    ++total_;
    if (ended >= window_begin_ && ended < window_end_) {
      latencies_us_.push_back(
          std::chrono::duration_cast<std::chrono::microseconds>(ended - started)
              .count());
    }
  }

  void Failed(const std::string& what) {
    std::lock_guard lock(mu_);
    if (++errors_ <= 5) std::fprintf(stderr, "saga failed: %s\n", what.c_str());
  }

  void WorkerIdle() {
    std::lock_guard lock(mu_);
    ++idle_workers_;
    changed_.notify_all();
  }

  // Waits until every worker is idle or `deadline` passes.
  bool WaitIdle(int workers, Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    return changed_.wait_until(lock, deadline,
                               [&] { return idle_workers_ == workers; });
  }

  // Prints the result line; returns the exit code.
  int Report() {
    std::lock_guard lock(mu_);
    const double elapsed =
        std::chrono::duration<double>(Clock::now() - begin_).count();
    if (options_.mode == "start") {
      std::printf("mode=start started=%lld seconds=%.3f errors=%lld\n",
                  static_cast<long long>(total_), elapsed,
                  static_cast<long long>(errors_));
      return errors_ == 0 ? 0 : 1;
    }
    std::sort(latencies_us_.begin(), latencies_us_.end());
    auto percentile_ms = [&](double p) {
      if (latencies_us_.empty()) return 0.0;
      size_t i = static_cast<size_t>(p * (latencies_us_.size() - 1) + 0.5);
      return latencies_us_[i] / 1000.0;
    };
    std::printf(
        "mode=%s concurrency=%d window_s=%.3f completed=%zu "
        "sagas_per_s=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f "
        "total=%lld errors=%lld cpu_ms=%.0f\n",
        options_.mode.c_str(), options_.concurrency, options_.duration_s,
        latencies_us_.size(), latencies_us_.size() / options_.duration_s,
        percentile_ms(0.50), percentile_ms(0.90), percentile_ms(0.99),
        percentile_ms(1.0), static_cast<long long>(total_),
        static_cast<long long>(errors_), CpuMs());
    return errors_ == 0 ? 0 : 1;
  }

 private:
  // CPU time (user + system) this process has used so far.
  static double CpuMs() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
    return ms(usage.ru_utime) + ms(usage.ru_stime);
  }

  static Clock::duration ToDuration(double seconds) {
    return std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(seconds));
  }

  const Options options_;
  std::vector<std::unique_ptr<saga::v1::SagaOrchestrator::Stub>> stubs_;
  std::vector<std::unique_ptr<saga::v1::Participant::Stub>> participant_stubs_;
  saga::v1::SagaStatus expected_;
  std::atomic<int64_t> started_{0};
  Clock::time_point begin_, window_begin_, window_end_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<int64_t> latencies_us_;
  int64_t total_ = 0;
  int64_t errors_ = 0;
  int idle_workers_ = 0;
};

// One saga at a time: StartSaga -> AwaitSaga -> next. Callbacks run on gRPC
// threads; a worker has at most one call in flight, so it needs no lock.
class Worker {
 public:
  Worker(Run* run, int index) : run_(run), index_(index) {}

  void Next() {
    if (!run_->Open()) {
      run_->WorkerIdle();
      return;
    }
    started_ = Clock::now();
    context_ = std::make_unique<grpc::ClientContext>();
    if (run_->options().mode == "participant") {
      step_request_.set_action("validate_patient");
      step_request_.set_idempotency_key("bench/" + std::to_string(index_) +
                                        "/" + std::to_string(++calls_));
      run_->ParticipantStub(index_).async()->Execute(
          context_.get(), &step_request_, &step_result_,
          [this](grpc::Status status) { OnStepDone(status); });
      return;
    }
    start_request_.set_saga_type(run_->options().saga_type);
    start_request_.set_input_json(run_->options().input_json);
    if (run_->options().mode == "closed" &&
        run_->options().await == "in-start") {
      start_request_.set_await_timeout_ms(run_->options().await_timeout_ms);
    }
    run_->Stub(index_).async()->StartSaga(
        context_.get(), &start_request_, &start_response_,
        [this](grpc::Status status) { OnStarted(status); });
  }

 private:
  void OnStarted(const grpc::Status& status) {
    if (!status.ok()) {
      run_->Failed("StartSaga: " + status.error_message());
      Next();
      return;
    }
    if (run_->options().mode == "start") {
      run_->Ended(started_, Clock::now());
      Next();
      return;
    }
    if (start_request_.await_timeout_ms() > 0) {
      await_request_.set_saga_id(start_response_.saga_id());
      await_response_ = start_response_.awaited();
      OnAwaited(grpc::Status::OK);
      return;
    }
    context_ = std::make_unique<grpc::ClientContext>();
    await_request_.set_saga_id(start_response_.saga_id());
    await_request_.set_timeout_ms(run_->options().await_timeout_ms);
    run_->Stub(index_).async()->AwaitSaga(
        context_.get(), &await_request_, &await_response_,
        [this](grpc::Status status) { OnAwaited(status); });
  }

  void OnStepDone(const grpc::Status& status) {
    if (!status.ok()) {
      run_->Failed("Execute: " + status.error_message());
    } else {
      run_->Ended(started_, Clock::now());
    }
    Next();
  }

  void OnAwaited(const grpc::Status& status) {
    const auto ended = Clock::now();
    if (!status.ok()) {
      run_->Failed("AwaitSaga " + await_request_.saga_id() + ": " +
                   status.error_message());
    } else if (!await_response_.reached() ||
               await_response_.saga().status() != run_->expected()) {
      run_->Failed("saga " + await_request_.saga_id() + " is " +
                   saga::v1::SagaStatus_Name(await_response_.saga().status()) +
                   (await_response_.reached() ? "" : " (await timed out)"));
    } else {
      run_->Ended(started_, ended);
    }
    Next();
  }

  Run* run_;
  const int index_;
  Clock::time_point started_;
  std::unique_ptr<grpc::ClientContext> context_;
  saga::v1::StartSagaRequest start_request_;
  saga::v1::StartSagaResponse start_response_;
  saga::v1::AwaitSagaRequest await_request_;
  saga::v1::AwaitSagaResponse await_response_;
  saga::v1::StepRequest step_request_;
  saga::v1::StepResult step_result_;
  int64_t calls_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"saga-bench-load: closed-loop load over the orchestrator API"};
  app.add_option("--target", options.target,
                 "orchestrator HOST:PORT (a participant's in participant "
                 "mode)")
      ->required();
  app.add_option("--mode", options.mode, "closed, start or participant")
      ->check(CLI::IsMember({"closed", "start", "participant"}))
      ->capture_default_str();
  app.add_option("--saga-type", options.saga_type)->capture_default_str();
  app.add_option("--input", options.input_json, "saga input (JSON)")
      ->capture_default_str();
  app.add_option("--expect", options.expect,
                 "status every saga must end in (closed mode)")
      ->capture_default_str();
  app.add_option("--concurrency,-c", options.concurrency, "sagas in flight")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--warmup", options.warmup_s, "unmeasured seconds first")
      ->capture_default_str();
  app.add_option("--duration", options.duration_s, "measured seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--count", options.count, "sagas to start (start mode)")
      ->capture_default_str();
  app.add_option("--channels", options.channels, "gRPC connections")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--await-timeout-ms", options.await_timeout_ms)
      ->capture_default_str();
  app.add_option("--await", options.await,
                 "closed mode: wait for the end in StartSaga (in-start) or "
                 "with AwaitSaga (separate)")
      ->check(CLI::IsMember({"in-start", "separate"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  Run run(options);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < options.concurrency; ++i) {
    workers.push_back(std::make_unique<Worker>(&run, i));
  }
  run.Begin();
  for (auto& worker : workers) worker->Next();
  // The window closes on its own (closed) or when the count is reached
  // (start); either way the workers then drain and go idle.
  const auto drain_deadline =
      (options.mode == "start" ? Clock::now() + std::chrono::hours(24)
                               : run.window_end()) +
      std::chrono::milliseconds(options.await_timeout_ms) +
      std::chrono::seconds(10);
  if (!run.WaitIdle(options.concurrency, drain_deadline)) {
    std::fprintf(stderr, "sagas still in flight at the drain deadline\n");
    run.Report();
    std::fflush(stdout);
    std::_Exit(1);  // workers still reference their calls
  }
  return run.Report();
}
