#include "orchestrator/store/postgres/database_probe.h"

#include <pqxx/pqxx>

namespace saga::store {
namespace {

// A probe must answer within its interval even when packets are dropped.
constexpr char kConnectTimeoutSeconds[] = "2";

std::string WithConnectTimeout(const std::string& dsn) {
  if (dsn.find("connect_timeout") != std::string::npos) return dsn;
  if (dsn.find("://") == std::string::npos) {
    return dsn + " connect_timeout=" + kConnectTimeoutSeconds;
  }
  return dsn + (dsn.find('?') == std::string::npos ? "?" : "&") +
         "connect_timeout=" + kConnectTimeoutSeconds;
}

// libpq's messages span several lines; a health log line wants one.
std::string OneLine(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t') {
      if (!out.empty() && out.back() != ' ') out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

struct DatabaseProbe::Connection {
  explicit Connection(const std::string& dsn) : connection(dsn) {}
  pqxx::connection connection;
};

DatabaseProbe::DatabaseProbe(std::string dsn) : dsn_(WithConnectTimeout(dsn)) {}

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

}  // namespace saga::store
