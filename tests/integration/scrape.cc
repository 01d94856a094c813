#include "tests/integration/scrape.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

std::optional<std::string> FindMetricsAddress(const std::string& log_path) {
  std::ifstream in(log_path);
  std::string line;
  constexpr char kMarker[] = "metrics on ";
  while (std::getline(in, line)) {
    const auto at = line.find(kMarker);
    if (at == std::string::npos) continue;
    const auto begin = at + sizeof(kMarker) - 1;
    const auto end = line.find_first_not_of(
        "0123456789abcdefghijklmnopqrstuvwxyz.:[]", begin);
    return line.substr(begin, end == std::string::npos ? end : end - begin);
  }
  return std::nullopt;
}

}  // namespace

std::string AwaitMetricsAddress(const std::string& log_path,
                                std::chrono::milliseconds timeout) {
  std::string address;
  PollUntil(
      [&] {
        auto found = FindMetricsAddress(log_path);
        if (found) address = *found;
        return found.has_value();
      },
      timeout);
  return address;
}

std::string HttpGet(const std::string& address, const std::string& path) {
  const auto colon = address.rfind(':');
  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_port = htons(
      static_cast<uint16_t>(std::atoi(address.substr(colon + 1).c_str())));
  if (colon == std::string::npos ||
      inet_pton(AF_INET, address.substr(0, colon).c_str(), &server.sin_addr) !=
          1) {
    ADD_FAILURE() << "not an IPv4 HOST:PORT: " << address;
    return "";
  }
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  // Bounded: a hung endpoint fails the test instead of stalling it.
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  if (connect(fd, reinterpret_cast<sockaddr*>(&server), sizeof(server)) != 0) {
    close(fd);
    ADD_FAILURE() << "cannot connect to " << address;
    return "";
  }
  const std::string request =
      "GET " + path + " HTTP/1.0\r\nHost: " + address + "\r\n\r\n";
  if (send(fd, request.data(), request.size(), 0) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    ADD_FAILURE() << "cannot send to " << address;
    return "";
  }
  std::string response;
  char buffer[8192];
  ssize_t n = 0;
  while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) {
    response.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  const auto body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 ||
      response.find(" 200 ") > response.find("\r\n") ||
      body == std::string::npos) {
    ADD_FAILURE() << "GET " << address << path << " answered:\n"
                  << response.substr(0, 500);
    return "";
  }
  return response.substr(body + 4);
}

std::optional<double> Scrape::Value(
    const std::string& name,
    const std::map<std::string, std::string>& labels) const {
  for (const MetricSample& sample : samples) {
    if (sample.name == name && sample.labels == labels) return sample.value;
  }
  return std::nullopt;
}

Scrape ParseScrape(const std::string& text) {
  Scrape scrape;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream words(line);
      std::string hash, keyword, family, type;
      words >> hash >> keyword >> family >> type;
      if (keyword == "TYPE") scrape.types[family] = type;
      continue;
    }
    MetricSample sample;
    size_t i = line.find_first_of("{ ");
    sample.name = line.substr(0, i);
    if (i != std::string::npos && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        const size_t eq = line.find('=', i);
        std::string key = line.substr(i, eq - i);
        std::string value;
        i = eq + 2;  // past ="
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\' && i + 1 < line.size()) {
            ++i;
            value.push_back(line[i] == 'n' ? '\n' : line[i]);
          } else {
            value.push_back(line[i]);
          }
          ++i;
        }
        sample.labels[key] = value;
        i += 1;                      // past the closing quote
        if (line[i] == ',') i += 1;  // next label
      }
      i += 1;  // past }
    }
    sample.value = std::strtod(line.c_str() + i, nullptr);
    scrape.samples.push_back(std::move(sample));
  }
  return scrape;
}

}  // namespace saga::testing
