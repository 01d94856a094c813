// The web console's HTTP(S) server (--console-listen): the embedded pages
// (static_files.h) on GET, and the API (api_gateway.h) on
// POST /api/v1/<Method>. Every answer carries the security headers
// (security_headers.h). Built on Boost.Beast over Boost.Asio, with
// asio::ssl for HTTPS.
//
// Bounded: at most max_connections at once (further ones are closed at
// once), a request (or the wait for the next one on a kept-alive
// connection) must arrive within read_timeout, bodies above max_body_bytes
// are refused (413) unread. API requests must say Content-Type:
// application/json (415 otherwise): a cross-site HTML form cannot send
// that, so a page elsewhere cannot make a browser call the API. On a
// loopback address, API requests must name a loopback host (403
// otherwise): a site rebinding its DNS name to 127.0.0.1 cannot use it.
//
// Logs one line per request: method, path without the query, status and
// duration; never a header, a body or a token.
//
// Thread-safety: one I/O thread serves every connection; Start and Stop
// from one thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "security/tls.h"

namespace grpc {
class Channel;
}

namespace saga::console {

struct ConsoleOptions {
  std::string listen;  // HOST:PORT; port 0 picks a free one
  // HTTPS with this certificate when enabled; a client CA asks browsers for
  // a client certificate (and require_client_cert refuses those without).
  security::ServerTls tls;
  size_t max_body_bytes = 4 << 20;
  int max_connections = 256;
  std::chrono::milliseconds read_timeout{30000};
};

class ConsoleServer {
 public:
  // Binds options.listen and serves, calling the API through `channel` (the
  // orchestrator's gRPC server, e.g. its InProcessChannel). InvalidArgument
  // for a malformed address or a TLS file that does not load; Unavailable
  // if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<ConsoleServer>> Start(
      ConsoleOptions options, std::shared_ptr<grpc::Channel> channel);

  // Stops if still serving.
  ~ConsoleServer();
  ConsoleServer(const ConsoleServer&) = delete;
  ConsoleServer& operator=(const ConsoleServer&) = delete;

  // Stops accepting, cancels the API calls in flight (their answers go
  // out), then closes every connection. Idempotent.
  void Stop();

  // "http://HOST:PORT/" (or https) with the port actually bound.
  const std::string& url() const;
  int port() const;

  struct Impl;

 private:
  explicit ConsoleServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace saga::console
