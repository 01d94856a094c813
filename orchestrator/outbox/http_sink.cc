#include "orchestrator/outbox/http_sink.h"

// Boost 1.74 Asio needs <utility> first under C++20.
#include <utility>
//
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>

#include "orchestrator/outbox/message_json.h"

namespace saga::outbox {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// The longest piece of an error answer's body quoted in the status.
constexpr size_t kQuotedBody = 200;

// One POST: resolve -> connect -> write -> read, each step started by the
// previous one's completion, all on one io_context that runs for at most
// the timeout.
class Exchange {
 public:
  Exchange(const SinkSpec& spec, std::string body)
      : spec_(spec), resolver_(io_), stream_(io_) {
    request_.method(http::verb::post);
    request_.target(spec.target);
    request_.version(11);
    const bool default_port = spec.port == 80;
    const bool v6 = spec.host.find(':') != std::string::npos;
    std::string host = v6 ? "[" + spec.host + "]" : spec.host;
    if (!default_port) host += ":" + std::to_string(spec.port);
    request_.set(http::field::host, host);
    request_.set(http::field::content_type, "application/json");
    request_.set(http::field::user_agent, "saga-orchestrator");
    request_.set(http::field::connection, "close");
    request_.body() = std::move(body);
    request_.prepare_payload();
  }

  absl::Status Run(std::chrono::milliseconds timeout) {
    stream_.expires_after(timeout);
    resolver_.async_resolve(
        spec_.host, std::to_string(spec_.port),
        [this](beast::error_code error, tcp::resolver::results_type found) {
          if (Failed("resolving the host", error)) return;
          stream_.async_connect(
              found, [this](beast::error_code error, const tcp::endpoint&) {
                if (Failed("connecting", error)) return;
                http::async_write(stream_, request_,
                                  [this](beast::error_code error, size_t) {
                                    if (Failed("sending", error)) return;
                                    Read();
                                  });
              });
        });
    // The stream's timer bounds connect, write and read; this bounds the
    // resolve as well.
    io_.run_for(timeout);
    if (!outcome_.has_value()) {
      return absl::DeadlineExceededError(
          "no answer within " + std::to_string(timeout.count()) + " ms");
    }
    return *outcome_;
  }

 private:
  void Read() {
    http::async_read(
        stream_, buffer_, response_, [this](beast::error_code error, size_t) {
          if (Failed("reading the answer", error)) return;
          const unsigned code = response_.result_int();
          if (code >= 200 && code < 300) {
            outcome_ = absl::OkStatus();
            return;
          }
          std::string body = response_.body().substr(0, kQuotedBody);
          outcome_ =
              absl::UnavailableError("answered " + std::to_string(code) + " " +
                                     std::string(response_.reason()) +
                                     (body.empty() ? "" : ": " + body));
        });
  }

  // Records the first failure; true when `error` is one.
  bool Failed(const char* stage, const beast::error_code& error) {
    if (!error) return false;
    if (!outcome_.has_value()) {
      outcome_ =
          absl::UnavailableError(std::string(stage) + ": " + error.message());
    }
    return true;
  }

  const SinkSpec& spec_;
  asio::io_context io_;
  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  http::request<http::string_body> request_;
  beast::flat_buffer buffer_;
  http::response<http::string_body> response_;
  std::optional<absl::Status> outcome_;
};

}  // namespace

HttpSink::HttpSink(SinkSpec spec, std::chrono::milliseconds timeout)
    : spec_(std::move(spec)), timeout_(timeout) {}

std::string HttpSink::Describe() const {
  const bool v6 = spec_.host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + spec_.host + "]" : spec_.host) + ":" +
         std::to_string(spec_.port) + spec_.target;
}

absl::Status HttpSink::Deliver(const std::vector<store::OutboxEntry>& entries) {
  Exchange exchange(spec_, BatchJson(entries));
  absl::Status status = exchange.Run(timeout_);
  if (status.ok()) return status;
  return absl::Status(status.code(), "webhook " + Describe() + ": " +
                                         std::string(status.message()));
}

}  // namespace saga::outbox
