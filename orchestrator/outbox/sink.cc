#include "orchestrator/outbox/sink.h"

#include <charconv>

#include "orchestrator/outbox/file_sink.h"
#include "orchestrator/outbox/http_sink.h"

namespace saga::outbox {
namespace {

constexpr std::string_view kHttp = "http://";
constexpr std::string_view kFile = "file:";

absl::Status Invalid(std::string_view text, const std::string& why) {
  return absl::InvalidArgumentError("--outbox-sink '" + std::string(text) +
                                    "': " + why);
}

}  // namespace

absl::StatusOr<SinkSpec> ParseSinkSpec(std::string_view text) {
  SinkSpec spec;
  if (text.starts_with(kFile)) {
    spec.kind = SinkSpec::Kind::kFile;
    spec.path = std::string(text.substr(kFile.size()));
    if (spec.path.empty()) return Invalid(text, "the file path is empty");
    return spec;
  }
  if (!text.starts_with(kHttp)) {
    return Invalid(text,
                   "expected http://HOST[:PORT][/PATH] or file:PATH (https is "
                   "not supported: put a TLS-terminating proxy in front)");
  }
  std::string_view rest = text.substr(kHttp.size());
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) spec.target = rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    return Invalid(text, "credentials in the URL are not supported");
  }
  // [v6 address] or host, then an optional :port.
  std::string_view port;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return Invalid(text, "unterminated [IPv6 address]");
    }
    spec.host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) {
      return Invalid(text, "expected :PORT after the IPv6 address");
    }
    if (!after.empty()) port = after.substr(1);
  } else {
    const size_t colon = authority.rfind(':');
    spec.host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (spec.host.empty()) return Invalid(text, "the host is empty");
  if (!port.empty() || authority.ends_with(':')) {
    unsigned value = 0;
    auto [end, error] =
        std::from_chars(port.data(), port.data() + port.size(), value);
    if (error != std::errc() || end != port.data() + port.size() ||
        value == 0 || value > 65535) {
      return Invalid(text, "the port must be a number from 1 to 65535");
    }
    spec.port = static_cast<uint16_t>(value);
  }
  return spec;
}

absl::StatusOr<std::unique_ptr<Sink>> MakeSink(
    const SinkSpec& spec, std::chrono::milliseconds timeout) {
  if (spec.kind == SinkSpec::Kind::kFile) return FileSink::Open(spec.path);
  return std::unique_ptr<Sink>(std::make_unique<HttpSink>(spec, timeout));
}

}  // namespace saga::outbox
