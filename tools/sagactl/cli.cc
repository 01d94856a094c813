#include "tools/sagactl/cli.h"

#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "tools/sagactl/client.h"
#include "tools/sagactl/commands.h"
#include "tools/sagactl/exit_codes.h"

namespace saga::sagactl {
namespace {

constexpr char kDefaultAddress[] = "127.0.0.1:50051";

struct Noun {
  std::string name;
  std::string summary;
};

const std::vector<Noun>& Nouns() {
  static const auto* nouns = new std::vector<Noun>{
      {"saga", "Start, inspect, wait for, repair, export and replay sagas"},
      {"definition", "Saga definitions: list, validate, check"},
      {"events", "The outbox stream (messages for other services)"},
      {"participant", "Participants: list, pause and resume calls to one"},
  };
  return *nouns;
}

struct Command {
  std::string noun;
  std::string verb;
  std::string summary;
  Define define;
  // Other spellings that run the same command, as words after "sagactl":
  // those of earlier releases, which scripts use.
  std::vector<std::string> aliases;
};

// Every command, by noun. `sagactl NOUN VERB` runs one; each alias too.
const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"saga",
       "start",
       "Start a saga; print its id, or with --wait the saga at its end",
       DefineStart,
       {"start"}},
      {"saga",
       "show",
       "Show a saga: input, status, steps and timeline",
       DefineShow,
       {"show"}},
      {"saga", "list", "List sagas, newest first", DefineList, {"list"}},
      {"saga",
       "history",
       "Print a saga's event history",
       DefineHistory,
       {"history"}},
      {"saga",
       "await",
       "Wait for a saga to end (or a step to succeed) and show it",
       DefineAwait,
       {"await"}},
      {"saga",
       "cancel",
       "Cancel a running saga: it compensates, then COMPENSATED",
       DefineCancel,
       {"cancel"}},
      {"saga",
       "signal",
       "Send a named signal to a saga: a wait step for it takes the payload "
       "as its output",
       DefineSignal,
       {"signal"}},
      {"saga",
       "retry",
       "Resume now: a FAILED saga's compensation, or a saga waiting out a "
       "backoff",
       DefineRetry,
       {"retry"}},
      {"saga",
       "skip-step",
       "Record that a step being compensated was undone by hand; "
       "compensation goes on with the earlier steps",
       DefineSkipStep,
       {"skip-step"}},
      {"saga",
       "mark-compensated",
       "End a FAILED saga as COMPENSATED: what was left was undone by hand",
       DefineMarkCompensated,
       {"mark-compensated"}},
      {"saga",
       "rerun",
       "Start a new saga from an ended one's input (edited with --set or "
       "--input), linked to it",
       DefineRerun,
       {"rerun"}},
      {"saga",
       "watch",
       "Print a saga's events as they happen until it ends",
       DefineWatch,
       {"watch"}},
      {"saga",
       "export",
       "Write a saga's self-contained history (definition, input, events) "
       "as JSON, for replay",
       DefineExport,
       {"export"}},
      {"saga",
       "replay",
       "Offline: replay exported histories through this build's decider and "
       "report OK or the first divergence per file",
       DefineReplay,
       {"replay"}},
      {"definition",
       "list",
       "List saga definitions (types and versions) on the server",
       DefineDefinitionList,
       {"definitions", "definitions list"}},
      {"definition",
       "validate",
       "Offline: check a definition file as the server does",
       DefineDefinitionValidate,
       {"definitions validate"}},
      {"definition",
       "check",
       "Replay every unfinished saga of the file's type against it and "
       "report the ones it would strand",
       DefineDefinitionCheck,
       {"definitions check"}},
      {"events",
       "watch",
       "Print the outbox stream in order; resume with --from the last "
       "position printed",
       DefineEventsWatch,
       {"events"}},
      {"participant",
       "list",
       "List the participants: address, circuit, calls in flight and "
       "parked, errors in the last minute, pause",
       DefineParticipantList,
       {"participants"}},
      {"participant",
       "pause",
       "Pause every call to a participant (all instances) during an outage; "
       "its sagas wait without using attempts",
       DefineParticipantPause,
       {"pause"}},
      {"participant",
       "resume",
       "Resume the calls to a paused participant",
       DefineParticipantResume,
       {"resume"}},
  };
  return *commands;
}

std::vector<std::string> Words(const std::string& spelling) {
  std::istringstream in(spelling);
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

// `first`, then `text` from column 24 on, wrapped at 80 columns.
std::string Row(const std::string& first, const std::string& text) {
  constexpr size_t kIndent = 24;
  constexpr size_t kColumns = 80;
  std::string row =
      first +
      std::string(first.size() + 2 > kIndent ? 2 : kIndent - first.size(), ' ');
  size_t line = row.size();
  bool line_empty = true;
  for (const std::string& word : Words(text)) {
    if (!line_empty && line + 1 + word.size() > kColumns) {
      row += "\n" + std::string(kIndent, ' ');
      line = kIndent;
      line_empty = true;
    }
    if (!line_empty) {
      row += " ";
      ++line;
    }
    row += word;
    line += word.size();
    line_empty = false;
  }
  return row + "\n";
}

// The command list of `sagactl --help`, from the table.
std::string CommandsHelp() {
  std::string help =
      "Commands ('sagactl NOUN VERB --help' shows a command's arguments):\n";
  for (const Noun& noun : Nouns()) {
    help += "  " + noun.name + "\n";
    for (const Command& command : Commands()) {
      if (command.noun == noun.name) {
        help += Row("    " + command.verb, command.summary);
      }
    }
  }
  help += "\nShort forms (each runs the command it names):\n";
  for (const Command& command : Commands()) {
    for (const std::string& alias : command.aliases) {
      help += Row("  " + alias, command.noun + " " + command.verb);
    }
  }
  return help;
}

// The CLI11 commands for every spelling, and which runner each one runs.
class CommandTree {
 public:
  explicit CommandTree(CLI::App& root) : root_(root) {
    for (const Noun& noun : Nouns()) At({noun.name}, noun.summary);
    for (const Command& command : Commands()) {
      Add({command.noun, command.verb}, command);
      for (const std::string& alias : command.aliases) {
        Add(Words(alias), command);
      }
    }
    // A command with commands under it needs one of them, unless it also
    // runs on its own (`definitions`, `events`).
    for (CLI::App* parent : parents_) {
      parent->require_subcommand(runners_.count(parent) ? 0 : 1, 1);
    }
  }

  // The runner of the deepest command parsed; null if none was.
  const Runner* Parsed() const {
    const CLI::App* node = &root_;
    while (!node->get_subcommands().empty()) {
      node = node->get_subcommands().front();
    }
    auto runner = runners_.find(node);
    return runner == runners_.end() ? nullptr : &runner->second;
  }

 private:
  // The command spelled `words`, made with `summary` if new.
  CLI::App* At(const std::vector<std::string>& words,
               const std::string& summary) {
    CLI::App* node = &root_;
    std::string path;
    for (const std::string& word : words) {
      path += " " + word;
      auto [known, added] = nodes_.emplace(path, nullptr);
      if (added) {
        parents_.insert(node);
        known->second = node->add_subcommand(word, summary);
        // sagactl --help lists the top level from the table.
        if (node == &root_) known->second->group("");
      }
      node = known->second;
    }
    return node;
  }

  void Add(const std::vector<std::string>& words, const Command& command) {
    CLI::App* node = At(words, command.summary);
    node->description(command.summary);
    runners_[node] = command.define(*node);
  }

  CLI::App& root_;
  std::map<std::string, CLI::App*> nodes_;  // by " word word..."
  std::set<CLI::App*> parents_;
  std::map<const CLI::App*, Runner> runners_;
};

struct GlobalOptions {
  std::string address = kDefaultAddress;
  std::string output = "table";
  security::ClientTls tls;
  std::string token;
  std::string token_file;
};

void AddGlobalOptions(CLI::App& app, GlobalOptions& global) {
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

}  // namespace

int RunCli(int argc, const char* const* argv, std::istream& in,
           std::ostream& out, std::ostream& err) {
  CLI::App app{
      "sagactl: operate the saga orchestrator through its gRPC API.\n"
      "Durations look like 500ms, 30s, 2m, 1h30m. Statuses: RUNNING, "
      "COMPENSATING,\nCOMPLETED, COMPENSATED, FAILED.",
      "sagactl"};
  app.footer(CommandsHelp() + "\n" + ExitCodesHelp());
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("sagactl: ") + e.what() +
           "\nRun 'sagactl --help' for usage.\n";
  });
  app.require_subcommand(1);
  // Global flags may come after the command too: `sagactl show ID -o json`.
  // Set before the commands are added, which inherit it.
  app.fallthrough();
  GlobalOptions global;
  AddGlobalOptions(app, global);
  const CommandTree commands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e, out, err);
    return code == 0 ? kExitOk : kExitUsage;
  }
  const Runner* run = commands.Parsed();
  if (run == nullptr) {  // unreachable: every leaf has a runner
    err << "sagactl: no command\n";
    return kExitUsage;
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
  Context ctx(global.output == "json", **client, in, out, err);
  absl::Status status = (*run)(ctx);
  out.flush();
  if (!status.ok()) err << ErrorLine(status) << "\n";
  return ExitCodeFor(status);
}

}  // namespace saga::sagactl
