#include "tools/sagactl/commands.h"

#include <pwd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>

#include "orchestrator/api/request_checks.h"
#include "orchestrator/core/definition_loader.h"
#include "tools/sagactl/duration.h"
#include "tools/sagactl/exit_codes.h"
#include "tools/sagactl/history_export.h"

namespace saga::sagactl {

using std::chrono::milliseconds;

namespace {
constexpr int kMaxPageSize = 1000;
}  // namespace

std::string OperatorName() {
  if (const char* name = std::getenv("SAGACTL_OPERATOR");
      name != nullptr && *name != '\0') {
    return name;
  }
  if (const passwd* pw = getpwuid(geteuid()); pw != nullptr) {
    return pw->pw_name;
  }
  if (const char* user = std::getenv("USER"); user != nullptr) return user;
  return "uid " + std::to_string(geteuid());
}

v1::Operator Operator(const std::string& reason) {
  v1::Operator by;
  by.set_name(OperatorName());
  by.set_reason(reason);
  return by;
}

int64_t Context::NowUnixMs() const {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::Status Context::Print(const absl::StatusOr<std::string>& rendered) {
  if (!rendered.ok()) return rendered.status();
  out_ << *rendered;
  out_.flush();
  return absl::OkStatus();
}

std::string DurationValidator(const std::string& text) {
  absl::StatusOr<milliseconds> parsed = ParseDuration(text);
  return parsed.ok() ? "" : std::string(parsed.status().message());
}

std::string StatusValidator(const std::string& text) {
  absl::StatusOr<v1::SagaStatus> parsed = ParseSagaStatus(text);
  return parsed.ok() ? "" : std::string(parsed.status().message());
}

std::string SagaIdValidator(const std::string& text) {
  absl::Status valid = api::CheckSagaId("id", text);
  return valid.ok() ? "" : std::string(valid.message());
}

size_t TerminalColumns() {
  if (const char* columns = std::getenv("COLUMNS"); columns && *columns) {
    char* end = nullptr;
    const long value = std::strtol(columns, &end, 10);
    if (*end == '\0' && value > 0) return static_cast<size_t>(value);
  }
  winsize size{};
  if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0) {
    return size.ws_col;
  }
  return 0;
}

// The option was already checked by a CLI11 validator, so this cannot fail.
std::optional<milliseconds> TimeoutOption(const std::string& text) {
  if (text.empty()) return std::nullopt;
  absl::StatusOr<milliseconds> parsed = ParseDuration(text);
  return parsed.ok() ? std::optional<milliseconds>(*parsed) : std::nullopt;
}

absl::StatusOr<std::string> ReadTextFile(const std::string& path) {
  // A directory opens, and libstdc++ then throws from the first read.
  if (std::error_code ec; std::filesystem::is_directory(path, ec)) {
    return UsageError("cannot read " + path +
                      ": it is a directory; name the files (e.g. " + path +
                      "/*.yaml)");
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return UsageError("cannot read " + path + ": " + std::strerror(errno));
  }
  return std::string(std::istreambuf_iterator<char>(file),
                     std::istreambuf_iterator<char>());
}

absl::StatusOr<core::SagaDefinition> LoadDefinitionArg(
    const std::string& path) {
  absl::StatusOr<std::string> text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<core::SagaDefinition> definition =
      core::ParseDefinition(*text, path);
  if (!definition.ok()) {
    return UsageError(std::string(definition.status().message()));
  }
  return definition;
}

absl::StatusOr<v1::ListSagasResponse> CollectSagas(Context& ctx,
                                                   v1::ListSagasRequest request,
                                                   int limit, bool all) {
  v1::ListSagasResponse collected;
  while (true) {
    int remaining = limit - collected.sagas_size();
    request.set_page_size(all ? kMaxPageSize
                              : std::min(remaining, kMaxPageSize));
    absl::StatusOr<v1::ListSagasResponse> page =
        ctx.client().ListSagas(request);
    if (!page.ok()) return page.status();
    for (v1::Saga& saga : *page->mutable_sagas()) {
      if (!all && collected.sagas_size() >= limit) break;
      *collected.add_sagas() = std::move(saga);
    }
    collected.set_next_page_token(page->next_page_token());
    if (page->next_page_token().empty()) break;
    if (!all && collected.sagas_size() >= limit) break;
    if (page->next_page_token() == request.page_token()) {
      return absl::InternalError(
          "the server returned the same page token twice: " +
          page->next_page_token());
    }
    request.set_page_token(page->next_page_token());
  }
  return collected;
}

absl::StatusOr<core::History> FetchHistory(Context& ctx, const v1::Saga& saga) {
  absl::StatusOr<v1::GetSagaHistoryResponse> history =
      ctx.client().GetSagaHistory(saga.saga_id());
  if (!history.ok()) return history.status();
  absl::StatusOr<v1::GetDefinitionResponse> definition =
      ctx.client().GetDefinition(saga.saga_type(), saga.definition_version());
  if (!definition.ok()) return definition.status();
  return HistoryFromApi(saga, *history, *definition);
}

}  // namespace saga::sagactl
