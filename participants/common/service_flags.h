// What every service process of the example set (the participants and
// saga-bookings-view) takes on its command line besides its own flags:
// logging, the metrics endpoint and server TLS; and the signals that stop it.
#pragma once

#include <signal.h>

#include <CLI/CLI.hpp>
#include <string>

#include "security/tls.h"

namespace saga::participants {

struct ServiceFlags {
  std::string log_level = "info";
  std::string log_format = "text";
  std::string metrics_listen;
  saga::security::ServerTls tls;
};

// Adds --log-level, --log-format, --metrics-listen and the --tls-* flags
// (with their SAGA_TLS_* environment variables) to `app`, bound to `flags`.
// `client_cert_help` describes --tls-require-client-cert.
void AddServiceFlags(CLI::App& app, ServiceFlags& flags,
                     const std::string& client_cert_help);

// SIGTERM and SIGINT: blocked at start, then waited for.
sigset_t ShutdownSignals();

}  // namespace saga::participants
