// gRPC health checking (grpc.health.v1.Health) and server reflection
// (grpc.reflection.v1alpha.ServerReflection) for every server, so generic
// gRPC tools (grpc_health_probe, grpcurl, load balancers) can check and call
// them.
//
// The health status, for "" (the server as a whole) and for each service
// name, is SERVING while the server's database answers and NOT_SERVING while
// it does not or once the server is draining at shutdown.
#pragma once

#include <grpcpp/server.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"

namespace saga::observability {

// Call once before building a server: turns on the default health service
// and the reflection service for every server built afterwards.
void EnableHealthAndReflection();

class HealthMonitor {
 public:
  // Probes with `probe` at once and then every `interval` on its own thread
  // and sets `server`'s health status for "" and `services` from the
  // result (OK: SERVING, any error: NOT_SERVING). Until the first probe
  // returns, a started server answers gRPC's defaults: SERVING for "",
  // NOT_FOUND for the service names. `server` must outlive the
  // monitor and have been built after EnableHealthAndReflection().
  HealthMonitor(grpc::Server* server, std::vector<std::string> services,
                std::function<absl::Status()> probe,
                std::chrono::milliseconds interval);
  // Stops probing.
  ~HealthMonitor();
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  // NOT_SERVING for good (graceful shutdown): load balancers stop sending
  // new calls while calls in flight finish.
  void Drain();

 private:
  void Run();
  void Update(const absl::Status& probed);

  grpc::Server* server_;
  const std::vector<std::string> services_;
  const std::function<absl::Status()> probe_;
  const std::chrono::milliseconds interval_;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  bool serving_ = false;   // GUARDED_BY(mu_); only the prober thread flips it
  bool known_ = false;     // GUARDED_BY(mu_); a status was set once
  std::thread prober_;
};

}  // namespace saga::observability
