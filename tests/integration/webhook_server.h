// A small HTTP server for end-to-end tests of the outbox dispatcher's
// webhook sink: it listens on a free loopback port, answers each POST with
// 200 (recording the batch's messages) or, while failing, with 503
// (recording nothing). Runs on a thread of its own until destroyed.
// Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace saga::testing {

class WebhookServer {
 public:
  WebhookServer();
  ~WebhookServer();
  WebhookServer(const WebhookServer&) = delete;
  WebhookServer& operator=(const WebhookServer&) = delete;

  int port() const;
  // "http://127.0.0.1:<port>/hook"
  std::string url() const;

  // While failing, every request is answered 503 and its body dropped.
  void SetFailing(bool failing);

  // The messages of every accepted batch, in the order they arrived.
  std::vector<nlohmann::json> Accepted() const;
  // Requests answered 503.
  int Refused() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace saga::testing
