// The saga noun: start, inspect, wait for, cancel, repair, watch, export
// and replay sagas.

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "orchestrator/core/replay.h"
#include "orchestrator/core/strict_json.h"
#include "tools/sagactl/bulk_repair.h"
#include "tools/sagactl/commands.h"
#include "tools/sagactl/duration.h"
#include "tools/sagactl/exit_codes.h"
#include "tools/sagactl/replay_report.h"

namespace saga::sagactl {
namespace {

using std::chrono::milliseconds;

constexpr int kDefaultListLimit = 50;

CLI::Option* Duration(CLI::Option* option) {
  return option->check(DurationValidator, "DURATION");
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

// --start-at: an RFC 3339 time, or a duration from `now_ms`.
absl::StatusOr<int64_t> ParseStartAt(const std::string& text, int64_t now_ms) {
  if (absl::StatusOr<milliseconds> after = ParseDuration(text); after.ok()) {
    return now_ms + after->count();
  }
  absl::Time time;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, text, &time, &error)) {
    return absl::ToUnixMillis(time);
  }
  return UsageError("--start-at '" + text +
                    "' is neither an RFC 3339 time (2026-12-24T09:00:00Z) "
                    "nor a duration (10m)");
}

// The verdict of `await` and `start --wait` once the saga has been printed.
// With `expect` (await --expect), a saga that ended in that status is the
// wanted outcome and any other end is not.
absl::Status WaitOutcome(const v1::AwaitSagaResponse& response,
                         const std::optional<milliseconds>& timeout,
                         std::optional<v1::SagaStatus> expect = std::nullopt) {
  const v1::Saga& saga = response.saga();
  if (expect.has_value() && IsTerminal(saga.status())) {
    if (saga.status() == *expect) return absl::OkStatus();
    return SagaEndedBadlyError(saga.saga_id(),
                               SagaStatusName(saga.status()) + " (expected " +
                                   SagaStatusName(*expect) + ")",
                               saga.error());
  }
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

// After a repair: the saga as it now stands.
absl::Status PrintRepaired(Context& ctx, const absl::StatusOr<v1::Saga>& saga) {
  if (!saga.ok()) return saga.status();
  if (ctx.json()) {
    v1::GetSagaResponse response;
    *response.mutable_saga() = *saga;
    return ctx.Print(RenderJson(response));
  }
  ctx.out() << RenderSagaTable(*saga, ctx.NowUnixMs());
  return absl::OkStatus();
}

// The saga id, the one positional argument of most saga commands.
std::shared_ptr<std::string> IdArgument(CLI::App& command) {
  auto id = std::make_shared<std::string>();
  command.add_option("id", *id, "Saga id")
      ->required()
      ->check(SagaIdValidator, "SAGA_ID");
  return id;
}

// The saga id of a repair that also has a bulk form (bulk_repair.h): the
// id or a filter.
std::shared_ptr<std::string> IdOrFilterArgument(CLI::App& command) {
  auto id = std::make_shared<std::string>();
  command
      .add_option("id", *id,
                  "Saga id (or a filter instead: see the Bulk options)")
      ->check(SagaIdValidator, "SAGA_ID");
  return id;
}

// The reason every repair records.
std::shared_ptr<std::string> ReasonArgument(CLI::App& command) {
  auto reason = std::make_shared<std::string>();
  command.add_option("--reason", *reason, "Why (recorded)")->required();
  return reason;
}

// The reason of a repair that also takes a filter: required, except with
// --dry-run, which repairs nothing. Also adds the bulk flags.
std::pair<std::shared_ptr<std::string>, std::shared_ptr<BulkFlags>>
RepairArguments(CLI::App& command) {
  auto reason = std::make_shared<std::string>();
  CLI::Option* option = command.add_option(
      "--reason", *reason, "Why (kept in the saga; not needed with --dry-run)");
  auto bulk = AddBulkFlags(command);
  command.parse_complete_callback([option, bulk] {
    if (option->count() == 0 && !bulk->dry_run) {
      throw CLI::RequiredError(option->get_name());
    }
  });
  return {reason, bulk};
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

// `--set field=value` applied to `input` (a JSON object): the value is
// taken as JSON when it parses (42, true, "x", {"a": 1}), else as a string;
// a dotted field (contact.email) sets a field of a nested object.
absl::Status ApplySet(nlohmann::json& input, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    return UsageError("--set '" + assignment +
                      "' must look like field=value, e.g. slot=s2");
  }
  const std::string path = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  nlohmann::json value =
      nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) value = text;
  nlohmann::json* target = &input;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string field = path.substr(start, dot - start);
    if (field.empty()) {
      return UsageError("--set '" + assignment + "' has an empty field name");
    }
    if (!target->is_object()) {
      return UsageError("--set '" + assignment + "': '" +
                        path.substr(0, start - 1) + "' is not an object");
    }
    if (dot == std::string::npos) {
      (*target)[field] = std::move(value);
      return absl::OkStatus();
    }
    target = &(*target)[field];
    if (target->is_null()) *target = nlohmann::json::object();
    start = dot + 1;
  }
}

}  // namespace

Runner DefineRerun(CLI::App& command) {
  struct Args {
    std::string input;
    std::vector<std::string> sets;
    std::string idempotency_key;
    std::string business_key;
    bool wait = false;
  };
  auto id = IdArgument(command);
  auto args = std::make_shared<Args>();
  auto reason = ReasonArgument(command);
  CLI::Option* input = command.add_option(
      "--input", args->input,
      "The new saga's whole input: a JSON object, @FILE, or @- for stdin "
      "(default: the old saga's)");
  command
      .add_option("--set", args->sets,
                  "Change one field of the old saga's input: field=value "
                  "(JSON, else a string; contact.email for a nested field); "
                  "repeatable")
      ->excludes(input);
  command.add_option("--idempotency-key", args->idempotency_key,
                     "Rerunning again with the same key returns the same "
                     "rerun");
  command.add_option("--business-key", args->business_key,
                     "The new saga's business key (default: derived from "
                     "its input, else the old saga's)");
  command.add_flag("--wait", args->wait,
                   "Wait for the new saga to end and print it as show does");
  return [id, args, reason](Context& ctx) -> absl::Status {
    v1::RerunSagaRequest request;
    request.set_saga_id(*id);
    request.set_idempotency_key(args->idempotency_key);
    request.set_business_key(args->business_key);
    *request.mutable_operator_() = Operator(*reason);
    if (!args->input.empty()) {
      absl::StatusOr<std::string> text = ReadInput(args->input, ctx.in());
      if (!text.ok()) return text.status();
      request.set_input_json(*text);
    } else if (!args->sets.empty()) {
      absl::StatusOr<v1::Saga> old = ctx.client().GetSaga(*id);
      if (!old.ok()) return old.status();
      nlohmann::json edited = nlohmann::json::parse(old->input_json(), nullptr,
                                                    /*allow_exceptions=*/false);
      if (!edited.is_object()) edited = nlohmann::json::object();
      for (const std::string& assignment : args->sets) {
        if (absl::Status set = ApplySet(edited, assignment); !set.ok()) {
          return set;
        }
      }
      request.set_input_json(edited.dump(
          -1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
    absl::StatusOr<v1::RerunSagaResponse> rerun =
        ctx.client().RerunSaga(request);
    if (!rerun.ok()) return rerun.status();
    if (!rerun->created()) {
      ctx.err() << "sagactl: note: saga " << rerun->saga_id()
                << " already existed for this idempotency key\n";
    }
    if (!args->wait) {
      if (ctx.json()) return ctx.Print(RenderJson(*rerun));
      ctx.out() << rerun->saga_id() << "\n";
      return absl::OkStatus();
    }
    absl::StatusOr<v1::AwaitSagaResponse> awaited =
        ctx.client().AwaitSaga(rerun->saga_id(), std::nullopt, "");
    if (!awaited.ok()) return awaited.status();
    absl::Status printed = PrintSagaDetail(ctx, awaited->saga());
    if (!printed.ok()) return printed;
    return WaitOutcome(*awaited, std::nullopt);
  };
}

Runner DefineStart(CLI::App& command) {
  struct Args {
    std::string type;
    std::string input;
    std::string idempotency_key;
    bool wait = false;
    std::string timeout;
    std::string start_at;
  };
  auto args = std::make_shared<Args>();
  command.add_option("type", args->type, "Saga type")->required();
  command.add_option("--start-at", args->start_at,
                     "Schedule the first step: an RFC 3339 time "
                     "(2026-12-24T09:00:00Z) or a duration from now (10m)");
  command
      .add_option("--input", args->input,
                  "Saga input: a JSON object, @FILE, or @- for stdin")
      ->required();
  command.add_option("--idempotency-key", args->idempotency_key,
                     "Starting again with the same key returns the same "
                     "saga");
  command.add_flag("--wait", args->wait,
                   "Wait for the saga to end and print it as show does");
  Duration(command.add_option("--timeout", args->timeout,
                              "With --wait: give up after this long "
                              "(default: wait until the end)"));
  return [args](Context& ctx) -> absl::Status {
    absl::StatusOr<std::string> input = ReadInput(args->input, ctx.in());
    if (!input.ok()) return input.status();
    v1::StartSagaRequest request;
    request.set_saga_type(args->type);
    request.set_input_json(*input);
    request.set_idempotency_key(args->idempotency_key);
    if (!args->start_at.empty()) {
      absl::StatusOr<int64_t> start_at =
          ParseStartAt(args->start_at, ctx.NowUnixMs());
      if (!start_at.ok()) return start_at.status();
      request.set_start_at_unix_ms(*start_at);
    }
    absl::StatusOr<v1::StartSagaResponse> started =
        ctx.client().StartSaga(request);
    if (!started.ok()) return started.status();
    if (!started->created()) {
      ctx.err() << "sagactl: note: saga " << started->saga_id()
                << " already existed for this idempotency key\n";
    }
    if (!args->wait) {
      if (ctx.json()) return ctx.Print(RenderJson(*started));
      ctx.out() << started->saga_id() << "\n";
      return absl::OkStatus();
    }
    std::optional<milliseconds> timeout = TimeoutOption(args->timeout);
    absl::StatusOr<v1::AwaitSagaResponse> awaited =
        ctx.client().AwaitSaga(started->saga_id(), timeout, "");
    if (!awaited.ok()) return awaited.status();
    absl::Status printed = PrintSagaDetail(ctx, awaited->saga());
    if (!printed.ok()) return printed;
    return WaitOutcome(*awaited, timeout);
  };
}

Runner DefineShow(CLI::App& command) {
  auto id = IdArgument(command);
  return [id](Context& ctx) -> absl::Status {
    absl::StatusOr<v1::Saga> saga = ctx.client().GetSaga(*id);
    if (!saga.ok()) return saga.status();
    return PrintSagaDetail(ctx, *saga);
  };
}

Runner DefineList(CLI::App& command) {
  struct Args {
    std::string status;
    std::string type;
    std::string since;
    std::string parent;
    std::string business_key;
    std::string rerun_of;
    int limit = kDefaultListLimit;
    bool all = false;
    bool wide = false;
  };
  auto args = std::make_shared<Args>();
  command.add_option("--status", args->status, "Only sagas in this status")
      ->check(StatusValidator, "STATUS");
  command.add_option("--type", args->type, "Only sagas of this type");
  command
      .add_option("--parent", args->parent,
                  "Only the child sagas of this saga id")
      ->check(SagaIdValidator, "SAGA_ID");
  command.add_option("--business-key", args->business_key,
                     "Only the sagas with this business key");
  command
      .add_option("--rerun-of", args->rerun_of,
                  "Only the reruns of this saga id")
      ->check(SagaIdValidator, "SAGA_ID");
  command.add_flag("--wide", args->wide,
                   "Print errors whole (by default they are cut to the "
                   "terminal's width)");
  Duration(command.add_option("--since", args->since,
                              "Only sagas created within this long, e.g. "
                              "1h"));
  CLI::Option* limit =
      command.add_option("--limit", args->limit, "At most N sagas")
          ->check(CLI::Range(1, 1000000))
          ->default_val(kDefaultListLimit);
  command
      .add_flag("--all", args->all,
                "Every matching saga, following page tokens")
      ->excludes(limit);
  return [args](Context& ctx) -> absl::Status {
    v1::ListSagasRequest request;
    request.set_saga_type(args->type);
    request.set_parent_saga_id(args->parent);
    request.set_business_key(args->business_key);
    request.set_rerun_of(args->rerun_of);
    if (!args->status.empty()) {
      absl::StatusOr<v1::SagaStatus> status = ParseSagaStatus(args->status);
      if (!status.ok()) {
        return UsageError(std::string(status.status().message()));
      }
      request.set_status(*status);
    }
    if (std::optional<milliseconds> since = TimeoutOption(args->since)) {
      request.set_created_after_unix_ms(ctx.NowUnixMs() - since->count());
    }
    absl::StatusOr<v1::ListSagasResponse> listed =
        CollectSagas(ctx, request, args->limit, args->all);
    if (!listed.ok()) return listed.status();
    const v1::ListSagasResponse& collected = *listed;
    if (ctx.json()) return ctx.Print(RenderJson(collected));
    ctx.out() << RenderSagaListTable(collected, ctx.NowUnixMs(),
                                     args->wide ? 0 : TerminalColumns());
    if (!collected.next_page_token().empty()) {
      ctx.err() << "sagactl: more sagas match; use --all or a larger --limit\n";
    }
    return absl::OkStatus();
  };
}

Runner DefineHistory(CLI::App& command) {
  auto id = IdArgument(command);
  return [id](Context& ctx) -> absl::Status {
    absl::StatusOr<v1::GetSagaHistoryResponse> history =
        ctx.client().GetSagaHistory(*id);
    if (!history.ok()) return history.status();
    if (ctx.json()) return ctx.Print(RenderJson(*history));
    ctx.out() << RenderHistoryTable(*history);
    return absl::OkStatus();
  };
}

Runner DefineAwait(CLI::App& command) {
  struct Args {
    std::string timeout;
    std::string step;
    std::string expect;
  };
  auto id = IdArgument(command);
  auto args = std::make_shared<Args>();
  Duration(command.add_option(
      "--timeout", args->timeout,
      "Give up after this long (default: wait until the end)"));
  CLI::Option* step = command.add_option("--step", args->step,
                                         "Return once this step has succeeded");
  command
      .add_option("--expect", args->expect,
                  "Exit 0 when the saga ends in this status (e.g. COMPENSATED "
                  "after a repair), 5 when it ends in another")
      ->check(StatusValidator, "STATUS")
      ->excludes(step);
  return [id, args](Context& ctx) -> absl::Status {
    std::optional<v1::SagaStatus> expect;
    if (!args->expect.empty()) {
      absl::StatusOr<v1::SagaStatus> status = ParseSagaStatus(args->expect);
      if (!status.ok()) {
        return UsageError(std::string(status.status().message()));
      }
      expect = *status;
    }
    std::optional<milliseconds> timeout = TimeoutOption(args->timeout);
    absl::StatusOr<v1::AwaitSagaResponse> awaited =
        ctx.client().AwaitSaga(*id, timeout, args->step);
    if (!awaited.ok()) return awaited.status();
    absl::Status printed = ctx.json() ? ctx.Print(RenderJson(*awaited))
                                      : PrintSagaDetail(ctx, awaited->saga());
    if (!printed.ok()) return printed;
    return WaitOutcome(*awaited, timeout, expect);
  };
}

Runner DefineCancel(CLI::App& command) {
  auto id = IdOrFilterArgument(command);
  auto [reason, bulk] = RepairArguments(command);
  return [id, reason, bulk](Context& ctx) -> absl::Status {
    const BulkAction action = BulkAction::kCancel;
    if (auto one = OneIdOrFilter(*id, *bulk, action); !one.ok()) return one;
    if (id->empty()) return RunBulkRepair(ctx, *bulk, action, "", *reason);
    absl::StatusOr<v1::Saga> saga = ctx.client().CancelSaga(*id, *reason);
    if (!saga.ok()) return saga.status();
    if (ctx.json()) {
      v1::CancelSagaResponse response;
      *response.mutable_saga() = std::move(*saga);
      return ctx.Print(RenderJson(response));
    }
    ctx.out() << RenderSagaTable(*saga, ctx.NowUnixMs());
    return absl::OkStatus();
  };
}

// sagactl's key for a signal sent without --key: the same signal (name and
// payload) to the same saga gets the same key, so sending it again, e.g.
// after a timeout, is harmless. FNV-1a, stable across builds.
std::string DefaultSignalKey(const std::string& name,
                             const std::string& payload) {
  uint64_t hash = 14695981039346656037ull;
  for (char c : name + '\0' + payload) {
    hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx",
                static_cast<unsigned long long>(hash));
  return "sagactl-" + name + "-" + hex;
}

Runner DefineSignal(CLI::App& command) {
  struct Args {
    std::string id;
    std::string name;
    std::string payload = "{}";
    std::string key;
  };
  auto args = std::make_shared<Args>();
  command.add_option("id", args->id, "Saga id")
      ->required()
      ->check(SagaIdValidator, "SAGA_ID");
  command.add_option("name", args->name, "Signal name, e.g. approval")
      ->required();
  command.add_option("--payload", args->payload,
                     "The signal's payload: a JSON object, @FILE, or @- for "
                     "stdin (default {})");
  command.add_option("--key", args->key,
                     "Idempotency key (default: derived from the name and "
                     "payload, so a resend is harmless)");
  return [args](Context& ctx) -> absl::Status {
    absl::StatusOr<std::string> payload = ReadInput(args->payload, ctx.in());
    if (!payload.ok()) return payload.status();
    v1::SignalSagaRequest request;
    request.set_saga_id(args->id);
    request.set_name(args->name);
    request.set_payload_json(*payload);
    request.set_idempotency_key(
        args->key.empty() ? DefaultSignalKey(args->name, *payload) : args->key);
    absl::StatusOr<v1::Saga> saga = ctx.client().SignalSaga(request);
    if (!saga.ok()) return saga.status();
    if (ctx.json()) {
      v1::SignalSagaResponse response;
      *response.mutable_saga() = std::move(*saga);
      return ctx.Print(RenderJson(response));
    }
    ctx.out() << RenderSagaTable(*saga, ctx.NowUnixMs());
    return absl::OkStatus();
  };
}

Runner DefineRetry(CLI::App& command) {
  auto id = IdOrFilterArgument(command);
  auto [reason, bulk] = RepairArguments(command);
  return [id, reason, bulk](Context& ctx) -> absl::Status {
    const BulkAction action = BulkAction::kRetry;
    if (auto one = OneIdOrFilter(*id, *bulk, action); !one.ok()) return one;
    if (id->empty()) return RunBulkRepair(ctx, *bulk, action, "", *reason);
    return PrintRepaired(ctx, ctx.client().RetrySaga(*id, Operator(*reason)));
  };
}

Runner DefineSkipStep(CLI::App& command) {
  auto id = IdOrFilterArgument(command);
  auto step = std::make_shared<std::string>();
  command.add_option("step", *step, "Step name (with an id)");
  auto [reason, bulk] = RepairArguments(command);
  return [id, step, reason, bulk](Context& ctx) -> absl::Status {
    const BulkAction action = BulkAction::kSkipStep;
    if (auto one = OneIdOrFilter(*id, *bulk, action); !one.ok()) return one;
    if (id->empty()) {
      return RunBulkRepair(ctx, *bulk, action, bulk->filter.step, *reason);
    }
    if (step->empty()) return UsageError("step is required");
    return PrintRepaired(ctx,
                         ctx.client().SkipStep(*id, *step, Operator(*reason)));
  };
}

Runner DefineMarkCompensated(CLI::App& command) {
  auto id = IdOrFilterArgument(command);
  auto [reason, bulk] = RepairArguments(command);
  return [id, reason, bulk](Context& ctx) -> absl::Status {
    const BulkAction action = BulkAction::kMarkCompensated;
    if (auto one = OneIdOrFilter(*id, *bulk, action); !one.ok()) return one;
    if (id->empty()) return RunBulkRepair(ctx, *bulk, action, "", *reason);
    return PrintRepaired(ctx,
                         ctx.client().MarkCompensated(*id, Operator(*reason)));
  };
}

Runner DefineWatch(CLI::App& command) {
  auto id = IdArgument(command);
  return [id](Context& ctx) -> absl::Status {
    absl::Status render_error;
    absl::Status streamed = ctx.client().WatchSaga(
        *id, 0, LinePrinter(ctx, render_error, RenderWatchLine));
    if (!streamed.ok()) return streamed;
    if (!render_error.ok()) return render_error;
    absl::StatusOr<v1::Saga> saga = ctx.client().GetSaga(*id);
    if (!saga.ok()) return saga.status();
    if (!IsTerminal(saga->status())) {
      return absl::UnavailableError("the server ended the watch while saga " +
                                    *id + " is still " +
                                    SagaStatusName(saga->status()));
    }
    if (!ctx.json()) {
      ctx.out() << "Saga " << *id << " ended " << SagaStatusName(saga->status())
                << ".\n";
    }
    if (EndedBadly(saga->status())) {
      return SagaEndedBadlyError(*id, SagaStatusName(saga->status()),
                                 saga->error());
    }
    return absl::OkStatus();
  };
}

Runner DefineExport(CLI::App& command) {
  auto id = IdArgument(command);
  return [id](Context& ctx) -> absl::Status {
    absl::StatusOr<v1::Saga> saga = ctx.client().GetSaga(*id);
    if (!saga.ok()) return saga.status();
    absl::StatusOr<core::History> history = FetchHistory(ctx, *saga);
    if (!history.ok()) return history.status();
    return ctx.Print(core::EncodeHistory(*history));
  };
}

Runner DefineReplay(CLI::App& command) {
  struct Args {
    std::vector<std::string> files;
    std::string definition;
  };
  auto args = std::make_shared<Args>();
  command.add_option("files", args->files, "History files (export)")
      ->required();
  command.add_option("--definition", args->definition,
                     "Replay against this definition file (e.g. a new "
                     "version) instead of the one in each history");
  return [args](Context& ctx) -> absl::Status {
    std::optional<core::SagaDefinition> against;
    if (!args->definition.empty()) {
      absl::StatusOr<core::SagaDefinition> loaded =
          LoadDefinitionArg(args->definition);
      if (!loaded.ok()) return loaded.status();
      against = *std::move(loaded);
    }
    std::vector<ReplayOutcome> outcomes;
    int unreadable = 0;
    int diverged = 0;
    for (const std::string& file : args->files) {
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
    const std::string of = " of " + std::to_string(outcomes.size()) +
                           " histor" + (outcomes.size() == 1 ? "y" : "ies");
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
  };
}

}  // namespace saga::sagactl
