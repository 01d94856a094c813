// Boost.Beast rather than a hand-written HTTP parser: it is well kept, ships
// with Boost (already a dependency for Asio) and does TLS through
// asio::ssl. Each connection is one coroutine on the server's I/O thread;
// API calls leave that thread (ApiGateway calls back on a gRPC thread) and
// their answers come back to it through the coroutine's executor.
#include "orchestrator/console/http_server.h"

// Boost 1.74's Asio needs <utility> first under C++20.
#include <utility>
//
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "orchestrator/console/api_gateway.h"
#include "orchestrator/console/grpc_http_status.h"
#include "orchestrator/console/security_headers.h"
#include "orchestrator/console/static_files.h"

namespace saga::console {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::redirect_error;
using asio::use_awaitable;
using asio::ip::tcp;
using boost::system::error_code;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

constexpr std::string_view kApiPrefix = "/api/v1/";

struct ConsoleServer::Impl {
  explicit Impl(ConsoleOptions o, std::shared_ptr<grpc::Channel> channel)
      : options(std::move(o)), gateway(std::move(channel)) {}

  ConsoleOptions options;
  ApiGateway gateway;
  std::optional<asio::ssl::context> ssl;
  std::unique_ptr<asio::io_context> io = std::make_unique<asio::io_context>(1);
  std::unique_ptr<tcp::acceptor> acceptor;
  std::atomic<int> connections{0};
  std::thread thread;
  std::string url;
  int port = 0;
  // Listening on a loopback address: the API answers only requests whose
  // Host names a loopback address (see LoopbackHost).
  bool loopback = false;
  bool stopped = false;
};

namespace {

using Impl = ConsoleServer::Impl;

std::string_view PathOf(std::string_view target) {
  return target.substr(0, target.find_first_of("?#"));
}

Response MakeResponse(const Request& request, unsigned status,
                      std::string_view content_type, std::string body) {
  Response response;
  response.version(request.version());
  response.result(status);
  for (const auto& [name, value] : SecurityHeaders()) {
    response.set(beast::string_view(name.data(), name.size()),
                 beast::string_view(value.data(), value.size()));
  }
  response.set(http::field::content_type,
               beast::string_view(content_type.data(), content_type.size()));
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

Response ApiError(const Request& request, unsigned status,
                  grpc::StatusCode code, std::string_view message) {
  Response response = MakeResponse(request, status, "application/json",
                                   ErrorBody(code, message));
  response.set(http::field::cache_control, kApiCacheControl.data());
  return response;
}

// ApiGateway::Call as an Asio operation: completes on the awaiting
// coroutine's executor.
template <typename Token>
auto AsyncApiCall(ApiGateway& gateway, std::string method, std::string body,
                  std::vector<std::string> authorization, Token&& token) {
  return asio::async_initiate<Token, void(ApiAnswer)>(
      [&gateway](auto handler, std::string method, std::string body,
                 std::vector<std::string> authorization) {
        auto executor = asio::get_associated_executor(handler);
        // std::function needs a copyable callback; the handler is move-only.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        gateway.Call(
            method, body, authorization, [shared, executor](ApiAnswer answer) {
              asio::post(executor,
                         [shared, answer = std::move(answer)]() mutable {
                           (*shared)(std::move(answer));
                         });
            });
      },
      token, std::move(method), std::move(body), std::move(authorization));
}

// Whether a Host header names this machine: "localhost" or a loopback IP,
// with or without a port. A page of another site that rebinds its DNS name
// to 127.0.0.1 is same-origin for the browser, but its requests name that
// site in Host, so the API of a console on loopback refuses them.
bool LoopbackHost(std::string_view host) {
  if (host.starts_with('[')) {
    host = host.substr(1, host.find(']') - 1);
  } else if (host.find(':') == host.rfind(':')) {
    host = host.substr(0, host.find(':'));
  }
  if (beast::iequals(beast::string_view(host.data(), host.size()),
                     "localhost")) {
    return true;
  }
  error_code error;
  const asio::ip::address address =
      asio::ip::make_address(std::string(host), error);
  return !error && address.is_loopback();
}

awaitable<Response> AnswerApi(Impl& impl, const Request& request,
                              std::string_view method) {
  const beast::string_view host = request[http::field::host];
  if (impl.loopback && !LoopbackHost({host.data(), host.size()})) {
    co_return ApiError(request, 403, grpc::StatusCode::PERMISSION_DENIED,
                       "the console listens on a loopback address: call it "
                       "as localhost or by its IP address");
  }
  if (request.method() != http::verb::post) {
    Response response = ApiError(request, 405, grpc::StatusCode::UNIMPLEMENTED,
                                 "use POST /api/v1/<Method> with a JSON body");
    response.set(http::field::allow, "POST");
    co_return response;
  }
  const beast::string_view content_type = request[http::field::content_type];
  if (!beast::iequals(content_type.substr(0, content_type.find(';')),
                      "application/json")) {
    co_return ApiError(request, 415, grpc::StatusCode::INVALID_ARGUMENT,
                       "send the request message with Content-Type: "
                       "application/json");
  }
  std::vector<std::string> authorization;
  for (auto [it, end] = request.equal_range(http::field::authorization);
       it != end; ++it) {
    authorization.emplace_back(it->value());
  }
  ApiAnswer answer =
      co_await AsyncApiCall(impl.gateway, std::string(method), request.body(),
                            std::move(authorization), use_awaitable);
  Response response = MakeResponse(request, answer.http_status,
                                   "application/json", std::move(answer.json));
  response.set(http::field::cache_control, kApiCacheControl.data());
  co_return response;
}

Response AnswerStatic(const Request& request, std::string_view path) {
  if (request.method() != http::verb::get) {
    Response response = MakeResponse(request, 405, "text/plain; charset=utf-8",
                                     "method not allowed\n");
    response.set(http::field::allow, "GET");
    return response;
  }
  const StaticFile* file = FindStaticFile(path);
  if (file == nullptr) {
    return MakeResponse(request, 404, "text/plain; charset=utf-8",
                        "not found\n");
  }
  Response response =
      MakeResponse(request, 200, file->content_type, std::string(file->bytes));
  response.set(http::field::cache_control, kStaticCacheControl.data());
  return response;
}

awaitable<Response> Answer(Impl& impl, const Request& request) {
  const std::string_view path =
      PathOf({request.target().data(), request.target().size()});
  if (path.starts_with(kApiPrefix)) {
    co_return co_await AnswerApi(impl, request, path.substr(kApiPrefix.size()));
  }
  co_return AnswerStatic(request, path);
}

void LogRequest(const Request& request, unsigned status,
                std::chrono::steady_clock::time_point began) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - began)
                      .count();
  const std::string_view path =
      PathOf({request.target().data(), request.target().size()});
  const auto level = path.starts_with(kApiPrefix) || status >= 400
                         ? spdlog::level::info
                         : spdlog::level::debug;
  spdlog::log(level, "console: {} {} {} {} ms",
              std::string(request.method_string()), path, status, ms);
}

// Serves requests until the peer closes, a timeout, an error or a request
// that does not keep the connection alive. True when the connection should
// be shut down gracefully.
template <typename Stream>
awaitable<bool> ServeRequests(Impl& impl, Stream& stream) {
  beast::flat_buffer buffer;
  while (true) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(impl.options.max_body_bytes);
    beast::get_lowest_layer(stream).expires_after(impl.options.read_timeout);
    error_code error;
    co_await http::async_read(stream, buffer, parser,
                              redirect_error(use_awaitable, error));
    const auto began = std::chrono::steady_clock::now();
    if (error == http::error::end_of_stream) co_return true;
    Response response;
    if (error == http::error::body_limit) {
      response =
          ApiError(parser.get(), 413, grpc::StatusCode::INVALID_ARGUMENT,
                   "the body is larger than " +
                       std::to_string(impl.options.max_body_bytes) + " bytes");
      response.keep_alive(false);
    } else if (error) {
      co_return false;
    } else {
      response = co_await Answer(impl, parser.get());
      response.keep_alive(parser.get().keep_alive());
    }
    LogRequest(parser.get(), response.result_int(), began);
    beast::get_lowest_layer(stream).expires_after(impl.options.read_timeout);
    co_await http::async_write(stream, response,
                               redirect_error(use_awaitable, error));
    if (error) co_return false;
    if (!response.keep_alive()) co_return true;
  }
}

struct ConnectionSlot {
  explicit ConnectionSlot(Impl& impl) : impl(impl) { ++impl.connections; }
  ~ConnectionSlot() { --impl.connections; }
  Impl& impl;
};

awaitable<void> Session(Impl& impl, tcp::socket socket) {
  ConnectionSlot slot(impl);
  error_code error;
  if (impl.ssl) {
    beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *impl.ssl);
    beast::get_lowest_layer(stream).expires_after(impl.options.read_timeout);
    co_await stream.async_handshake(asio::ssl::stream_base::server,
                                    redirect_error(use_awaitable, error));
    if (error) co_return;
    if (co_await ServeRequests(impl, stream)) {
      beast::get_lowest_layer(stream).expires_after(impl.options.read_timeout);
      co_await stream.async_shutdown(redirect_error(use_awaitable, error));
    }
  } else {
    beast::tcp_stream stream(std::move(socket));
    if (co_await ServeRequests(impl, stream)) {
      stream.socket().shutdown(tcp::socket::shutdown_send, error);
    }
  }
}

awaitable<void> AcceptLoop(Impl& impl) {
  while (impl.acceptor->is_open()) {
    error_code error;
    tcp::socket socket = co_await impl.acceptor->async_accept(
        redirect_error(use_awaitable, error));
    if (error == asio::error::operation_aborted) co_return;
    if (error) {
      spdlog::warn("console: accept failed: {}", error.message());
      continue;
    }
    if (impl.connections.load() >= impl.options.max_connections) {
      spdlog::warn("console: {} connections open: refusing another",
                   impl.options.max_connections);
      socket.close(error);
      continue;
    }
    asio::co_spawn(*impl.io, Session(impl, std::move(socket)), asio::detached);
  }
}

absl::Status LoadTls(Impl& impl) {
  const security::ServerTls& tls = impl.options.tls;
  try {
    asio::ssl::context& ssl = impl.ssl.emplace(asio::ssl::context::tls_server);
    ssl.set_options(
        asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
        asio::ssl::context::no_tlsv1_1);
    ssl.use_certificate_chain_file(tls.cert_file);
    ssl.use_private_key_file(tls.key_file, asio::ssl::context::pem);
    if (!tls.client_ca_file.empty()) {
      ssl.load_verify_file(tls.client_ca_file);
      ssl.set_verify_mode(asio::ssl::verify_peer |
                          (tls.require_client_cert
                               ? asio::ssl::verify_fail_if_no_peer_cert
                               : 0));
    }
  } catch (const boost::system::system_error& error) {
    return absl::InvalidArgumentError("console: TLS files (" + tls.cert_file +
                                      ", " + tls.key_file +
                                      "): " + error.what());
  }
  return absl::OkStatus();
}

absl::Status Listen(Impl& impl) {
  const std::string& listen = impl.options.listen;
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError("console.listen: '" + listen +
                                      "' is not HOST:PORT");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  error_code error;
  tcp::resolver resolver(*impl.io);
  const auto endpoints = resolver.resolve(
      host, listen.substr(colon + 1),
      tcp::resolver::passive | tcp::resolver::numeric_service, error);
  if (error || endpoints.empty()) {
    return absl::InvalidArgumentError("console.listen: cannot resolve '" +
                                      listen + "': " + error.message());
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  impl.acceptor = std::make_unique<tcp::acceptor>(*impl.io);
  impl.acceptor->open(endpoint.protocol(), error);
  if (!error) impl.acceptor->set_option(tcp::acceptor::reuse_address(true));
  if (!error) impl.acceptor->bind(endpoint, error);
  if (!error)
    impl.acceptor->listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    return absl::UnavailableError("console: cannot listen on " + listen + ": " +
                                  error.message());
  }
  impl.port = impl.acceptor->local_endpoint().port();
  impl.loopback = endpoint.address().is_loopback();
  const std::string shown =
      endpoint.address().is_v6() ? "[" + host + "]" : host;
  impl.url = std::string(impl.ssl ? "https" : "http") + "://" + shown + ":" +
             std::to_string(impl.port) + "/";
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ConsoleServer>> ConsoleServer::Start(
    ConsoleOptions options, std::shared_ptr<grpc::Channel> channel) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(channel));
  if (impl->options.tls.enabled()) {
    if (absl::Status loaded = LoadTls(*impl); !loaded.ok()) return loaded;
  }
  if (absl::Status listening = Listen(*impl); !listening.ok()) {
    return listening;
  }
  asio::co_spawn(*impl->io, AcceptLoop(*impl), asio::detached);
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->io->run(); });
  return std::unique_ptr<ConsoleServer>(new ConsoleServer(std::move(impl)));
}

ConsoleServer::ConsoleServer(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

ConsoleServer::~ConsoleServer() { Stop(); }

void ConsoleServer::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  asio::post(*impl_->io, [impl = impl_.get()] {
    error_code ignored;
    impl->acceptor->close(ignored);
  });
  impl_->gateway.Stop();
  impl_->io->stop();
  impl_->thread.join();
  // Destroying the context destroys the suspended connections (their
  // sockets close) while the gateway and TLS context they use still exist.
  impl_->acceptor.reset();
  impl_->io.reset();
}

const std::string& ConsoleServer::url() const { return impl_->url; }
int ConsoleServer::port() const { return impl_->port; }

}  // namespace saga::console
