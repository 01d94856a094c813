#include "participants/common/service_flags.h"

namespace saga::participants {

void AddServiceFlags(CLI::App& app, ServiceFlags& flags,
                     const std::string& client_cert_help) {
  app.add_option("--log-level", flags.log_level,
                 "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember(
          {"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_option("--log-format", flags.log_format,
                 "text, or json for one JSON object per line")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--metrics-listen", flags.metrics_listen,
                 "HOST:PORT to serve Prometheus metrics on (/metrics); port 0 "
                 "picks a free one; empty: no metrics endpoint");
  app.add_option("--tls-cert", flags.tls.cert_file,
                 "Server certificate chain (PEM); turns on TLS")
      ->envname("SAGA_TLS_CERT");
  app.add_option("--tls-key", flags.tls.key_file,
                 "Private key of --tls-cert (PEM)")
      ->envname("SAGA_TLS_KEY");
  app.add_option("--tls-client-ca", flags.tls.client_ca_file,
                 "CA bundle (PEM) that client certificates must chain to")
      ->envname("SAGA_TLS_CLIENT_CA");
  app.add_flag("--tls-require-client-cert", flags.tls.require_client_cert,
               client_cert_help)
      ->envname("SAGA_TLS_REQUIRE_CLIENT_CERT");
}

sigset_t ShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace saga::participants
