#include "participants/common/participant_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace saga::participants {
namespace {

const prometheus::Histogram::BucketBoundaries kBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

}  // namespace

ParticipantMetrics::ParticipantMetrics(
    std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)),
      requests_(prometheus::BuildCounter()
                    .Name("saga_participant_requests_total")
                    .Help("Execute and Compensate requests answered, by rpc, "
                          "action and outcome")
                    .Register(*registry_)),
      replays_(prometheus::BuildCounter()
                   .Name("saga_participant_replays_total")
                   .Help("Requests answered from the idempotency record (a "
                         "repeated key), by rpc and action")
                   .Register(*registry_)),
      duration_(prometheus::BuildHistogram()
                    .Name("saga_participant_request_duration_seconds")
                    .Help("Time to answer a request, by rpc and action")
                    .Register(*registry_)) {}

ParticipantMetrics::~ParticipantMetrics() = default;

void ParticipantMetrics::RequestFinished(const std::string& rpc,
                                         const std::string& action,
                                         const std::string& outcome,
                                         bool replayed, double seconds) {
  requests_.Add({{"rpc", rpc}, {"action", action}, {"outcome", outcome}})
      .Increment();
  if (replayed) replays_.Add({{"rpc", rpc}, {"action", action}}).Increment();
  duration_.Add({{"rpc", rpc}, {"action", action}}, kBuckets).Observe(seconds);
}

}  // namespace saga::participants
