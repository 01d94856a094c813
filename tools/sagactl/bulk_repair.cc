#include "tools/sagactl/bulk_repair.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <map>
#include <optional>
#include <vector>

#include "CLI/CLI.hpp"
#include "tools/sagactl/bulk_progress.h"
#include "tools/sagactl/bulk_runner.h"
#include "tools/sagactl/exit_codes.h"

namespace saga::sagactl {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Set by the SIGINT handler while a bulk repair runs.
std::atomic<bool> interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void OnInterrupt(int) {
  interrupted.store(true);
  // A second Ctrl-C ends sagactl at once, as without a handler.
  std::signal(SIGINT, SIG_DFL);
}

// Catches SIGINT for its lifetime, then puts the previous handler back.
class InterruptGuard {
 public:
  InterruptGuard() {
    interrupted.store(false);
    struct sigaction action {};
    action.sa_handler = OnInterrupt;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_);
  }
  ~InterruptGuard() { sigaction(SIGINT, &previous_, nullptr); }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  struct sigaction previous_ {};
};

std::string Capitalized(std::string text) {
  if (!text.empty()) text[0] = static_cast<char>(std::toupper(text[0]));
  return text;
}

std::string Sagas(size_t n) {
  return GroupedCount(static_cast<int64_t>(n)) + (n == 1 ? " saga" : " sagas");
}

// "3 sagas match (FAILED 2, RUNNING 1)".
std::string MatchLine(const v1::ListSagasResponse& listed) {
  std::map<int, size_t> by_status;
  for (const v1::Saga& saga : listed.sagas()) ++by_status[saga.status()];
  std::string line = Sagas(listed.sagas_size()) +
                     (listed.sagas_size() == 1 ? " matches (" : " match (");
  bool first = true;
  for (const auto& [status, count] : by_status) {
    if (!first) line += ", ";
    first = false;
    line += SagaStatusName(static_cast<v1::SagaStatus>(status)) + " " +
            GroupedCount(static_cast<int64_t>(count));
  }
  return line + ")";
}

// Asks on the terminal; true for "y" or "yes".
bool Confirmed(Context& ctx, BulkAction action, size_t n) {
  ctx.err() << Capitalized(BulkActionVerb(action)) << " " << Sagas(n)
            << "? [y/N] ";
  ctx.err().flush();
  std::string answer;
  if (!std::getline(ctx.in(), answer)) return false;
  for (char& c : answer) c = static_cast<char>(std::tolower(c));
  return answer == "y" || answer == "yes";
}

// One repair call, then after a refusal the saga as it now is, so the
// result can tell "already done" from "failed".
BulkItemResult RepairOne(OrchestratorClient& client, BulkAction action,
                         const std::string& saga_id, const std::string& step,
                         const v1::Operator& by, const std::string& reason) {
  absl::Status call;
  switch (action) {
    case BulkAction::kRetry:
      call = client.RetrySaga(saga_id, by).status();
      break;
    case BulkAction::kCancel:
      call = client.CancelSaga(saga_id, reason).status();
      break;
    case BulkAction::kSkipStep:
      call = client.SkipStep(saga_id, step, by).status();
      break;
    case BulkAction::kMarkCompensated:
      call = client.MarkCompensated(saga_id, by).status();
      break;
  }
  std::optional<v1::Saga> after;
  if (absl::IsFailedPrecondition(call)) {
    absl::StatusOr<v1::Saga> saga = client.GetSaga(saga_id);
    if (saga.ok()) after = *std::move(saga);
  }
  return ClassifyBulkItem(action, step, saga_id, call, after);
}

}  // namespace

std::shared_ptr<BulkFlags> AddBulkFlags(CLI::App& command) {
  auto flags = std::make_shared<BulkFlags>();
  BulkFilterArgs& filter = flags->filter;
  const std::string group = "Bulk (a filter instead of an id)";
  auto add = [&](const std::string& name, std::string& into,
                 const std::string& help) {
    return command.add_option(name, into, help)->group(group);
  };
  add("--status", filter.status, "Every saga in this status")
      ->check(StatusValidator, "STATUS");
  add("--type", filter.type, "Every saga of this type");
  add("--since", filter.since, "Created within this long, e.g. 2h")
      ->check(DurationValidator, "DURATION");
  add("--until", filter.until, "Created more than this long ago, e.g. 30m")
      ->check(DurationValidator, "DURATION");
  add("--step", filter.step,
      "At this step (FAILED: the step that gave up; running: the step in "
      "progress); skip-step skips it");
  add("--error-contains", filter.error_contains,
      "Whose error contains this text (ignoring case)");
  add("--business-key", filter.business_key, "With this business key");
  command.add_flag("--yes", flags->yes, "Do not ask for confirmation")
      ->group(group);
  command
      .add_flag("--dry-run", flags->dry_run,
                "List the matching sagas and change nothing")
      ->group(group);
  command.add_option("--parallel", flags->parallel, "Calls in flight at most")
      ->check(CLI::Range(1, 64))
      ->default_val(8)
      ->group(group);
  return flags;
}

absl::Status OneIdOrFilter(const std::string& id, const BulkFlags& flags,
                           BulkAction action) {
  const std::string verb = BulkActionVerb(action);
  if (!id.empty() && flags.filter.any()) {
    return UsageError(verb +
                      ": give a saga id or a filter (--status, "
                      "--type, ...), not both");
  }
  if (!id.empty() && flags.dry_run) {
    return UsageError(verb +
                      ": --dry-run lists the sagas a filter matches; "
                      "with an id, use 'sagactl show ID'");
  }
  if (id.empty() && !flags.filter.any()) {
    return UsageError(verb +
                      ": give a saga id, or a filter (--status, "
                      "--type, --since, --until, --step, "
                      "--error-contains, --business-key) for every "
                      "matching saga");
  }
  if (id.empty() && action == BulkAction::kSkipStep &&
      flags.filter.step.empty()) {
    return UsageError("skip-step over a filter needs --step: the step to skip");
  }
  return absl::OkStatus();
}

absl::Status RunBulkRepair(Context& ctx, const BulkFlags& flags,
                           BulkAction action, const std::string& step,
                           const std::string& reason) {
  const std::string verb = BulkActionVerb(action);
  absl::StatusOr<v1::ListSagasRequest> request =
      BulkListRequest(flags.filter, ctx.NowUnixMs());
  if (!request.ok()) return request.status();
  // Refused before any call: a script must say --yes on purpose.
  if (!flags.dry_run && !flags.yes && !isatty(STDIN_FILENO)) {
    return UsageError(verb +
                      " over a filter asks for confirmation on a terminal, "
                      "and standard input is not one: pass --yes to go "
                      "ahead (or --dry-run to list the sagas)");
  }

  // The ids are fixed here: sagas that start matching later wait for the
  // next run, and a saga repaired by this one is not listed again.
  absl::StatusOr<v1::ListSagasResponse> listed =
      CollectSagas(ctx, *request, 0, /*all=*/true);
  if (!listed.ok()) return listed.status();
  const size_t n = listed->sagas_size();
  if (n == 0) {
    ctx.err() << "sagactl: no saga matches; nothing to " << verb << "\n";
    return absl::OkStatus();
  }
  ctx.err() << "sagactl: " << MatchLine(*listed) << "\n";
  if (flags.dry_run) {
    if (ctx.json()) return ctx.Print(RenderJson(*listed));
    ctx.out() << RenderSagaListTable(*listed, ctx.NowUnixMs(),
                                     TerminalColumns());
    return absl::OkStatus();
  }
  if (!flags.yes && !Confirmed(ctx, action, n)) {
    ctx.err() << "sagactl: nothing done\n";
    return absl::OkStatus();
  }

  std::vector<BulkItemResult> results(n);
  for (size_t i = 0; i < n; ++i) {
    results[i].saga_id = listed->sagas(static_cast<int>(i)).saga_id();
  }
  const v1::Operator by = Operator(reason);
  ProgressReporter progress(isatty(STDERR_FILENO) != 0);
  const SteadyClock::time_point start = SteadyClock::now();
  auto elapsed = [&start] {
    return std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start);
  };
  InterruptGuard guard;
  BulkRunOptions options;
  options.parallel = flags.parallel;
  bool told = false;
  const size_t started = RunBulk(
      n, options,
      [&](size_t i) {
        results[i] = RepairOne(ctx.client(), action, results[i].saga_id, step,
                               by, reason);
      },
      interrupted,
      [&](size_t done) {
        if (interrupted.load() && !told) {
          told = true;
          ctx.err() << (progress.terminal() ? "\n" : "")
                    << "sagactl: interrupted: starting no more; waiting for "
                       "the calls in flight\n";
        }
        ctx.err() << progress.Update(done, n, elapsed());
        ctx.err().flush();
      });
  const bool stopped = started < n;
  ctx.err() << progress.Finish(started, n, elapsed());

  if (ctx.json()) {
    for (const BulkItemResult& result : results) {
      ctx.out() << RenderBulkJsonLine(result);
    }
  } else {
    ctx.out() << RenderBulkReport(action, results, stopped);
  }
  ctx.out().flush();
  const BulkCounts counts = CountOutcomes(results);
  if (stopped) {
    return InterruptedError(
        "interrupted: " + verb + " of " + Sagas(n) + " stopped after " +
        GroupedCount(static_cast<int64_t>(started)) + " (" +
        GroupedCount(static_cast<int64_t>(counts.not_attempted)) +
        " not attempted); run the same command again to do the rest");
  }
  if (counts.failed > 0) {
    return BulkItemsFailedError(verb + " failed for " + Sagas(counts.failed) +
                                " of " + GroupedCount(static_cast<int64_t>(n)) +
                                " (see the results above)");
  }
  return absl::OkStatus();
}

}  // namespace saga::sagactl
