#include "orchestrator/engine/lease_keeper.h"

#include <spdlog/spdlog.h>

#include "observability/logging.h"

namespace saga::engine {

namespace asio = boost::asio;
using observability::Log;
using std::chrono::milliseconds;

LeaseKeeper::LeaseKeeper(asio::io_context& io, asio::thread_pool& db,
                         store::SagaStore* store, LeaseOptions options,
                         Adopt adopt)
    : io_(io),
      db_(db),
      store_(store),
      options_(std::move(options)),
      adopt_(std::move(adopt)),
      renew_timer_(io),
      claim_timer_(io) {}

void LeaseKeeper::Start() {
  ScheduleRenewal();
  ScheduleClaim(options_.claim_interval);
}

absl::StatusOr<size_t> LeaseKeeper::ClaimOnce() {
  auto claimed = store_->Claim(options_.instance_id, options_.ttl,
                               options_.claim_batch, claim_after_);
  if (!claimed.ok()) return claimed.status();
  const size_t count = claimed->size();
  // A full batch continues after its last saga; a short one ends the pass,
  // and the next starts from the first id again.
  claim_after_ = count == static_cast<size_t>(options_.claim_batch)
                     ? claimed->back().summary.saga_id
                     : std::string();
  if (count > 0) {
    Log(spdlog::level::info, "sagas claimed",
        {{"instance", options_.instance_id},
         {"sagas", static_cast<int64_t>(count)}});
    adopt_(*std::move(claimed));
  }
  return count;
}

void LeaseKeeper::ScheduleRenewal() {
  // A third of the TTL leaves two renewals' worth of slack for a slow or
  // briefly unreachable database.
  renew_timer_.expires_after(options_.ttl / 3);
  renew_timer_.async_wait([this](const boost::system::error_code& error) {
    if (error) return;
    asio::post(db_, [this] {
      auto renewed = store_->RenewLeases(options_.instance_id, options_.ttl);
      if (!renewed.ok()) {
        // Retried at the next tick, well before the leases expire.
        Log(spdlog::level::warn, "lease renewal failed",
            {{"instance", options_.instance_id},
             {"error", renewed.status().ToString()}});
      }
      asio::post(io_, [this] { ScheduleRenewal(); });
    });
  });
}

void LeaseKeeper::ScheduleClaim(milliseconds delay) {
  claim_timer_.expires_after(delay);
  claim_timer_.async_wait([this](const boost::system::error_code& error) {
    if (error || !claiming_) return;
    asio::post(db_, [this] {
      auto claimed =
          claiming_ && !held_ ? ClaimOnce() : absl::StatusOr<size_t>(0);
      if (!claimed.ok()) {
        Log(spdlog::level::warn, "claiming sagas failed",
            {{"instance", options_.instance_id},
             {"error", claimed.status().ToString()}});
      }
      const bool full =
          claimed.ok() && *claimed == static_cast<size_t>(options_.claim_batch);
      asio::post(io_, [this, full] {
        ScheduleClaim(full ? milliseconds(0) : options_.claim_interval);
      });
    });
  });
}

}  // namespace saga::engine
