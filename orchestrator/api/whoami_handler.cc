// WhoAmI: the caller as Authorize sees it.
#include "orchestrator/api/orchestrator_service.h"

namespace saga::api {

grpc::ServerUnaryReactor* OrchestratorService::WhoAmI(
    grpc::CallbackServerContext* context, const v1::WhoAmIRequest* /*request*/,
    v1::WhoAmIResponse* response) {
  auto* reactor = context->DefaultReactor();
  const auto caller = Admit(context, reactor, "WhoAmI");
  if (!caller) return reactor;
  response->set_name(caller->name);
  response->set_role(security::RoleName(caller->role));
  response->set_authentication_enabled(options_.authorizer.enabled());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace saga::api
