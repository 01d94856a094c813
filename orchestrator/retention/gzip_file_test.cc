#include "orchestrator/retention/gzip_file.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace saga::retention {
namespace {

namespace fs = std::filesystem;

// What zlib's own reader gets out of `path`; "" if it cannot open it.
std::string Gunzip(const std::string& path) {
  return ReadGzipFile(path).value_or("");
}

class GzipFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/gzip-file-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string dir_;
};

TEST_F(GzipFileTest, CommittedFileDecompressesToWhatWasAppended) {
  const std::string path = dir_ + "/a.jsonl.gz";
  auto file = GzipFile::Create(path);
  ASSERT_TRUE(file.ok()) << file.status();
  // More than one output chunk, so the deflate loop runs more than once.
  std::string expected;
  for (int i = 0; i < 20000; ++i) {
    expected += "{\"n\":" + std::to_string(i * 7919 % 100003) + "}\n";
  }
  ASSERT_TRUE((*file)->Append(expected.substr(0, 1000)).ok());
  ASSERT_TRUE((*file)->Append(expected.substr(1000)).ok());
  EXPECT_FALSE(fs::exists(path)) << "visible before Commit";
  ASSERT_TRUE((*file)->Commit().ok());
  EXPECT_TRUE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".partial"));
  EXPECT_EQ(Gunzip(path), expected);
  EXPECT_FALSE((*file)->Append("more").ok());
}

TEST_F(GzipFileTest, AbandonedFileLeavesNothing) {
  const std::string path = dir_ + "/b.jsonl.gz";
  {
    auto file = GzipFile::Create(path);
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_TRUE((*file)->Append("half a batch\n").ok());
  }
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(GzipFileTest, RefusesAnExistingFileAndAMissingDirectory) {
  const std::string path = dir_ + "/c.jsonl.gz";
  auto first = GzipFile::Create(path);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE((*first)->Commit().ok());
  EXPECT_EQ(GzipFile::Create(path).status().code(),
            absl::StatusCode::kAlreadyExists);
  auto missing = GzipFile::Create(dir_ + "/no/such/dir/d.jsonl.gz");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no/such/dir"), std::string::npos)
      << missing.status();
}

}  // namespace
}  // namespace saga::retention
