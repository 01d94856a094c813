#include "tests/integration/webhook_server.h"

// Boost 1.74 Asio needs <utility> first under C++20.
#include <utility>
//
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>

namespace saga::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct WebhookServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io,
                         tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  const int port = acceptor.local_endpoint().port();
  std::thread thread;

  mutable std::mutex mu;
  bool failing = false;                  // GUARDED_BY(mu)
  std::vector<nlohmann::json> accepted;  // GUARDED_BY(mu)
  int refused = 0;                       // GUARDED_BY(mu)

  // One request per connection (the sink sends Connection: close).
  struct Session : std::enable_shared_from_this<Session> {
    Session(Impl* server, tcp::socket socket)
        : server(server), stream(std::move(socket)) {}

    void Start() {
      auto self = shared_from_this();
      http::async_read(stream, buffer, request,
                       [self](beast::error_code error, size_t) {
                         if (!error) self->Answer();
                       });
    }

    void Answer() {
      response.version(request.version());
      response.keep_alive(false);
      {
        std::lock_guard<std::mutex> lock(server->mu);
        if (server->failing) {
          ++server->refused;
          response.result(http::status::service_unavailable);
          response.body() = "failing on purpose";
        } else {
          const auto batch = nlohmann::json::parse(request.body(), nullptr,
                                                   /*allow_exceptions=*/false);
          if (batch.is_discarded() || !batch.contains("messages")) {
            response.result(http::status::bad_request);
          } else {
            for (const auto& message : batch["messages"]) {
              server->accepted.push_back(message);
            }
            response.result(http::status::ok);
          }
        }
      }
      response.prepare_payload();
      auto self = shared_from_this();
      http::async_write(stream, response, [self](beast::error_code, size_t) {
        beast::error_code ignored;
        self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      });
    }

    Impl* server;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::response<http::string_body> response;
  };

  void Accept() {
    acceptor.async_accept([this](beast::error_code error, tcp::socket socket) {
      if (error) return;  // closed
      std::make_shared<Session>(this, std::move(socket))->Start();
      Accept();
    });
  }
};

WebhookServer::WebhookServer() : impl_(std::make_unique<Impl>()) {
  impl_->Accept();
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

WebhookServer::~WebhookServer() {
  impl_->io.stop();
  impl_->thread.join();
}

int WebhookServer::port() const { return impl_->port; }

std::string WebhookServer::url() const {
  return "http://127.0.0.1:" + std::to_string(port()) + "/hook";
}

void WebhookServer::SetFailing(bool failing) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->failing = failing;
}

std::vector<nlohmann::json> WebhookServer::Accepted() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->accepted;
}

int WebhookServer::Refused() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->refused;
}

}  // namespace saga::testing
