// The participant noun: list the participants with their circuits and
// pauses, pause one during an outage, resume it.
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "tools/sagactl/commands.h"
#include "tools/sagactl/participant_render.h"

namespace saga::sagactl {
namespace {

std::shared_ptr<std::string> NameArgument(CLI::App& command) {
  auto name = std::make_shared<std::string>();
  command.add_option("name", *name, "Participant name (as configured)")
      ->required();
  return name;
}

// Prints pause's or resume's answer.
template <typename Response>
absl::Status PrintChange(Context& ctx, const absl::StatusOr<Response>& answer,
                         bool paused) {
  if (!answer.ok()) return answer.status();
  if (ctx.json()) return ctx.Print(RenderJson(*answer));
  ctx.out() << RenderPauseChange(answer->participant(), answer->changed(),
                                 paused, ctx.NowUnixMs());
  return absl::OkStatus();
}

}  // namespace

Runner DefineParticipantList(CLI::App&) {
  return [](Context& ctx) -> absl::Status {
    absl::StatusOr<v1::ListParticipantsResponse> listed =
        ctx.client().ListParticipants();
    if (!listed.ok()) return listed.status();
    if (ctx.json()) return ctx.Print(RenderJson(*listed));
    ctx.out() << RenderParticipantsTable(*listed, ctx.NowUnixMs());
    return absl::OkStatus();
  };
}

Runner DefineParticipantPause(CLI::App& command) {
  auto name = NameArgument(command);
  auto reason = std::make_shared<std::string>();
  command.add_option("--reason", *reason, "Why (recorded)")->required();
  return [name, reason](Context& ctx) {
    return PrintChange(
        ctx, ctx.client().PauseParticipant(*name, Operator(*reason)), true);
  };
}

Runner DefineParticipantResume(CLI::App& command) {
  auto name = NameArgument(command);
  auto reason = std::make_shared<std::string>();
  command.add_option("--reason", *reason, "Why (recorded; optional)");
  return [name, reason](Context& ctx) {
    return PrintChange(
        ctx, ctx.client().ResumeParticipant(*name, Operator(*reason)), false);
  };
}

}  // namespace saga::sagactl
