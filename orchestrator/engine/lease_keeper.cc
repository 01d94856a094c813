#include "orchestrator/engine/lease_keeper.h"

#include <spdlog/spdlog.h>

#include "observability/logging.h"

namespace saga::engine {

namespace asio = boost::asio;
using observability::Log;
using std::chrono::milliseconds;

LeaseKeeper::LeaseKeeper(asio::io_context& io, asio::thread_pool& db,
                         store::SagaStore* store, LeaseOptions options,
                         Adopt adopt, Renewed renewed)
    : io_(io),
      db_(db),
      store_(store),
      options_(std::move(options)),
      adopt_(std::move(adopt)),
      renewed_(std::move(renewed)),
      surely_held_until_((std::chrono::steady_clock::now() + options_.ttl -
                          options_.SafetyMargin())
                             .time_since_epoch()
                             .count()),
      renew_timer_(io),
      claim_timer_(io) {}

void LeaseKeeper::Start() {
  ScheduleRenewal();
  ScheduleClaim(options_.claim_interval);
}

absl::StatusOr<size_t> LeaseKeeper::ClaimOnce() {
  const uint64_t generation = Generation();
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
    adopt_(*std::move(claimed), generation);
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
      // The database stamps the leases at or after this moment.
      const auto started = std::chrono::steady_clock::now();
      auto renewed = store_->RenewLeases(options_.instance_id, options_.ttl);
      if (renewed.ok()) {
        // Only renewals write these two, one renewal at a time;
        // the generation moves first, so a reader that sees the new bound
        // sees the new generation too.
        if (started >= SurelyHeldUntil()) {
          ++generation_;
          Log(spdlog::level::warn,
              "leases renewed after they may have lapsed; each saga's lease "
              "is confirmed again before its next participant call",
              {{"instance", options_.instance_id}});
        }
        surely_held_until_ = (started + options_.ttl - options_.SafetyMargin())
                                 .time_since_epoch()
                                 .count();
      } else {
        // Retried at the next tick, well before the leases expire.
        Log(spdlog::level::warn, "lease renewal failed",
            {{"instance", options_.instance_id},
             {"error", renewed.status().ToString()}});
      }
      asio::post(io_, [this, ok = renewed.ok()] {
        if (ok && renewed_) renewed_();
        ScheduleRenewal();
      });
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
