// The streaming RPCs: WatchSaga (a reactor over the engine and the store)
// and WatchEvents (event_streams.h).
#include "orchestrator/api/orchestrator_service.h"
// Boost 1.74 Asio needs <utility> first under C++20.
#include <utility>
//
#include <boost/asio/steady_timer.hpp>
#include <deque>

#include "orchestrator/api/proto_conversion.h"
#include "orchestrator/api/read_pool.h"
#include "orchestrator/api/request_checks.h"
#include "orchestrator/api/status_mapping.h"

namespace saga::api {
namespace {

// A stream that ends at once with an error (bad request).
template <typename Message>
class RefusedStream final : public grpc::ServerWriteReactor<Message> {
 public:
  explicit RefusedStream(grpc::Status status) {
    this->Finish(std::move(status));
  }
  void OnDone() override { delete this; }
};

}  // namespace

// Streams a saga's history, then its new events as the engine records them,
// until the saga ends or the client goes away. One operation at a time:
// load -> write each event -> wait for progress -> load ...
class OrchestratorService::WatchReactor final
    : public grpc::ServerWriteReactor<v1::SagaEvent> {
 public:
  WatchReactor(OrchestratorService* service, std::string saga_id,
               int64_t from_seq)
      : service_(service), saga_id_(std::move(saga_id)), cursor_(from_seq) {
    Load();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    cursor_ = pending_.front().seq();
    pending_.pop_front();
    WriteNext();
  }

  void OnCancel() override { cancelled_ = true; }
  void OnDone() override { delete this; }

 private:
  // How long one wait for progress lasts before the stream checks that the
  // client is still there.
  static constexpr auto kPollEvery = std::chrono::seconds(5);

  void Load() {
    service_->reads_->Post([this] {
      if (cancelled_) {
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
        return;
      }
      auto record = service_->store_->Load(saga_id_);
      if (!record.ok()) {
        Finish(ToGrpcStatus(record.status()));
        return;
      }
      auto definition = service_->definitions_->Version(
          record->summary.saga_type, record->summary.definition_version);
      if (!definition.ok()) {
        Finish(ToGrpcStatus(definition.status()));
        return;
      }
      for (const auto& event : record->events) {
        if (event.seq > cursor_) {
          pending_.push_back(EventToProto(**definition, event));
        }
      }
      ended_ = core::IsTerminal(record->summary.status);
      WriteNext();
    });
  }

  void WriteNext() {
    if (!pending_.empty()) {
      StartWrite(&pending_.front());
      return;
    }
    if (ended_) {
      Finish(grpc::Status::OK);
      return;
    }
    if (service_->engine_->Stopping()) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the orchestrator is shutting down"));
      return;
    }
    service_->engine_->AwaitProgress(
        saga_id_, cursor_, kPollEvery,
        [this](absl::StatusOr<engine::AwaitOutcome> outcome) {
          if (outcome.ok() && *outcome == engine::AwaitOutcome::kNotActive) {
            // Recorded as running but not driven here: look again shortly.
            auto timer = std::make_shared<boost::asio::steady_timer>(
                service_->reads_->executor(), kPollEvery);
            timer->async_wait(
                [this, timer](const boost::system::error_code&) { Load(); });
            return;
          }
          Load();
        });
  }

  OrchestratorService* service_;
  const std::string saga_id_;
  int64_t cursor_;
  std::deque<v1::SagaEvent> pending_;
  bool ended_ = false;
  std::atomic<bool> cancelled_{false};
};

grpc::ServerWriteReactor<v1::SagaEvent>* OrchestratorService::WatchSaga(
    grpc::CallbackServerContext* context, const v1::WatchSagaRequest* request) {
  if (auto caller = Authorize(*context, "WatchSaga"); !caller.ok()) {
    return new RefusedStream<v1::SagaEvent>(ToGrpcStatus(caller.status()));
  }
  if (auto valid = CheckSagaId("saga_id", request->saga_id()); !valid.ok()) {
    return new RefusedStream<v1::SagaEvent>(ToGrpcStatus(valid));
  }
  return new WatchReactor(this, request->saga_id(),
                          std::max<int64_t>(0, request->from_seq()));
}

grpc::ServerWriteReactor<v1::OutboxEvent>* OrchestratorService::WatchEvents(
    grpc::CallbackServerContext* context,
    const v1::WatchEventsRequest* request) {
  if (auto caller = Authorize(*context, "WatchEvents"); !caller.ok()) {
    return new RefusedStream<v1::OutboxEvent>(ToGrpcStatus(caller.status()));
  }
  if (options_.events == nullptr) {
    return new RefusedStream<v1::OutboxEvent>(
        grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                     "this orchestrator does not serve the outbox stream"));
  }
  if (auto valid = FirstError(
          {CheckNotNegative("from_position", request->from_position(),
                            "0: from the start"),
           CheckText("saga_type", request->saga_type(), kMaxNameLength),
           CheckText("type", request->type(), kMaxNameLength)});
      !valid.ok()) {
    return new RefusedStream<v1::OutboxEvent>(ToGrpcStatus(valid));
  }
  return options_.events->Open(*request);
}

}  // namespace saga::api
