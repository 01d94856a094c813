#include "orchestrator/api/call_metadata.h"

#include <spdlog/spdlog.h>

#include <string>

#include "observability/logging.h"
#include "observability/trace_context.h"

namespace saga::api {
namespace {

// gRPC lower-cases metadata keys.
constexpr char kAuthorizationKey[] = "authorization";

}  // namespace

std::vector<std::string_view> AuthorizationValues(
    const grpc::ServerContextBase& context) {
  std::vector<std::string_view> values;
  const auto [first, last] =
      context.client_metadata().equal_range(kAuthorizationKey);
  for (auto it = first; it != last; ++it) {
    values.emplace_back(it->second.data(), it->second.size());
  }
  return values;
}

core::TraceContext IncomingTrace(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  auto value = [&](const char* key) {
    auto it = metadata.find(key);
    return it == metadata.end()
               ? std::string_view()
               : std::string_view(it->second.data(), it->second.size());
  };
  const std::string_view header = value(observability::kTraceParentKey);
  if (header.empty()) return {};
  auto parent = observability::ParseTraceParent(header);
  if (!parent) {
    spdlog::debug("ignoring a malformed traceparent: a new trace starts");
    return {};
  }
  return {parent->ToString(), observability::SanitizeTraceState(
                                  value(observability::kTraceStateKey))};
}

void LogRefusal(const grpc::ServerContextBase& context, std::string_view method,
                const absl::Status& refusal) {
  observability::Log(spdlog::level::warn, "call refused",
                     {{"rpc", method},
                      {"peer", context.peer()},
                      {"code", absl::StatusCodeToString(refusal.code())},
                      {"reason", std::string(refusal.message())}});
}

}  // namespace saga::api
