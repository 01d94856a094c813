// The console in process: a ConsoleServer over the in-process channel of a
// real gRPC server (service_test_fixture.h: the real service, engine,
// in-memory store and a fake participant), called over HTTP and HTTPS with a
// Beast client.
// Boost 1.74's Asio needs <utility> first under C++20.
#include <utility>
//
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>
#include <optional>

#include "orchestrator/api/service_test_fixture.h"
#include "orchestrator/console/http_server.h"
#include "orchestrator/console/security_headers.h"
#include "tests/support/test_certificates.h"

namespace saga::console {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using api::testing::Context;
using api::testing::kBookingInput;
using api::testing::ServiceHarness;
using api::testing::ServiceHarnessOptions;
using asio::ip::tcp;
using nlohmann::json;

constexpr char kSubmitterToken[] = "submitter-token-1";
constexpr char kOtherSubmitterToken[] = "submitter-token-2";
constexpr char kOperatorToken[] = "operator-token-1";

ServiceHarnessOptions WithTokens() {
  using security::Role;
  auto tokens = security::TokenTable::Create(
      {{"booking-service", Role::kSubmitter,
        security::Sha256Hex(kSubmitterToken)},
       {"billing-service", Role::kSubmitter,
        security::Sha256Hex(kOtherSubmitterToken)},
       {"ops", Role::kOperator, security::Sha256Hex(kOperatorToken)}});
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  ServiceHarnessOptions options;
  if (tokens.ok()) options.tokens = *std::move(tokens);
  return options;
}

struct Reply {
  int status = 0;
  http::fields headers;
  std::string body;

  json Json() const { return json::parse(body); }
};

struct ClientTls {
  std::string ca;
  std::string cert;  // empty: no client certificate
  std::string key;
};

struct Request {
  http::verb verb = http::verb::post;
  std::string target;
  std::string body;
  std::string token;  // empty: no Authorization header
  std::string content_type = "application/json";
  std::string host = "localhost";
};

template <typename Stream>
Reply Exchange(Stream& stream, const Request& request) {
  http::request<http::string_body> message(request.verb, request.target, 11);
  message.set(http::field::host, request.host);
  if (!request.content_type.empty()) {
    message.set(http::field::content_type, request.content_type);
  }
  if (!request.token.empty()) {
    message.set(http::field::authorization, "Bearer " + request.token);
  }
  message.body() = request.body;
  message.prepare_payload();
  http::write(stream, message);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  return {static_cast<int>(response.result_int()), response.base(),
          response.body()};
}

Request Get(const std::string& target) {
  Request request;
  request.verb = http::verb::get;
  request.target = target;
  return request;
}

Request Api(const std::string& method, const std::string& body,
            const std::string& token = "") {
  Request request;
  request.target = "/api/v1/" + method;
  request.body = body;
  request.token = token;
  return request;
}

Request WithHost(Request request, const std::string& host) {
  request.host = host;
  return request;
}

// One request on a new connection; throws on a transport or TLS failure.
Reply Send(int port, const Request& request,
           const std::optional<ClientTls>& tls = std::nullopt) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(
      {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  if (!tls) return Exchange(socket, request);
  asio::ssl::context context(asio::ssl::context::tls_client);
  context.load_verify_file(tls->ca);
  if (!tls->cert.empty()) {
    context.use_certificate_chain_file(tls->cert);
    context.use_private_key_file(tls->key, asio::ssl::context::pem);
  }
  beast::ssl_stream<tcp::socket> stream(std::move(socket), context);
  stream.set_verify_mode(asio::ssl::verify_peer);
  stream.set_verify_callback(asio::ssl::host_name_verification("localhost"));
  stream.handshake(asio::ssl::stream_base::client);
  return Exchange(stream, request);
}

Reply Post(int port, const std::string& method, const std::string& body,
           const std::string& token = "") {
  return Send(port, Api(method, body, token));
}

// The console in front of a harness's gRPC server.
std::unique_ptr<ConsoleServer> ConsoleFor(ServiceHarness& harness,
                                          ConsoleOptions options = {}) {
  options.listen = "127.0.0.1:0";
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(-1);
  auto console = ConsoleServer::Start(
      options, harness.server().InProcessChannel(arguments));
  EXPECT_TRUE(console.ok()) << console.status();
  return console.ok() ? *std::move(console) : nullptr;
}

// `message` in proto3 JSON as the console prints it, parsed.
json AsJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string text;
  EXPECT_TRUE(
      google::protobuf::util::MessageToJsonString(message, &text, options)
          .ok());
  return json::parse(text);
}

// Starts a booking saga over HTTP and waits (over gRPC) for its end.
std::string FinishedSaga(ServiceHarness& harness, int port,
                         const std::string& token = "") {
  const Reply started = Post(
      port, "StartSaga",
      json{{"sagaType", "appointment_booking"}, {"inputJson", kBookingInput}}
          .dump(),
      token);
  EXPECT_EQ(started.status, 200) << started.body;
  const std::string id = started.Json().value("sagaId", "");
  v1::AwaitSagaRequest await;
  await.set_saga_id(id);
  await.set_timeout_ms(30000);
  v1::AwaitSagaResponse awaited;
  const grpc::Status status =
      harness.Stub().AwaitSaga(Context(token).get(), await, &awaited);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(awaited.saga().status(), v1::SAGA_STATUS_COMPLETED);
  return id;
}

void ExpectSecurityHeaders(const Reply& reply) {
  for (const auto& [name, value] : SecurityHeaders()) {
    EXPECT_EQ(reply.headers[std::string(name)], std::string(value)) << name;
  }
}

TEST(ConsoleTest, ServesItsPagesWithTheSecurityHeaders) {
  ServiceHarness harness;
  auto console = ConsoleFor(harness);
  ASSERT_NE(console, nullptr);
  EXPECT_EQ(console->url(),
            "http://127.0.0.1:" + std::to_string(console->port()) + "/");

  const Reply index = Send(console->port(), Get("/?x=1"));
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.headers[http::field::content_type],
            "text/html; charset=utf-8");
  EXPECT_NE(index.body.find("<html"), std::string::npos);
  ExpectSecurityHeaders(index);
  EXPECT_EQ(index.headers["Content-Security-Policy"],
            "default-src 'self'; script-src 'self'; style-src 'self'; "
            "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'; form-action 'self'");

  for (const char* path :
       {"/nope.js", "/../CMakeLists.txt", "/web/index.html"}) {
    SCOPED_TRACE(path);
    const Reply missing = Send(console->port(), Get(path));
    EXPECT_EQ(missing.status, 404);
    ExpectSecurityHeaders(missing);
  }
}

TEST(ConsoleTest, ListSagasAndGetSagaAnswerAsTheGrpcService) {
  ServiceHarness harness;
  auto console = ConsoleFor(harness);
  ASSERT_NE(console, nullptr);
  const std::string id = FinishedSaga(harness, console->port());

  const Reply listed = Post(console->port(), "ListSagas", "{}");
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(listed.headers[http::field::cache_control], "no-store");
  ExpectSecurityHeaders(listed);
  v1::ListSagasResponse grpc_list;
  ASSERT_TRUE(
      harness.Stub()
          .ListSagas(Context().get(), v1::ListSagasRequest(), &grpc_list)
          .ok());
  ASSERT_EQ(grpc_list.sagas_size(), 1);
  EXPECT_EQ(listed.Json(), AsJson(grpc_list));

  const Reply got =
      Post(console->port(), "GetSaga", json{{"sagaId", id}}.dump());
  ASSERT_EQ(got.status, 200) << got.body;
  v1::GetSagaRequest request;
  request.set_saga_id(id);
  v1::GetSagaResponse grpc_got;
  ASSERT_TRUE(harness.Stub().GetSaga(Context().get(), request, &grpc_got).ok());
  EXPECT_EQ(got.Json(), AsJson(grpc_got));
  // Enums by name, 64-bit integers as strings.
  EXPECT_EQ(got.Json()["saga"]["status"], "SAGA_STATUS_COMPLETED");
  EXPECT_TRUE(got.Json()["saga"]["createdUnixMs"].is_string()) << got.body;
}

TEST(ConsoleTest, RefusesBadRequestsWithoutCallingTheService) {
  ServiceHarness harness;
  auto console = ConsoleFor(harness);
  ASSERT_NE(console, nullptr);
  const int port = console->port();
  for (const char* body :
       {"{not json", R"({"sagaType":"appointment_booking","bogus":1})",
        R"({"sagaType":7})"}) {
    SCOPED_TRACE(body);
    const Reply refused = Post(port, "StartSaga", body);
    EXPECT_EQ(refused.status, 400);
    EXPECT_EQ(refused.Json()["code"], "INVALID_ARGUMENT");
    ExpectSecurityHeaders(refused);
  }
  // The service's own validation, with its code and message.
  const Reply invalid = Post(port, "GetSaga", R"({"sagaId":"not-a-uuid"})");
  EXPECT_EQ(invalid.status, 400);
  EXPECT_EQ(invalid.Json()["code"], "INVALID_ARGUMENT");
  const Reply missing = Post(
      port, "GetSaga", R"({"sagaId":"00000000-0000-4000-8000-000000000000"})");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.Json()["code"], "NOT_FOUND");

  // A form elsewhere cannot post JSON as application/json.
  Request form_request =
      Api("StartSaga", R"({"sagaType":"appointment_booking"})");
  form_request.content_type = "text/plain";
  const Reply form = Send(port, form_request);
  EXPECT_EQ(form.status, 415);
  const Reply get = Send(port, Get("/api/v1/ListSagas"));
  EXPECT_EQ(get.status, 405);
  // A page of another site rebound to 127.0.0.1 names that site in Host.
  const Reply rebound =
      Send(port, WithHost(Api("StartSaga", R"({"sagaType":"x"})"),
                          "attacker.example:" + std::to_string(port)));
  EXPECT_EQ(rebound.status, 403);
  for (const std::string& host :
       {"127.0.0.1:" + std::to_string(port), std::string("[::1]:1"),
        std::string("LOCALHOST")}) {
    SCOPED_TRACE(host);
    EXPECT_EQ(Send(port, WithHost(Api("WhoAmI", ""), host)).status, 200);
  }
  EXPECT_TRUE(harness.store().Outbox().empty());

  for (const char* method : {"NoSuchMethod", "WatchSaga", "WatchEvents"}) {
    SCOPED_TRACE(method);
    const Reply unknown = Post(port, method, "{}");
    EXPECT_EQ(unknown.status, 404);
    EXPECT_EQ(unknown.Json()["code"], "NOT_FOUND");
  }
}

TEST(ConsoleTest, RefusesABodyAboveTheLimit) {
  ServiceHarness harness;
  ConsoleOptions options;
  options.max_body_bytes = 1000;
  auto console = ConsoleFor(harness, options);
  ASSERT_NE(console, nullptr);
  const Reply refused = Post(console->port(), "StartSaga",
                             json{{"sagaType", "appointment_booking"},
                                  {"inputJson", std::string(2000, 'x')}}
                                 .dump());
  EXPECT_EQ(refused.status, 413);
  EXPECT_TRUE(harness.store().Outbox().empty());
}

TEST(ConsoleTest, TokensAndRolesAreTheService) {
  ServiceHarness harness(WithTokens());
  auto console = ConsoleFor(harness);
  ASSERT_NE(console, nullptr);
  const int port = console->port();

  const Reply anonymous = Post(port, "ListSagas", "{}");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(anonymous.Json()["code"], "UNAUTHENTICATED");
  EXPECT_EQ(Post(port, "ListSagas", "{}", "not-a-token").status, 401);

  const std::string own = FinishedSaga(harness, port, kSubmitterToken);
  const std::string others = FinishedSaga(harness, port, kOtherSubmitterToken);
  const Reply retry =
      Post(port, "RetrySaga", json{{"sagaId", own}}.dump(), kSubmitterToken);
  EXPECT_EQ(retry.status, 403);
  EXPECT_EQ(retry.Json()["code"], "PERMISSION_DENIED");
  // A submitter sees its own sagas only: another's is "not found".
  EXPECT_EQ(Post(port, "GetSaga", json{{"sagaId", own}}.dump(), kSubmitterToken)
                .status,
            200);
  const Reply hidden =
      Post(port, "GetSaga", json{{"sagaId", others}}.dump(), kSubmitterToken);
  EXPECT_EQ(hidden.status, 404);
  EXPECT_EQ(hidden.Json()["message"], "saga " + others + " not found");
  EXPECT_EQ(Post(port, "ListSagas", "{}", kSubmitterToken).status, 403);
  const Reply all = Post(port, "ListSagas", "{}", kOperatorToken);
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(all.Json()["sagas"].size(), 2u);

  const Reply submitter = Post(port, "WhoAmI", "", kSubmitterToken);
  ASSERT_EQ(submitter.status, 200) << submitter.body;
  EXPECT_EQ(submitter.Json(), (json{{"name", "booking-service"},
                                    {"role", "submitter"},
                                    {"authenticationEnabled", true}}));
  const Reply op = Post(port, "WhoAmI", "{}", kOperatorToken);
  EXPECT_EQ(op.Json()["role"], "operator");
  EXPECT_EQ(Post(port, "WhoAmI", "{}").status, 401);
}

TEST(ConsoleTest, WhoAmIWithoutTokensIsAnUnnamedOperator) {
  ServiceHarness harness;
  auto console = ConsoleFor(harness);
  ASSERT_NE(console, nullptr);
  const Reply reply = Post(console->port(), "WhoAmI", "{}");
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.Json(), (json{{"name", ""},
                                {"role", "operator"},
                                {"authenticationEnabled", false}}));
}

TEST(ConsoleTest, PagesASagasHistory) {
  ServiceHarness harness;
  auto console = ConsoleFor(harness);
  ASSERT_NE(console, nullptr);
  const int port = console->port();
  const std::string id = FinishedSaga(harness, port);
  const Reply whole = Post(port, "GetSagaHistory", json{{"sagaId", id}}.dump());
  ASSERT_EQ(whole.status, 200) << whole.body;
  const json all = whole.Json()["events"];
  ASSERT_GT(all.size(), 4u);
  EXPECT_EQ(whole.Json()["hasMore"], false);

  json paged = json::array();
  std::string after = "0";
  int pages = 0;
  while (true) {
    const Reply page =
        Post(port, "GetSagaHistory",
             json{{"sagaId", id}, {"afterSeq", after}, {"pageSize", 2}}.dump());
    ASSERT_EQ(page.status, 200) << page.body;
    ++pages;
    const json body = page.Json();
    for (const json& event : body["events"]) paged.push_back(event);
    ASSERT_LE(body["events"].size(), 2u);
    after = body["nextAfterSeq"].get<std::string>();
    if (!body["hasMore"].get<bool>()) break;
    ASSERT_LT(pages, 100);
  }
  EXPECT_EQ(paged, all);
  EXPECT_EQ(pages, static_cast<int>((all.size() + 1) / 2));
  EXPECT_EQ(after, all.back()["seq"].get<std::string>());

  const Reply negative = Post(port, "GetSagaHistory",
                              json{{"sagaId", id}, {"pageSize", -1}}.dump());
  EXPECT_EQ(negative.status, 400);
}

TEST(ConsoleTest, ServesHttpsWithTheServersCertificates) {
  testing::TestCertificates certificates;
  ASSERT_TRUE(certificates.Created());
  ServiceHarness harness;
  ConsoleOptions options;
  options.tls = {certificates.server_cert(), certificates.server_key(),
                 certificates.ca(), /*require_client_cert=*/true};
  auto console = ConsoleFor(harness, options);
  ASSERT_NE(console, nullptr);
  EXPECT_EQ(console->url(),
            "https://127.0.0.1:" + std::to_string(console->port()) + "/");
  const ClientTls client{certificates.ca(), certificates.client_cert(),
                         certificates.client_key()};

  const Reply index = Send(console->port(), Get("/"), client);
  EXPECT_EQ(index.status, 200);
  ExpectSecurityHeaders(index);
  const Reply who = Send(console->port(), Api("WhoAmI", "{}"), client);
  EXPECT_EQ(who.status, 200) << who.body;

  // Mutual TLS as on the gRPC port: no client certificate, no console.
  EXPECT_ANY_THROW(
      Send(console->port(), Get("/"), ClientTls{certificates.ca(), "", ""}));
  // Nor does it speak plain HTTP.
  EXPECT_ANY_THROW(Send(console->port(), Get("/")));
}

}  // namespace
}  // namespace saga::console
