#include "tools/sagactl/cli.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "nlohmann/json.hpp"
#include "orchestrator/core/definition_loader.h"
#include "orchestrator/core/history_file.h"
#include "orchestrator/core/replay.h"
#include "orchestrator/core/strict_json.h"
#include "tools/sagactl/client.h"
#include "tools/sagactl/duration.h"
#include "tools/sagactl/exit_codes.h"
#include "tools/sagactl/history_export.h"
#include "tools/sagactl/render.h"
#include "tools/sagactl/replay_report.h"

namespace saga::sagactl {
namespace {

using std::chrono::milliseconds;

constexpr char kDefaultAddress[] = "127.0.0.1:50051";
constexpr int kDefaultListLimit = 50;
constexpr int kMaxPageSize = 1000;

struct GlobalOptions {
  std::string address = kDefaultAddress;
  std::string output = "table";
  security::ClientTls tls;
  std::string token;
  std::string token_file;
};

struct StartOptions {
  std::string type;
  std::string input;
  std::string idempotency_key;
  bool wait = false;
  std::string timeout;
};

struct ListOptions {
  std::string status;
  std::string type;
  std::string since;
  int limit = kDefaultListLimit;
  bool all = false;
};

struct AwaitOptions {
  std::string id;
  std::string timeout;
  std::string step;
};

struct CancelOptions {
  std::string id;
  std::string reason;
};

struct RepairOptions {
  std::string id;
  std::string step;
  std::string reason;
};

struct EventsOptions {
  int64_t from = 0;
  bool follow = false;
  std::string saga_type;
  std::string type;
};

struct ReplayOptions {
  std::vector<std::string> files;
  std::string definition;
};

// Everything a command needs besides its own options.
class Context {
 public:
  Context(const GlobalOptions& global, OrchestratorClient& client,
          std::istream& in, std::ostream& out, std::ostream& err)
      : global_(global), in_(in), out_(out), err_(err), client_(client) {}

  bool json() const { return global_.output == "json"; }
  std::istream& in() { return in_; }
  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }
  OrchestratorClient& client() { return client_; }

  int64_t NowUnixMs() const {
    return std::chrono::duration_cast<milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // Writes `rendered` to out, or returns its error.
  absl::Status Print(const absl::StatusOr<std::string>& rendered) {
    if (!rendered.ok()) return rendered.status();
    out_ << *rendered;
    out_.flush();
    return absl::OkStatus();
  }

 private:
  const GlobalOptions& global_;
  std::istream& in_;
  std::ostream& out_;
  std::ostream& err_;
  OrchestratorClient& client_;
};

// The option was already checked by a CLI11 validator, so this cannot fail.
std::optional<milliseconds> TimeoutOption(const std::string& text) {
  if (text.empty()) return std::nullopt;
  absl::StatusOr<milliseconds> parsed = ParseDuration(text);
  return parsed.ok() ? std::optional<milliseconds>(*parsed) : std::nullopt;
}

std::string DurationValidator(const std::string& text) {
  absl::StatusOr<milliseconds> parsed = ParseDuration(text);
  return parsed.ok() ? "" : std::string(parsed.status().message());
}

std::string StatusValidator(const std::string& text) {
  absl::StatusOr<v1::SagaStatus> parsed = ParseSagaStatus(text);
  return parsed.ok() ? "" : std::string(parsed.status().message());
}

// "JSON", "@file" or "@-" (stdin) -> the JSON object on one line.
absl::StatusOr<std::string> ReadInput(const std::string& arg,
                                      std::istream& in) {
  std::string text = arg;
  std::string origin = "--input";
  if (!arg.empty() && arg[0] == '@') {
    std::string path = arg.substr(1);
    if (path == "-") {
      text.assign(std::istreambuf_iterator<char>(in),
                  std::istreambuf_iterator<char>());
      origin = "standard input";
    } else {
      std::ifstream file(path, std::ios::binary);
      if (!file) {
        return UsageError("cannot read input file " + path + ": " +
                          std::strerror(errno));
      }
      text.assign(std::istreambuf_iterator<char>(file),
                  std::istreambuf_iterator<char>());
      origin = "input file " + path;
    }
  }
  // Strict: re-serialising an object with a key twice would silently send
  // only one of its values.
  absl::StatusOr<nlohmann::json> value =
      saga::core::ParseStrictJson(text, origin);
  if (!value.ok()) return UsageError(std::string(value.status().message()));
  if (!value->is_object()) {
    return UsageError(origin + " must be a JSON object, e.g. '{\"key\": 1}'");
  }
  return value->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::StatusOr<std::string> ReadTextFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return UsageError("cannot read " + path + ": " + std::strerror(errno));
  }
  return std::string(std::istreambuf_iterator<char>(file),
                     std::istreambuf_iterator<char>());
}

// The bearer token: --token, else the first line of --token-file, else
// $SAGACTL_TOKEN, else the first line of $SAGACTL_TOKEN_FILE; empty: none.
absl::StatusOr<std::string> BearerToken(const GlobalOptions& global) {
  if (!global.token.empty() && !global.token_file.empty()) {
    return UsageError("give --token or --token-file, not both");
  }
  auto first_line = [](const std::string& path) -> absl::StatusOr<std::string> {
    absl::StatusOr<std::string> text = ReadTextFile(path);
    if (!text.ok()) return text.status();
    std::string token = text->substr(0, text->find_first_of("\r\n"));
    if (token.empty()) return UsageError("token file " + path + " is empty");
    return token;
  };
  if (!global.token.empty()) return global.token;
  if (!global.token_file.empty()) return first_line(global.token_file);
  if (const char* token = std::getenv("SAGACTL_TOKEN"); token && *token) {
    return std::string(token);
  }
  if (const char* path = std::getenv("SAGACTL_TOKEN_FILE"); path && *path) {
    return first_line(path);
  }
  return std::string();
}

// A definition file checked as the server checks it at start-up; a bad
// file is a usage error carrying the loader's message.
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

// Who is recorded for an operator repair: $SAGACTL_OPERATOR, else the OS
// user sagactl runs as.
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

// The verdict of `await` and `start --wait` once the saga has been printed.
absl::Status WaitOutcome(const v1::AwaitSagaResponse& response,
                         const std::optional<milliseconds>& timeout) {
  const v1::Saga& saga = response.saga();
  if (EndedBadly(saga.status())) {
    return SagaEndedBadlyError(saga.saga_id(), SagaStatusName(saga.status()),
                               saga.error());
  }
  if (!response.reached() && !IsTerminal(saga.status())) {
    std::string after =
        timeout.has_value() ? " after " + FormatDuration(*timeout) : "";
    return absl::DeadlineExceededError("saga " + saga.saga_id() + " is still " +
                                       SagaStatusName(saga.status()) + after);
  }
  return absl::OkStatus();
}

// Prints the saga the way `show` does: with its steps and its timeline.
absl::Status PrintSagaDetail(Context& ctx, const v1::Saga& saga) {
  absl::StatusOr<v1::GetSagaHistoryResponse> history =
      ctx.client().GetSagaHistory(saga.saga_id());
  if (absl::IsPermissionDenied(history.status())) {
    // A submitter's token reads its sagas but not their histories.
    ctx.err() << "sagactl: note: no timeline: reading a saga's history "
                 "needs the operator role\n";
    history = v1::GetSagaHistoryResponse();
  }
  if (!history.ok()) return history.status();
  if (ctx.json()) return ctx.Print(RenderSagaDetailJson(saga, *history));
  ctx.out() << RenderSagaDetailTable(saga, *history, ctx.NowUnixMs());
  return absl::OkStatus();
}

absl::Status RunStart(Context& ctx, const StartOptions& options) {
  absl::StatusOr<std::string> input = ReadInput(options.input, ctx.in());
  if (!input.ok()) return input.status();
  v1::StartSagaRequest request;
  request.set_saga_type(options.type);
  request.set_input_json(*input);
  request.set_idempotency_key(options.idempotency_key);
  absl::StatusOr<v1::StartSagaResponse> started =
      ctx.client().StartSaga(request);
  if (!started.ok()) return started.status();
  if (!started->created()) {
    ctx.err() << "sagactl: note: saga " << started->saga_id()
              << " already existed for this idempotency key\n";
  }
  if (!options.wait) {
    if (ctx.json()) return ctx.Print(RenderJson(*started));
    ctx.out() << started->saga_id() << "\n";
    return absl::OkStatus();
  }
  std::optional<milliseconds> timeout = TimeoutOption(options.timeout);
  absl::StatusOr<v1::AwaitSagaResponse> awaited =
      ctx.client().AwaitSaga(started->saga_id(), timeout, "");
  if (!awaited.ok()) return awaited.status();
  absl::Status printed = PrintSagaDetail(ctx, awaited->saga());
  if (!printed.ok()) return printed;
  return WaitOutcome(*awaited, timeout);
}

absl::Status RunShow(Context& ctx, const std::string& id) {
  absl::StatusOr<v1::Saga> saga = ctx.client().GetSaga(id);
  if (!saga.ok()) return saga.status();
  return PrintSagaDetail(ctx, *saga);
}

// Pages through ListSagas: every match with `all`, else at most `limit`.
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

absl::Status RunList(Context& ctx, const ListOptions& options) {
  v1::ListSagasRequest request;
  request.set_saga_type(options.type);
  if (!options.status.empty()) {
    absl::StatusOr<v1::SagaStatus> status = ParseSagaStatus(options.status);
    if (!status.ok()) return UsageError(std::string(status.status().message()));
    request.set_status(*status);
  }
  if (std::optional<milliseconds> since = TimeoutOption(options.since)) {
    request.set_created_after_unix_ms(ctx.NowUnixMs() - since->count());
  }
  absl::StatusOr<v1::ListSagasResponse> listed =
      CollectSagas(ctx, request, options.limit, options.all);
  if (!listed.ok()) return listed.status();
  const v1::ListSagasResponse& collected = *listed;
  if (ctx.json()) return ctx.Print(RenderJson(collected));
  ctx.out() << RenderSagaListTable(collected, ctx.NowUnixMs());
  if (!collected.next_page_token().empty()) {
    ctx.err() << "sagactl: more sagas match; use --all or a larger --limit\n";
  }
  return absl::OkStatus();
}

absl::Status RunHistory(Context& ctx, const std::string& id) {
  absl::StatusOr<v1::GetSagaHistoryResponse> history =
      ctx.client().GetSagaHistory(id);
  if (!history.ok()) return history.status();
  if (ctx.json()) return ctx.Print(RenderJson(*history));
  ctx.out() << RenderHistoryTable(*history);
  return absl::OkStatus();
}

absl::Status RunAwait(Context& ctx, const AwaitOptions& options) {
  std::optional<milliseconds> timeout = TimeoutOption(options.timeout);
  absl::StatusOr<v1::AwaitSagaResponse> awaited =
      ctx.client().AwaitSaga(options.id, timeout, options.step);
  if (!awaited.ok()) return awaited.status();
  absl::Status printed = ctx.json() ? ctx.Print(RenderJson(*awaited))
                                    : PrintSagaDetail(ctx, awaited->saga());
  if (!printed.ok()) return printed;
  return WaitOutcome(*awaited, timeout);
}

absl::Status RunCancel(Context& ctx, const CancelOptions& options) {
  absl::StatusOr<v1::Saga> saga =
      ctx.client().CancelSaga(options.id, options.reason);
  if (!saga.ok()) return saga.status();
  if (ctx.json()) {
    v1::CancelSagaResponse response;
    *response.mutable_saga() = std::move(*saga);
    return ctx.Print(RenderJson(response));
  }
  ctx.out() << RenderSagaTable(*saga, ctx.NowUnixMs());
  return absl::OkStatus();
}

absl::Status PrintRepaired(Context& ctx, const v1::Saga& saga) {
  if (ctx.json()) {
    v1::GetSagaResponse response;
    *response.mutable_saga() = saga;
    return ctx.Print(RenderJson(response));
  }
  ctx.out() << RenderSagaTable(saga, ctx.NowUnixMs());
  return absl::OkStatus();
}

v1::Operator Operator(const std::string& reason) {
  v1::Operator by;
  by.set_name(OperatorName());
  by.set_reason(reason);
  return by;
}

absl::Status RunRetry(Context& ctx, const RepairOptions& options) {
  absl::StatusOr<v1::Saga> saga =
      ctx.client().RetrySaga(options.id, Operator(options.reason));
  if (!saga.ok()) return saga.status();
  return PrintRepaired(ctx, *saga);
}

absl::Status RunSkipStep(Context& ctx, const RepairOptions& options) {
  absl::StatusOr<v1::Saga> saga =
      ctx.client().SkipStep(options.id, options.step, Operator(options.reason));
  if (!saga.ok()) return saga.status();
  return PrintRepaired(ctx, *saga);
}

absl::Status RunMarkCompensated(Context& ctx, const RepairOptions& options) {
  absl::StatusOr<v1::Saga> saga =
      ctx.client().MarkCompensated(options.id, Operator(options.reason));
  if (!saga.ok()) return saga.status();
  return PrintRepaired(ctx, *saga);
}

// Prints each streamed message as one line (a JSON line with -o json),
// flushed at once; the first rendering error goes to `render_error`.
template <typename Message>
auto LinePrinter(Context& ctx, absl::Status& render_error,
                 std::string (*text_line)(const Message&)) {
  return [&ctx, &render_error, text_line](const Message& message) {
    if (ctx.json()) {
      absl::StatusOr<std::string> line = RenderJsonLine(message);
      if (!line.ok()) {
        render_error.Update(line.status());
        return;
      }
      ctx.out() << *line;
    } else {
      ctx.out() << text_line(message);
    }
    ctx.out().flush();
  };
}

absl::Status RunEvents(Context& ctx, const EventsOptions& options) {
  v1::WatchEventsRequest request;
  request.set_from_position(options.from);
  request.set_follow(options.follow);
  request.set_saga_type(options.saga_type);
  request.set_type(options.type);
  absl::Status render_error;
  absl::Status streamed = ctx.client().WatchEvents(
      request, LinePrinter(ctx, render_error, RenderOutboxEventLine));
  if (!streamed.ok()) return streamed;
  return render_error;
}

absl::Status RunWatch(Context& ctx, const std::string& id) {
  absl::Status render_error;
  absl::Status streamed = ctx.client().WatchSaga(
      id, 0, LinePrinter(ctx, render_error, RenderWatchLine));
  if (!streamed.ok()) return streamed;
  if (!render_error.ok()) return render_error;
  absl::StatusOr<v1::Saga> saga = ctx.client().GetSaga(id);
  if (!saga.ok()) return saga.status();
  if (!IsTerminal(saga->status())) {
    return absl::UnavailableError("the server ended the watch while saga " +
                                  id + " is still " +
                                  SagaStatusName(saga->status()));
  }
  if (!ctx.json()) {
    ctx.out() << "Saga " << id << " ended " << SagaStatusName(saga->status())
              << ".\n";
  }
  if (EndedBadly(saga->status())) {
    return SagaEndedBadlyError(id, SagaStatusName(saga->status()),
                               saga->error());
  }
  return absl::OkStatus();
}

// GetSaga + GetSagaHistory + GetDefinition of the version it ran with.
absl::StatusOr<core::History> FetchHistory(Context& ctx, const v1::Saga& saga) {
  absl::StatusOr<v1::GetSagaHistoryResponse> history =
      ctx.client().GetSagaHistory(saga.saga_id());
  if (!history.ok()) return history.status();
  absl::StatusOr<v1::GetDefinitionResponse> definition =
      ctx.client().GetDefinition(saga.saga_type(), saga.definition_version());
  if (!definition.ok()) return definition.status();
  return HistoryFromApi(saga, *history, *definition);
}

absl::Status RunExport(Context& ctx, const std::string& id) {
  absl::StatusOr<v1::Saga> saga = ctx.client().GetSaga(id);
  if (!saga.ok()) return saga.status();
  absl::StatusOr<core::History> history = FetchHistory(ctx, *saga);
  if (!history.ok()) return history.status();
  return ctx.Print(core::EncodeHistory(*history));
}

ReplayOutcome ReplayFile(const std::string& path,
                         const core::SagaDefinition* against) {
  ReplayOutcome outcome;
  outcome.name = path;
  absl::StatusOr<std::string> text = ReadTextFile(path);
  if (!text.ok()) {
    outcome.error = text.status();
    return outcome;
  }
  absl::StatusOr<core::History> history = core::DecodeHistory(*text, path);
  if (!history.ok()) {
    outcome.error = history.status();
    return outcome;
  }
  outcome.saga_id = history->saga.saga_id;
  outcome.status = history->saga.status;
  outcome.events = history->events.size();
  if (against != nullptr && against->name != history->definition.name) {
    outcome.error = absl::InvalidArgumentError(
        path + ": a " + history->definition.name +
        " saga cannot replay against a definition of " + against->name);
    return outcome;
  }
  outcome.definition = against != nullptr ? *against : history->definition;
  outcome.report = core::ReplayHistory(*history, against);
  return outcome;
}

absl::Status RunReplay(Context& ctx, const ReplayOptions& options) {
  std::optional<core::SagaDefinition> against;
  if (!options.definition.empty()) {
    absl::StatusOr<core::SagaDefinition> loaded =
        LoadDefinitionArg(options.definition);
    if (!loaded.ok()) return loaded.status();
    against = *std::move(loaded);
  }
  std::vector<ReplayOutcome> outcomes;
  int unreadable = 0;
  int diverged = 0;
  for (const std::string& file : options.files) {
    outcomes.push_back(
        ReplayFile(file, against.has_value() ? &*against : nullptr));
    if (!outcomes.back().error.ok()) {
      ++unreadable;
    } else if (!outcomes.back().report.ok()) {
      ++diverged;
    }
  }
  ctx.out() << (ctx.json() ? RenderReplayJson(outcomes)
                           : RenderReplayText(outcomes));
  const std::string of = " of " + std::to_string(outcomes.size()) + " histor" +
                         (outcomes.size() == 1 ? "y" : "ies");
  if (unreadable > 0) {
    return UsageError(std::to_string(unreadable) + of +
                      (unreadable == 1 ? " was" : " were") + " not readable");
  }
  if (diverged > 0) {
    return DivergedError(std::to_string(diverged) + of +
                         (diverged == 1 ? " diverges" : " diverge") +
                         " from what the code now decides");
  }
  return absl::OkStatus();
}

absl::Status RunDefinitions(Context& ctx) {
  absl::StatusOr<v1::ListDefinitionsResponse> listed =
      ctx.client().ListDefinitions();
  if (!listed.ok()) return listed.status();
  if (ctx.json()) return ctx.Print(RenderJson(*listed));
  ctx.out() << RenderDefinitionsTable(*listed);
  return absl::OkStatus();
}

absl::Status RunValidate(Context& ctx, const std::string& path) {
  absl::StatusOr<core::SagaDefinition> definition = LoadDefinitionArg(path);
  nlohmann::ordered_json out = {{"file", path}, {"ok", definition.ok()}};
  if (!definition.ok()) {
    if (ctx.json()) {
      out["error"] = std::string(definition.status().message());
      ctx.out() << out.dump(2) << "\n";
    }
    return definition.status();
  }
  std::string steps;
  nlohmann::ordered_json step_list = nlohmann::ordered_json::array();
  for (const core::StepDefinition& step : definition->steps) {
    if (!steps.empty()) steps += " > ";
    steps += step.name + " (" + core::StepKindName(step.kind) + ")";
    step_list.push_back(
        {{"name", step.name}, {"kind", core::StepKindName(step.kind)}});
  }
  if (ctx.json()) {
    out["saga_type"] = definition->name;
    out["version"] = definition->version;
    out["steps"] = std::move(step_list);
    ctx.out() << out.dump(2) << "\n";
    return absl::OkStatus();
  }
  ctx.out() << path << ": OK: " << definition->name << " version "
            << definition->version << ", " << definition->steps.size()
            << " steps: " << steps << "\n";
  return absl::OkStatus();
}

absl::Status RunCheck(Context& ctx, const std::string& path) {
  absl::StatusOr<core::SagaDefinition> candidate = LoadDefinitionArg(path);
  if (!candidate.ok()) return candidate.status();
  // FAILED sagas are unfinished too: an operator may retry them.
  std::vector<v1::Saga> sagas;
  for (v1::SagaStatus status :
       {v1::SAGA_STATUS_RUNNING, v1::SAGA_STATUS_COMPENSATING,
        v1::SAGA_STATUS_FAILED}) {
    v1::ListSagasRequest request;
    request.set_saga_type(candidate->name);
    request.set_status(status);
    absl::StatusOr<v1::ListSagasResponse> listed =
        CollectSagas(ctx, request, 0, /*all=*/true);
    if (!listed.ok()) return listed.status();
    for (v1::Saga& saga : *listed->mutable_sagas()) {
      sagas.push_back(std::move(saga));
    }
  }

  std::vector<ReplayOutcome> outcomes;
  int stranded = 0;
  int errors = 0;
  for (const v1::Saga& saga : sagas) {
    ReplayOutcome outcome;
    outcome.name = saga.saga_id();
    outcome.saga_id = saga.saga_id();
    outcome.status = SagaStatusName(saga.status());
    outcome.definition = *candidate;
    absl::StatusOr<core::History> history = FetchHistory(ctx, saga);
    if (!history.ok()) {
      if (ExitCodeFor(history.status()) == kExitUnreachable) {
        return history.status();
      }
      outcome.error = history.status();
      ++errors;
    } else {
      outcome.events = history->events.size();
      outcome.report = core::ReplayHistory(*history, &*candidate);
      if (!outcome.report.ok()) ++stranded;
    }
    outcomes.push_back(std::move(outcome));
  }
  ctx.out() << (ctx.json() ? RenderCheckJson(*candidate, outcomes)
                           : RenderCheckText(*candidate, outcomes));
  const std::string of =
      " of " + std::to_string(outcomes.size()) + " unfinished sagas";
  if (stranded > 0) {
    return DivergedError(std::to_string(stranded) + of +
                         " would be stranded by " + candidate->name +
                         " version " + std::to_string(candidate->version));
  }
  if (errors > 0) {
    return absl::AbortedError("could not check " + std::to_string(errors) + of);
  }
  return absl::OkStatus();
}

}  // namespace

int RunCli(int argc, const char* const* argv, std::istream& in,
           std::ostream& out, std::ostream& err) {
  CLI::App app{
      "sagactl: operate the saga orchestrator through its gRPC API.\n"
      "Durations look like 500ms, 30s, 2m, 1h30m. Statuses: RUNNING, "
      "COMPENSATING,\nCOMPLETED, COMPENSATED, FAILED.",
      "sagactl"};
  app.footer(ExitCodesHelp());
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("sagactl: ") + e.what() +
           "\nRun 'sagactl --help' for usage.\n";
  });
  app.require_subcommand(1);
  // Global flags may come after the command too: `sagactl show ID -o json`.
  app.fallthrough();

  GlobalOptions global;
  app.add_option("--address", global.address, "Orchestrator address HOST:PORT")
      ->envname("SAGACTL_ADDRESS")
      ->default_val(kDefaultAddress);
  app.add_option("-o,--output", global.output, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->default_val("table");
  app.add_option("--token", global.token,
                 "Bearer token (visible to other local users in the process "
                 "list: prefer SAGACTL_TOKEN or --token-file)");
  app.add_option("--token-file", global.token_file,
                 "File whose first line is the bearer token");
  app.add_option("--tls-ca", global.tls.ca_file,
                 "CA bundle (PEM) that the orchestrator's certificate must "
                 "chain to; turns on TLS")
      ->envname("SAGACTL_TLS_CA");
  app.add_option("--tls-cert", global.tls.cert_file,
                 "Client certificate (PEM) for mutual TLS")
      ->envname("SAGACTL_TLS_CERT");
  app.add_option("--tls-key", global.tls.key_file,
                 "Private key of --tls-cert (PEM)")
      ->envname("SAGACTL_TLS_KEY");

  auto duration = [](CLI::Option* option) {
    return option->check(DurationValidator, "DURATION");
  };

  StartOptions start;
  CLI::App* start_cmd = app.add_subcommand(
      "start",
      "Start a saga; print its id, or with --wait the saga at its end");
  start_cmd->add_option("type", start.type, "Saga type")->required();
  start_cmd
      ->add_option("--input", start.input,
                   "Saga input: a JSON object, @FILE, or @- for stdin")
      ->required();
  start_cmd->add_option("--idempotency-key", start.idempotency_key,
                        "Starting again with the same key returns the same "
                        "saga");
  start_cmd->add_flag("--wait", start.wait,
                      "Wait for the saga to end and print it as show does");
  duration(start_cmd->add_option("--timeout", start.timeout,
                                 "With --wait: give up after this long "
                                 "(default: wait until the end)"));

  std::string show_id;
  CLI::App* show_cmd = app.add_subcommand(
      "show", "Show a saga: input, status, steps and timeline");
  show_cmd->add_option("id", show_id, "Saga id")->required();

  ListOptions list;
  CLI::App* list_cmd = app.add_subcommand("list", "List sagas, newest first");
  list_cmd->add_option("--status", list.status, "Only sagas in this status")
      ->check(StatusValidator, "STATUS");
  list_cmd->add_option("--type", list.type, "Only sagas of this type");
  duration(list_cmd->add_option("--since", list.since,
                                "Only sagas created within this long, e.g. "
                                "1h"));
  CLI::Option* limit_opt =
      list_cmd->add_option("--limit", list.limit, "At most N sagas")
          ->check(CLI::Range(1, 1000000))
          ->default_val(kDefaultListLimit);
  list_cmd
      ->add_flag("--all", list.all,
                 "Every matching saga, following page tokens")
      ->excludes(limit_opt);

  std::string history_id;
  CLI::App* history_cmd =
      app.add_subcommand("history", "Print a saga's event history");
  history_cmd->add_option("id", history_id, "Saga id")->required();

  AwaitOptions await;
  CLI::App* await_cmd = app.add_subcommand(
      "await", "Wait for a saga to end (or a step to succeed) and show it");
  await_cmd->add_option("id", await.id, "Saga id")->required();
  duration(await_cmd->add_option(
      "--timeout", await.timeout,
      "Give up after this long (default: wait until the end)"));
  await_cmd->add_option("--step", await.step,
                        "Return once this step has succeeded");

  CancelOptions cancel;
  CLI::App* cancel_cmd = app.add_subcommand(
      "cancel", "Cancel a running saga: it compensates, then COMPENSATED");
  cancel_cmd->add_option("id", cancel.id, "Saga id")->required();
  cancel_cmd->add_option("--reason", cancel.reason, "Why (kept in the saga)")
      ->required();

  RepairOptions retry;
  CLI::App* retry_cmd = app.add_subcommand(
      "retry",
      "Resume now: a FAILED saga's compensation, or a saga waiting out a "
      "backoff");
  retry_cmd->add_option("id", retry.id, "Saga id")->required();
  retry_cmd->add_option("--reason", retry.reason, "Why (recorded)")->required();

  RepairOptions skip;
  CLI::App* skip_cmd = app.add_subcommand(
      "skip-step",
      "Record that a step being compensated was undone by hand; "
      "compensation goes on with the earlier steps");
  skip_cmd->add_option("id", skip.id, "Saga id")->required();
  skip_cmd->add_option("step", skip.step, "Step name")->required();
  skip_cmd->add_option("--reason", skip.reason, "Why (recorded)")->required();

  RepairOptions mark;
  CLI::App* mark_cmd = app.add_subcommand(
      "mark-compensated",
      "End a FAILED saga as COMPENSATED: what was left was undone by hand");
  mark_cmd->add_option("id", mark.id, "Saga id")->required();
  mark_cmd->add_option("--reason", mark.reason, "Why (recorded)")->required();

  std::string watch_id;
  CLI::App* watch_cmd = app.add_subcommand(
      "watch", "Print a saga's events as they happen until it ends");
  watch_cmd->add_option("id", watch_id, "Saga id")->required();

  EventsOptions events;
  CLI::App* events_cmd = app.add_subcommand(
      "events",
      "Print the outbox stream (messages for other services) in order; "
      "resume with --from the last position printed");
  events_cmd
      ->add_option("--from", events.from,
                   "Start after this position (0: from the start)")
      ->check(CLI::NonNegativeNumber)
      ->default_val(0);
  events_cmd->add_flag("--follow", events.follow,
                       "Keep printing new messages as they commit, until "
                       "interrupted (default: stop once caught up)");
  events_cmd->add_option("--saga-type", events.saga_type,
                         "Only messages about sagas of this type");
  events_cmd->add_option("--type", events.type,
                         "Only messages of this type, e.g. saga.completed");

  std::string export_id;
  CLI::App* export_cmd = app.add_subcommand(
      "export",
      "Write a saga's self-contained history (definition, input, events) "
      "as JSON, for replay");
  export_cmd->add_option("id", export_id, "Saga id")->required();

  ReplayOptions replay;
  CLI::App* replay_cmd = app.add_subcommand(
      "replay",
      "Offline: replay exported histories through this build's decider and "
      "report OK or the first divergence per file");
  replay_cmd->add_option("files", replay.files, "History files (export)")
      ->required();
  replay_cmd->add_option("--definition", replay.definition,
                         "Replay against this definition file (e.g. a new "
                         "version) instead of the one in each history");

  CLI::App* definitions_cmd = app.add_subcommand(
      "definitions",
      "List saga definitions (types and versions); validate or check a "
      "definition file");
  definitions_cmd->require_subcommand(0, 1);
  std::string validate_path;
  CLI::App* validate_cmd = definitions_cmd->add_subcommand(
      "validate", "Offline: check a definition file as the server does");
  validate_cmd->add_option("file", validate_path, "Definition YAML")
      ->required();
  std::string check_path;
  CLI::App* check_cmd = definitions_cmd->add_subcommand(
      "check",
      "Replay every unfinished saga of the file's type against it and report "
      "the ones it would strand");
  check_cmd->add_option("file", check_path, "Definition YAML")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e, out, err);
    return code == 0 ? kExitOk : kExitUsage;
  }

  absl::StatusOr<std::string> token = BearerToken(global);
  absl::StatusOr<std::unique_ptr<OrchestratorClient>> client =
      token.ok()
          ? OrchestratorClient::Create(global.address, {global.tls, *token})
          : token.status();
  if (!client.ok()) {
    err << ErrorLine(client.status()) << "\n";
    return ExitCodeFor(client.status());
  }
  Context ctx(global, **client, in, out, err);
  absl::Status status;
  if (start_cmd->parsed()) {
    status = RunStart(ctx, start);
  } else if (show_cmd->parsed()) {
    status = RunShow(ctx, show_id);
  } else if (list_cmd->parsed()) {
    status = RunList(ctx, list);
  } else if (history_cmd->parsed()) {
    status = RunHistory(ctx, history_id);
  } else if (await_cmd->parsed()) {
    status = RunAwait(ctx, await);
  } else if (cancel_cmd->parsed()) {
    status = RunCancel(ctx, cancel);
  } else if (retry_cmd->parsed()) {
    status = RunRetry(ctx, retry);
  } else if (skip_cmd->parsed()) {
    status = RunSkipStep(ctx, skip);
  } else if (mark_cmd->parsed()) {
    status = RunMarkCompensated(ctx, mark);
  } else if (watch_cmd->parsed()) {
    status = RunWatch(ctx, watch_id);
  } else if (events_cmd->parsed()) {
    status = RunEvents(ctx, events);
  } else if (export_cmd->parsed()) {
    status = RunExport(ctx, export_id);
  } else if (replay_cmd->parsed()) {
    status = RunReplay(ctx, replay);
  } else if (validate_cmd->parsed()) {
    status = RunValidate(ctx, validate_path);
  } else if (check_cmd->parsed()) {
    status = RunCheck(ctx, check_path);
  } else if (definitions_cmd->parsed()) {
    status = RunDefinitions(ctx);
  }
  out.flush();
  if (!status.ok()) err << ErrorLine(status) << "\n";
  return ExitCodeFor(status);
}

}  // namespace saga::sagactl
