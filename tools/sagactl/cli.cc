#include "tools/sagactl/cli.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>

#include "CLI/CLI.hpp"
#include "nlohmann/json.hpp"
#include "tools/sagactl/client.h"
#include "tools/sagactl/duration.h"
#include "tools/sagactl/exit_codes.h"
#include "tools/sagactl/render.h"

namespace saga::sagactl {
namespace {

using std::chrono::milliseconds;

constexpr char kDefaultAddress[] = "127.0.0.1:50051";
constexpr int kDefaultListLimit = 50;
constexpr int kMaxPageSize = 1000;

struct GlobalOptions {
  std::string address = kDefaultAddress;
  std::string output = "table";
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

// Everything a command needs besides its own options.
class Context {
 public:
  Context(const GlobalOptions& global, std::istream& in, std::ostream& out,
          std::ostream& err)
      : global_(global),
        in_(in),
        out_(out),
        err_(err),
        client_(global.address) {}

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
  OrchestratorClient client_;
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
  nlohmann::json value =
      nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    return UsageError(origin + " is not valid JSON");
  }
  if (!value.is_object()) {
    return UsageError(origin + " must be a JSON object, e.g. '{\"key\": 1}'");
  }
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
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

absl::Status RunList(Context& ctx, const ListOptions& options) {
  v1::ListSagasRequest request;
  request.set_saga_type(options.type);
  if (!options.status.empty()) {
    absl::StatusOr<v1::SagaStatus> status = ParseSagaStatus(options.status);
    if (!status.ok()) return UsageError(std::string(status.status().message()));
    request.set_status(*status);
  }
  v1::ListSagasResponse collected;
  while (true) {
    int remaining = options.limit - collected.sagas_size();
    request.set_page_size(options.all ? kMaxPageSize
                                      : std::min(remaining, kMaxPageSize));
    absl::StatusOr<v1::ListSagasResponse> page =
        ctx.client().ListSagas(request);
    if (!page.ok()) return page.status();
    for (v1::Saga& saga : *page->mutable_sagas()) {
      if (!options.all && collected.sagas_size() >= options.limit) break;
      *collected.add_sagas() = std::move(saga);
    }
    collected.set_next_page_token(page->next_page_token());
    if (page->next_page_token().empty()) break;
    if (!options.all && collected.sagas_size() >= options.limit) break;
    if (page->next_page_token() == request.page_token()) {
      return absl::InternalError(
          "the server returned the same page token twice: " +
          page->next_page_token());
    }
    request.set_page_token(page->next_page_token());
  }
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

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e, out, err);
    return code == 0 ? kExitOk : kExitUsage;
  }

  Context ctx(global, in, out, err);
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
  }
  out.flush();
  if (!status.ok()) err << ErrorLine(status) << "\n";
  return ExitCodeFor(status);
}

}  // namespace saga::sagactl
