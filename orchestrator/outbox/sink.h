// Where the dispatcher delivers outbox messages, chosen by --outbox-sink:
//   http://HOST[:PORT][/PATH]  POST each batch as {"messages":[...]} (a
//                              webhook); any 2xx answer accepts the batch
//   file:PATH                  append one JSON line per message and fsync
// (message_json.h has the message form.)
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "orchestrator/store/outbox_store.h"

namespace saga::outbox {

class Sink {
 public:
  virtual ~Sink() = default;

  // Delivers `entries` (in stream order). OK only once the destination
  // holds every one of them (a 2xx answer; written and fsynced); on an
  // error any part of the batch may or may not have arrived, and the
  // dispatcher sends the whole batch again. Called from one thread.
  virtual absl::Status Deliver(
      const std::vector<store::OutboxEntry>& entries) = 0;

  // The destination for logs, e.g. "http://127.0.0.1:8080/hook".
  virtual std::string Describe() const = 0;
};

struct SinkSpec {
  enum class Kind { kHttp, kFile };
  Kind kind = Kind::kHttp;
  // kHttp: where to connect and the request target ("/" when none given).
  std::string host;
  uint16_t port = 80;
  std::string target = "/";
  // kFile: the file to append to.
  std::string path;
};

// Parses a --outbox-sink value. InvalidArgument naming what is wrong: an
// unknown scheme (https is not supported: put a TLS proxy in front),
// credentials in the URL, a bad port, an empty host or path.
absl::StatusOr<SinkSpec> ParseSinkSpec(std::string_view text);

// The sink for `spec`. A file sink opens its file now (an error if it
// cannot); an HTTP sink connects per batch, each exchange bounded by
// `timeout`.
absl::StatusOr<std::unique_ptr<Sink>> MakeSink(
    const SinkSpec& spec, std::chrono::milliseconds timeout);

}  // namespace saga::outbox
