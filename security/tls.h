// TLS for gRPC servers and channels from PEM files. Plaintext stays the
// default: an empty configuration means an insecure server or channel.
//
// A server with a certificate serves TLS; given a client CA it also asks
// clients for a certificate and verifies any they present, and with
// require_client_cert it refuses clients without a valid one (mutual TLS).
// A channel with a CA bundle verifies the server's certificate against it
// (the certificate must name the address dialled: DNS name or IP SAN), and
// presents a client certificate when one is given.
//
// Files are read and checked once, when the credentials are made: a missing
// file, a PEM that does not parse or a key that does not belong to its
// certificate is an InvalidArgument naming the file.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace grpc {
class ServerCredentials;
class ChannelCredentials;
}  // namespace grpc

namespace saga::security {

struct ServerTls {
  std::string cert_file;       // certificate chain; empty: plaintext
  std::string key_file;        // its private key
  std::string client_ca_file;  // CA bundle client certificates must chain to
  bool require_client_cert = false;  // refuse clients without one (mTLS)

  bool enabled() const { return !cert_file.empty(); }
  bool operator==(const ServerTls&) const = default;
};

struct ClientTls {
  std::string ca_file;    // CA bundle for the server's certificate; empty:
                          // plaintext
  std::string cert_file;  // client certificate for mutual TLS (optional)
  std::string key_file;   // its private key

  bool enabled() const { return !ca_file.empty(); }
  bool operator==(const ClientTls&) const = default;
};

// Whether the settings fit together (a certificate needs its key, client
// verification needs a server certificate, ...), without reading files.
// InvalidArgument says what is missing.
absl::Status CheckServerTls(const ServerTls& tls);
absl::Status CheckClientTls(const ClientTls& tls);

// Insecure credentials when !tls.enabled().
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTls& tls);
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeChannelCredentials(const ClientTls& tls);

// For start-up logs: "plaintext", "TLS", "TLS, client certificates verified"
// or "mutual TLS (client certificate required)".
std::string Describe(const ServerTls& tls);
std::string Describe(const ClientTls& tls);

}  // namespace saga::security
