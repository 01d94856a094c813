#include "orchestrator/outbox/sink.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "nlohmann/json.hpp"

namespace saga::outbox {
namespace {

using std::chrono::milliseconds;

TEST(SinkSpecTest, ParsesHttpUrls) {
  absl::StatusOr<SinkSpec> spec = ParseSinkSpec("http://hooks.local:8080/a/b");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->kind, SinkSpec::Kind::kHttp);
  EXPECT_EQ(spec->host, "hooks.local");
  EXPECT_EQ(spec->port, 8080);
  EXPECT_EQ(spec->target, "/a/b");

  spec = ParseSinkSpec("http://127.0.0.1");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->port, 80);
  EXPECT_EQ(spec->target, "/");

  spec = ParseSinkSpec("http://[::1]:9000/hook");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->host, "::1");
  EXPECT_EQ(spec->port, 9000);
}

TEST(SinkSpecTest, ParsesFilePaths) {
  absl::StatusOr<SinkSpec> spec = ParseSinkSpec("file:/var/log/outbox.jsonl");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->kind, SinkSpec::Kind::kFile);
  EXPECT_EQ(spec->path, "/var/log/outbox.jsonl");
}

TEST(SinkSpecTest, RefusesWhatItCannotDeliverTo) {
  for (const char* bad :
       {"https://example.com/hook", "ftp://x", "example.com", "", "http://",
        "http://:80/x", "http://host:0", "http://host:65536", "http://host:8o",
        "http://host:", "http://user:pw@host/x", "http://[::1/x",
        "http://[::1]x", "file:"}) {
    absl::StatusOr<SinkSpec> spec = ParseSinkSpec(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(spec.status()))
        << "'" << bad << "': " << spec.status();
  }
  EXPECT_NE(ParseSinkSpec("https://x").status().message().find("TLS"),
            std::string::npos);
}

store::OutboxEntry Entry(int64_t position) {
  store::OutboxEntry entry;
  entry.position = position;
  entry.message.message_id = "s:" + std::to_string(position);
  entry.message.saga_id = "s";
  entry.message.type = "saga.started";
  entry.message.header_json = "{}";
  entry.message.payload_json = "{}";
  return entry;
}

TEST(FileSinkTest, AppendsOneLinePerMessage) {
  const std::string path =
      std::filesystem::temp_directory_path() /
      ("outbox-sink-" + std::to_string(::getpid()) + ".jsonl");
  std::filesystem::remove(path);
  {
    absl::StatusOr<SinkSpec> spec = ParseSinkSpec("file:" + path);
    ASSERT_TRUE(spec.ok()) << spec.status();
    absl::StatusOr<std::unique_ptr<Sink>> sink =
        MakeSink(*spec, milliseconds(100));
    ASSERT_TRUE(sink.ok()) << sink.status();
    ASSERT_TRUE((*sink)->Deliver({Entry(1), Entry(2)}).ok());
    ASSERT_TRUE((*sink)->Deliver({Entry(3)}).ok());
  }
  std::ifstream in(path);
  std::string line;
  std::vector<int64_t> positions;
  while (std::getline(in, line)) {
    positions.push_back(nlohmann::json::parse(line)["position"]);
  }
  EXPECT_EQ(positions, (std::vector<int64_t>{1, 2, 3}));
  std::filesystem::remove(path);
}

TEST(FileSinkTest, AnUnwritablePathIsAStartUpError) {
  absl::StatusOr<std::unique_ptr<Sink>> sink = MakeSink(
      *ParseSinkSpec("file:/nonexistent-dir/outbox.jsonl"), milliseconds(100));
  EXPECT_TRUE(absl::IsInvalidArgument(sink.status())) << sink.status();
}

TEST(HttpSinkTest, ARefusedConnectionIsAFailureToRetry) {
  // Port 1 on loopback: nothing listens there in a test environment.
  absl::StatusOr<std::unique_ptr<Sink>> sink =
      MakeSink(*ParseSinkSpec("http://127.0.0.1:1/hook"), milliseconds(2000));
  ASSERT_TRUE(sink.ok()) << sink.status();
  const absl::Status delivered = (*sink)->Deliver({Entry(1)});
  EXPECT_FALSE(delivered.ok());
  EXPECT_NE(delivered.message().find("127.0.0.1:1/hook"), std::string::npos)
      << delivered;
}

}  // namespace
}  // namespace saga::outbox
