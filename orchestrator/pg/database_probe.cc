#include "orchestrator/pg/database_probe.h"

#include <pqxx/pqxx>

#include "orchestrator/pg/connection_pool.h"
#include "orchestrator/pg/errors.h"

namespace saga::pg {
namespace {

// A probe must answer within its interval even when packets are dropped.
constexpr int kConnectTimeoutSeconds = 2;

}  // namespace

struct DatabaseProbe::Connection {
  explicit Connection(const std::string& dsn) : connection(dsn) {}
  pqxx::connection connection;
};

DatabaseProbe::DatabaseProbe(std::string dsn)
    : dsn_(WithConnectTimeout(dsn, kConnectTimeoutSeconds)) {}

DatabaseProbe::~DatabaseProbe() = default;

absl::Status DatabaseProbe::Check() {
  try {
    if (!connection_) connection_ = std::make_unique<Connection>(dsn_);
    pqxx::nontransaction probe(connection_->connection);
    probe.exec("SELECT 1");
    return absl::OkStatus();
  } catch (const std::exception& e) {
    connection_.reset();
    return absl::UnavailableError(OneLine(e.what()));
  }
}

}  // namespace saga::pg
