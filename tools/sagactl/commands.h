// sagactl's commands: what every command gets (Context), how a command is
// declared (a Define function adds its arguments to a CLI11 command and
// returns the function that runs it with them), and the helpers several
// commands share. cli.cc holds the table that names the commands.
#pragma once

#include <chrono>
#include <functional>
#include <iosfwd>
#include <optional>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "orchestrator/core/definition.h"
#include "orchestrator/core/history_file.h"
#include "saga/v1/orchestrator.pb.h"
#include "tools/sagactl/client.h"
#include "tools/sagactl/render.h"

namespace CLI {
class App;
}

namespace saga::sagactl {

// Everything a command needs besides its own arguments.
class Context {
 public:
  Context(bool json, OrchestratorClient& client, std::istream& in,
          std::ostream& out, std::ostream& err)
      : json_(json), in_(in), out_(out), err_(err), client_(client) {}

  // -o json.
  bool json() const { return json_; }
  std::istream& in() { return in_; }
  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }
  OrchestratorClient& client() { return client_; }

  int64_t NowUnixMs() const;

  // Writes `rendered` to out, or returns its error.
  absl::Status Print(const absl::StatusOr<std::string>& rendered);

 private:
  const bool json_;
  std::istream& in_;
  std::ostream& out_;
  std::ostream& err_;
  OrchestratorClient& client_;
};

// Runs a command with the arguments it was parsed with; the status decides
// the exit code (exit_codes.h).
using Runner = std::function<absl::Status(Context&)>;

// Adds a command's arguments to `command` and returns its runner, bound to
// where they are parsed into. Called once per spelling of the command.
using Define = Runner (*)(CLI::App& command);

// The saga noun (saga_commands.cc).
Runner DefineStart(CLI::App& command);
Runner DefineShow(CLI::App& command);
Runner DefineList(CLI::App& command);
Runner DefineHistory(CLI::App& command);
Runner DefineAwait(CLI::App& command);
Runner DefineCancel(CLI::App& command);
Runner DefineSignal(CLI::App& command);
Runner DefineRetry(CLI::App& command);
Runner DefineSkipStep(CLI::App& command);
Runner DefineMarkCompensated(CLI::App& command);
Runner DefineWatch(CLI::App& command);
Runner DefineExport(CLI::App& command);
Runner DefineRerun(CLI::App& command);
Runner DefineReplay(CLI::App& command);

// The definition noun (definition_commands.cc).
Runner DefineDefinitionList(CLI::App& command);
Runner DefineDefinitionValidate(CLI::App& command);
Runner DefineDefinitionCheck(CLI::App& command);

// The events noun (event_commands.cc).
Runner DefineEventsWatch(CLI::App& command);

// The participant noun (participant_commands.cc).
Runner DefineParticipantList(CLI::App& command);
Runner DefineParticipantPause(CLI::App& command);
Runner DefineParticipantResume(CLI::App& command);

// Shared helpers (commands.cc).

// Who is recorded for an operator's action: $SAGACTL_OPERATOR, else the OS
// user sagactl runs as.
std::string OperatorName();
// That operator, with `reason`.
v1::Operator Operator(const std::string& reason);

// CLI11 validators: "" when valid, else the reason.
std::string DurationValidator(const std::string& text);
std::string StatusValidator(const std::string& text);
// A saga id as the server hands them out (a lowercase UUID), so a mistyped
// id is a usage error (exit 2) before any call.
std::string SagaIdValidator(const std::string& text);

// The width `list` fits its table into: $COLUMNS when set to a number,
// else the width of the terminal on standard output, else 0 (not a
// terminal: no limit, so a pipe or a file gets every error whole).
size_t TerminalColumns();

// A duration option already checked by DurationValidator; empty: not given.
std::optional<std::chrono::milliseconds> TimeoutOption(const std::string& text);

absl::StatusOr<std::string> ReadTextFile(const std::string& path);

// A definition file checked as the server checks it at start-up; a bad
// file is a usage error carrying the loader's message.
absl::StatusOr<core::SagaDefinition> LoadDefinitionArg(const std::string& path);

// Pages through ListSagas: every match with `all`, else at most `limit`.
absl::StatusOr<v1::ListSagasResponse> CollectSagas(Context& ctx,
                                                   v1::ListSagasRequest request,
                                                   int limit, bool all);

// GetSagaHistory + GetDefinition of the version `saga` ran with.
absl::StatusOr<core::History> FetchHistory(Context& ctx, const v1::Saga& saga);

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

}  // namespace saga::sagactl
