#include "observability/logging.h"

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "observability/batched_fd_sink.h"

namespace saga::observability {
namespace {

// The fields of the line being logged on this thread, already rendered as
// `,"key":value` pairs; read by JsonFormatter while Log() is on the stack.
thread_local const std::string* current_json_fields = nullptr;

void AppendJsonString(std::string& out, std::string_view text) {
  // nlohmann replaces invalid UTF-8 (e.g. from a participant's error text)
  // instead of producing a line that is not JSON.
  out += nlohmann::json(std::string(text))
             .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Quotes a text value when a reader could not otherwise tell where it ends.
void AppendTextValue(std::string& out, std::string_view text) {
  if (!text.empty() &&
      text.find_first_of(" \"=\t\n") == std::string_view::npos) {
    out += text;
  } else {
    AppendJsonString(out, text);
  }
}

class JsonFormatter final : public spdlog::formatter {
 public:
  explicit JsonFormatter(std::string service) : service_(std::move(service)) {}

  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override {
    std::string line = "{\"time\":\"";
    line += Timestamp(msg.time);
    line += "\",\"level\":";
    const auto level = spdlog::level::to_string_view(msg.level);
    AppendJsonString(line, std::string_view(level.data(), level.size()));
    line += ",\"service\":";
    AppendJsonString(line, service_);
    line += ",\"msg\":";
    AppendJsonString(line,
                     std::string_view(msg.payload.data(), msg.payload.size()));
    if (current_json_fields != nullptr) line += *current_json_fields;
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>(service_);
  }

 private:
  // RFC 3339 in UTC with milliseconds.
  static std::string Timestamp(spdlog::log_clock::time_point time) {
    const auto since_epoch = time.time_since_epoch();
    const std::time_t seconds =
        std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch)
            .count() %
        1000;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    std::array<char, 40> text{};
    const size_t n =
        std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%S", &utc);
    std::snprintf(text.data() + n, text.size() - n, ".%03dZ",
                  static_cast<int>(millis));
    return text.data();
  }

  std::string service_;
};

LogFormat configured_format = LogFormat::kText;

}  // namespace

absl::StatusOr<LogFormat> ParseLogFormat(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return absl::InvalidArgumentError(
      "--log-format must be 'text' or 'json', not '" + std::string(name) + "'");
}

absl::StatusOr<spdlog::level::level_enum> ParseLogLevel(std::string_view name) {
  // from_str answers `off` for names it does not know.
  const auto level = spdlog::level::from_str(std::string(name));
  if (level == spdlog::level::off && name != "off") {
    return absl::InvalidArgumentError(
        "--log-level must be one of trace, debug, info, warn, error, "
        "critical, off, not '" +
        std::string(name) + "'");
  }
  return level;
}

void ConfigureLogging(const std::string& service,
                      spdlog::level::level_enum level, LogFormat format,
                      spdlog::sink_ptr sink) {
  configured_format = format;
  if (!sink) {
    // A terminal gets colours and a write per line; a pipe or a file (every
    // deployment) gets lines batched off the threads that log them.
    if (::isatty(STDOUT_FILENO)) {
      sink = std::make_shared<spdlog::sinks::stdout_color_sink_mt>();
    } else {
      sink = std::make_shared<BatchedFdSink>(STDOUT_FILENO);
    }
  }
  auto logger = std::make_shared<spdlog::logger>(service, std::move(sink));
  // Warnings and errors are on the descriptor before the call returns, so a
  // crash right after one cannot lose it.
  logger->flush_on(spdlog::level::warn);
  if (format == LogFormat::kJson) {
    logger->set_formatter(std::make_unique<JsonFormatter>(service));
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ " + service + " %v");
  }
  logger->set_level(level);
  spdlog::set_default_logger(std::move(logger));
}

void Log(spdlog::level::level_enum level, std::string_view message,
         const std::vector<LogField>& fields) {
  if (!spdlog::should_log(level)) return;
  std::string rendered;
  if (configured_format == LogFormat::kJson) {
    for (const LogField& field : fields) {
      rendered += ',';
      AppendJsonString(rendered, field.key);
      rendered += ':';
      if (const auto* text = std::get_if<std::string>(&field.value)) {
        AppendJsonString(rendered, *text);
      } else {
        rendered += std::to_string(std::get<int64_t>(field.value));
      }
    }
    current_json_fields = &rendered;
    spdlog::log(level, "{}", message);
    current_json_fields = nullptr;
    return;
  }
  rendered = message;
  for (const LogField& field : fields) {
    rendered += ' ';
    rendered += field.key;
    rendered += '=';
    if (const auto* text = std::get_if<std::string>(&field.value)) {
      AppendTextValue(rendered, *text);
    } else {
      rendered += std::to_string(std::get<int64_t>(field.value));
    }
  }
  spdlog::log(level, "{}", rendered);
}

}  // namespace saga::observability
