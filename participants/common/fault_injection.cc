#include "participants/common/fault_injection.h"

#include <cstdlib>
#include <random>
#include <sstream>
#include <utility>

namespace saga::participants {
namespace {

std::vector<std::string> SplitList(const std::string& list) {
  std::vector<std::string> items;
  std::stringstream stream(list);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

absl::Status SplitEntry(const std::string& entry, const std::string& what,
                        std::string* action, std::string* value) {
  auto eq = entry.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size()) {
    return absl::InvalidArgumentError(what + ": \"" + entry +
                                      "\" is not ACTION=VALUE");
  }
  *action = entry.substr(0, eq);
  *value = entry.substr(eq + 1);
  return absl::OkStatus();
}

absl::Status AddFailRate(const std::string& entry, const std::string& what,
                         FaultConfig* config) {
  std::string action;
  std::string value;
  if (auto status = SplitEntry(entry, what, &action, &value); !status.ok()) {
    return status;
  }
  char* end = nullptr;
  double rate = std::strtod(value.c_str(), &end);
  if (end == value.c_str() || *end != '\0' || !(rate >= 0.0 && rate <= 1.0)) {
    return absl::InvalidArgumentError(
        what + ": \"" + entry + "\": the rate must be a number in [0, 1]");
  }
  config->fail_rate[action] = rate;
  return absl::OkStatus();
}

absl::Status AddLatency(const std::string& entry, const std::string& what,
                        FaultConfig* config) {
  std::string action;
  std::string value;
  if (auto status = SplitEntry(entry, what, &action, &value); !status.ok()) {
    return status;
  }
  // "MS" or "MIN-MAX", whole milliseconds in [0, 3600000], MIN <= MAX.
  auto parse = [](const std::string& text, long long* ms) {
    char* end = nullptr;
    *ms = std::strtoll(text.c_str(), &end, 10);
    return end != text.c_str() && *end == '\0' && text[0] != '-' &&
           *ms <= 3600 * 1000;
  };
  const size_t dash = value.find('-');
  long long min = 0;
  long long max = 0;
  const bool ok = dash == std::string::npos
                      ? parse(value, &min) && parse(value, &max)
                      : parse(value.substr(0, dash), &min) &&
                            parse(value.substr(dash + 1), &max) && min <= max;
  if (!ok) {
    return absl::InvalidArgumentError(
        what + ": \"" + entry +
        "\": the latency must be whole milliseconds in [0, 3600000], or a "
        "range MIN-MAX of them");
  }
  config->latency[action] = {std::chrono::milliseconds(min),
                             std::chrono::milliseconds(max)};
  return absl::OkStatus();
}

std::mt19937_64& Generator() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return generator;
}

template <typename Map>
const typename Map::mapped_type* Lookup(const Map& map,
                                        const std::string& action) {
  auto it = map.find(action);
  if (it == map.end()) it = map.find("*");
  return it == map.end() ? nullptr : &it->second;
}

}  // namespace

absl::StatusOr<FaultConfig> BuildFaultConfig(
    const std::vector<std::string>& fail_rate_flags,
    const std::vector<std::string>& latency_flags, bool refuse_all_flag) {
  FaultConfig config;
  config.refuse_all = refuse_all_flag;
  for (const auto& entry : fail_rate_flags) {
    if (auto s = AddFailRate(entry, "--fail-rate", &config); !s.ok()) return s;
  }
  for (const auto& entry : latency_flags) {
    if (auto s = AddLatency(entry, "--latency-ms", &config); !s.ok()) return s;
  }
  if (const char* env = std::getenv("SAGA_FAULT_FAIL_RATE")) {
    for (const auto& entry : SplitList(env)) {
      if (auto s = AddFailRate(entry, "SAGA_FAULT_FAIL_RATE", &config);
          !s.ok()) {
        return s;
      }
    }
  }
  if (const char* env = std::getenv("SAGA_FAULT_LATENCY_MS")) {
    for (const auto& entry : SplitList(env)) {
      if (auto s = AddLatency(entry, "SAGA_FAULT_LATENCY_MS", &config);
          !s.ok()) {
        return s;
      }
    }
  }
  if (const char* env = std::getenv("SAGA_FAULT_REFUSE_ALL")) {
    std::string value = env;
    if (value == "1" || value == "true") {
      config.refuse_all = true;
    } else if (value == "0" || value == "false" || value.empty()) {
      config.refuse_all = false;
    } else {
      return absl::InvalidArgumentError("SAGA_FAULT_REFUSE_ALL: \"" + value +
                                        "\" is not 1, true, 0 or false");
    }
  }
  return config;
}

FaultInjector::FaultInjector(FaultConfig config) : config_(std::move(config)) {}

std::chrono::milliseconds FaultInjector::LatencyFor(
    const std::string& action) const {
  const LatencyRange* latency = Lookup(config_.latency, action);
  if (latency == nullptr) return std::chrono::milliseconds(0);
  if (latency->min == latency->max) return latency->min;
  return std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(
      latency->min.count(), latency->max.count())(Generator()));
}

bool FaultInjector::ShouldFail(const std::string& action) const {
  const double* rate = Lookup(config_.fail_rate, action);
  if (rate == nullptr || *rate <= 0.0) return false;
  if (*rate >= 1.0) return true;
  return std::uniform_real_distribution<double>(0.0, 1.0)(Generator()) < *rate;
}

std::string FaultInjector::Describe() const {
  std::string out;
  auto append = [&out](const std::string& part) {
    if (!out.empty()) out += ", ";
    out += part;
  };
  if (config_.refuse_all) append("refuse all calls");
  for (const auto& [action, rate] : config_.fail_rate) {
    append("fail " + action + " with p=" + std::to_string(rate));
  }
  for (const auto& [action, latency] : config_.latency) {
    std::string ms = std::to_string(latency.min.count());
    if (latency.max != latency.min) {
      ms += "-" + std::to_string(latency.max.count());
    }
    append("delay " + action + " by " + ms + " ms");
  }
  return out.empty() ? "none" : out;
}

}  // namespace saga::participants
