#include "observability/logging.h"

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace saga::observability {
namespace {

using Json = nlohmann::json;

class LoggingTest : public ::testing::Test {
 protected:
  void Configure(LogFormat format,
                 spdlog::level::level_enum level = spdlog::level::info) {
    ConfigureLogging("saga-test", level, format,
                     std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
  }
  void TearDown() override {
    ConfigureLogging("saga-test", spdlog::level::info, LogFormat::kText);
  }

  std::vector<std::string> Lines() {
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(out_, line)) lines.push_back(line);
    return lines;
  }

  std::stringstream out_;
};

TEST_F(LoggingTest, JsonLinesCarryTheFieldsAsKeys) {
  Configure(LogFormat::kJson);
  Log(spdlog::level::info, "calling doctor.reserve_doctor",
      {{"saga_id", "s-1"}, {"attempt", 2}, {"error", "say \"no\"\n"}});
  spdlog::warn("plain line {}", 7);
  const std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 2u);

  const Json first = Json::parse(lines[0]);
  EXPECT_EQ(first["level"], "info");
  EXPECT_EQ(first["service"], "saga-test");
  EXPECT_EQ(first["msg"], "calling doctor.reserve_doctor");
  EXPECT_EQ(first["saga_id"], "s-1");
  EXPECT_EQ(first["attempt"], 2);
  EXPECT_EQ(first["error"], "say \"no\"\n");
  const std::string time = first["time"];
  EXPECT_EQ(time.size(), 24u) << time;  // 2026-01-31T12:00:00.123Z
  EXPECT_EQ(time.back(), 'Z');

  const Json second = Json::parse(lines[1]);
  EXPECT_EQ(second["msg"], "plain line 7");
  EXPECT_EQ(second["level"], "warning");
  EXPECT_FALSE(second.contains("saga_id"));
}

TEST_F(LoggingTest, JsonLinesStayJsonForInvalidUtf8) {
  Configure(LogFormat::kJson);
  Log(spdlog::level::info, "bad \xff bytes", {{"error", "\xc3("}});
  const std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(Json::accept(lines[0])) << lines[0];
}

TEST_F(LoggingTest, TextLinesShowFieldsAsKeyValueAfterTheMessage) {
  Configure(LogFormat::kText);
  Log(spdlog::level::info, "saga event",
      {{"saga_id", "s-1"}, {"step", ""}, {"attempt", 3}, {"error", "a b"}});
  const std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(" info saga-test saga event saga_id=s-1 step=\"\" "
                          "attempt=3 error=\"a b\""),
            std::string::npos)
      << lines[0];
}

TEST_F(LoggingTest, LinesBelowTheLevelAreSkipped) {
  Configure(LogFormat::kJson, spdlog::level::warn);
  Log(spdlog::level::info, "not shown", {{"saga_id", "s-1"}});
  spdlog::info("not shown either");
  Log(spdlog::level::err, "shown", {});
  const std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(Json::parse(lines[0])["msg"], "shown");
}

TEST(LogFlagsTest, ParsesFormatsAndLevels) {
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(*ParseLogFormat("text"), LogFormat::kText);
  EXPECT_FALSE(ParseLogFormat("xml").ok());
  EXPECT_EQ(*ParseLogLevel("warn"), spdlog::level::warn);
  EXPECT_EQ(*ParseLogLevel("off"), spdlog::level::off);
  EXPECT_EQ(*ParseLogLevel("debug"), spdlog::level::debug);
  EXPECT_FALSE(ParseLogLevel("loud").ok());
}

}  // namespace
}  // namespace saga::observability
