#include "observability/health.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

namespace saga::observability {

void EnableHealthAndReflection() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
}

HealthMonitor::HealthMonitor(grpc::Server* server,
                             std::vector<std::string> services,
                             std::function<absl::Status()> probe,
                             std::chrono::milliseconds interval)
    : server_(server),
      services_(std::move(services)),
      probe_(std::move(probe)),
      interval_(interval) {
  // The first answer is known before the constructor returns, so a server
  // never reports SERVING (gRPC's default) without having checked.
  Update(probe_());
  prober_ = std::thread([this] { Run(); });
}

HealthMonitor::~HealthMonitor() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  prober_.join();
}

void HealthMonitor::Drain() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  // Sets every status to NOT_SERVING and ignores later updates.
  server_->GetHealthCheckService()->Shutdown();
  spdlog::info("health: NOT_SERVING (draining)");
}

void HealthMonitor::Run() {
  while (true) {
    {
      std::unique_lock lock(mu_);
      if (wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
        return;
      }
    }
    Update(probe_());
  }
}

void HealthMonitor::Update(const absl::Status& probed) {
  const bool serving = probed.ok();
  {
    std::lock_guard lock(mu_);
    if (stopping_ || (known_ && serving == serving_)) return;
    known_ = true;
    serving_ = serving;
  }
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  // One update per name: a watcher hears of each change exactly once.
  health->SetServingStatus("", serving);
  for (const std::string& service : services_) {
    health->SetServingStatus(service, serving);
  }
  if (serving) {
    spdlog::info("health: SERVING (database reachable)");
  } else {
    spdlog::warn("health: NOT_SERVING (database unreachable: {})",
                 probed.ToString());
  }
}

}  // namespace saga::observability
