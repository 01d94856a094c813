// Reading a server's Prometheus endpoint in tests, as a scraper would: the
// endpoint's address from the server's log ("metrics on HOST:PORT"), an
// HTTP GET, and a parser for the text exposition format.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace saga::testing {

// Polls the log at `log_path` for the "metrics on HOST:PORT" line a server
// writes once its endpoint listens; "" if none appears within `timeout`.
std::string AwaitMetricsAddress(const std::string& log_path,
                                std::chrono::milliseconds timeout);

// GET http://<address><path> (HTTP/1.0); the body, or "" (with a test
// failure) when the request fails or the status is not 200.
std::string HttpGet(const std::string& address, const std::string& path);

struct MetricSample {
  std::string name;  // e.g. saga_step_duration_seconds_count
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Scrape {
  std::vector<MetricSample> samples;
  // Family name -> type, from the "# TYPE" lines.
  std::map<std::string, std::string> types;

  // The sample `name` whose labels are exactly `labels`.
  std::optional<double> Value(
      const std::string& name,
      const std::map<std::string, std::string>& labels = {}) const;
};

// Parses the text exposition format (escaped label values included).
Scrape ParseScrape(const std::string& text);

}  // namespace saga::testing
