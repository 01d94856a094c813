#include "observability/metrics_endpoint.h"

#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <exception>

#include "absl/status/status.h"

namespace saga::observability {

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    const std::string& address,
    std::shared_ptr<prometheus::Registry> registry) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return absl::InvalidArgumentError("metrics address '" + address +
                                      "' is not HOST:PORT");
  }
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    // One thread is plenty for a scrape every few seconds.
    exposer = std::make_unique<prometheus::Exposer>(address, 1);
  } catch (const std::exception& e) {
    return absl::UnavailableError("cannot serve metrics on " + address + ": " +
                                  e.what());
  }
  const std::vector<int> ports = exposer->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError("cannot serve metrics on " + address);
  }
  exposer->RegisterCollectable(registry);
  std::string bound =
      address.substr(0, colon) + ":" + std::to_string(ports.front());
  return std::unique_ptr<MetricsEndpoint>(new MetricsEndpoint(
      std::move(exposer), std::move(registry), std::move(bound)));
}

MetricsEndpoint::MetricsEndpoint(std::unique_ptr<prometheus::Exposer> exposer,
                                 std::shared_ptr<prometheus::Registry> registry,
                                 std::string address)
    : exposer_(std::move(exposer)),
      registry_(std::move(registry)),
      address_(std::move(address)) {}

MetricsEndpoint::~MetricsEndpoint() = default;

}  // namespace saga::observability
