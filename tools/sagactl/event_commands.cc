// The events noun: the outbox stream (messages for other services).
#include <memory>

#include "CLI/CLI.hpp"
#include "tools/sagactl/commands.h"

namespace saga::sagactl {

Runner DefineEventsWatch(CLI::App& command) {
  struct Args {
    int64_t from = 0;
    bool follow = false;
    std::string saga_type;
    std::string type;
  };
  auto args = std::make_shared<Args>();
  command
      .add_option("--from", args->from,
                  "Start after this position (0: from the start)")
      ->check(CLI::NonNegativeNumber)
      ->default_val(0);
  command.add_flag("--follow", args->follow,
                   "Keep printing new messages as they commit, until "
                   "interrupted (default: stop once caught up)");
  command.add_option("--saga-type", args->saga_type,
                     "Only messages about sagas of this type");
  command.add_option("--type", args->type,
                     "Only messages of this type, e.g. saga.completed");
  return [args](Context& ctx) -> absl::Status {
    v1::WatchEventsRequest request;
    request.set_from_position(args->from);
    request.set_follow(args->follow);
    request.set_saga_type(args->saga_type);
    request.set_type(args->type);
    absl::Status render_error;
    absl::Status streamed = ctx.client().WatchEvents(
        request, LinePrinter(ctx, render_error, RenderOutboxEventLine));
    if (!streamed.ok()) return streamed;
    return render_error;
  };
}

}  // namespace saga::sagactl
