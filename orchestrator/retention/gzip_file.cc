#include "orchestrator/retention/gzip_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace saga::retention {
namespace {

// zlib's windowBits for a gzip (not zlib) wrapper around deflate.
constexpr int kGzipWindowBits = 15 + 16;
constexpr size_t kChunk = 64 * 1024;

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status WriteAll(int fd, const unsigned char* data, size_t size) {
  while (size > 0) {
    const ssize_t written = write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(std::strerror(errno));
    }
    data += written;
    size -= static_cast<size_t>(written);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<GzipFile>> GzipFile::Create(std::string path) {
  if (access(path.c_str(), F_OK) == 0) {
    return absl::AlreadyExistsError(path + " exists already");
  }
  const std::string partial = path + ".partial";
  const int fd =
      open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    return absl::InternalError("cannot create " + partial + ": " +
                               std::strerror(errno));
  }
  std::unique_ptr<GzipFile> file(new GzipFile(std::move(path), fd));
  if (deflateInit2(&file->stream_, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
                   kGzipWindowBits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return absl::InternalError("cannot start compressing " + partial);
  }
  return file;
}

GzipFile::GzipFile(std::string path, int fd)
    : path_(std::move(path)), partial_(path_ + ".partial"), fd_(fd) {}

GzipFile::~GzipFile() {
  deflateEnd(&stream_);
  if (fd_ >= 0) close(fd_);
  if (!committed_) unlink(partial_.c_str());
}

absl::Status GzipFile::Fail(const std::string& what, int error) {
  return absl::InternalError(what + " " + partial_ + ": " +
                             std::strerror(error));
}

absl::Status GzipFile::Deflate(int flush) {
  unsigned char out[kChunk];
  int result = Z_OK;
  do {
    stream_.next_out = out;
    stream_.avail_out = sizeof(out);
    result = deflate(&stream_, flush);
    if (result == Z_STREAM_ERROR) {
      return absl::InternalError("compressing " + partial_ + " failed");
    }
    const size_t produced = sizeof(out) - stream_.avail_out;
    if (absl::Status written = WriteAll(fd_, out, produced); !written.ok()) {
      return absl::InternalError("writing " + partial_ + ": " +
                                 std::string(written.message()));
    }
  } while (stream_.avail_out == 0 ||
           (flush == Z_FINISH && result != Z_STREAM_END));
  return absl::OkStatus();
}

absl::Status GzipFile::Append(std::string_view data) {
  if (committed_ || fd_ < 0) {
    return absl::FailedPreconditionError(path_ + " is already committed");
  }
  stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream_.avail_in = static_cast<uInt>(data.size());
  return Deflate(Z_NO_FLUSH);
}

absl::Status GzipFile::Commit() {
  if (committed_ || fd_ < 0) {
    return absl::FailedPreconditionError(path_ + " is already committed");
  }
  stream_.next_in = nullptr;
  stream_.avail_in = 0;
  if (absl::Status finished = Deflate(Z_FINISH); !finished.ok()) {
    return finished;
  }
  if (fsync(fd_) != 0) return Fail("fsync", errno);
  const int closed = close(fd_);
  fd_ = -1;
  if (closed != 0) return Fail("closing", errno);
  if (rename(partial_.c_str(), path_.c_str()) != 0) {
    return Fail("renaming", errno);
  }
  committed_ = true;
  // The rename itself must survive a crash too.
  const std::string dir = DirectoryOf(path_);
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    return absl::InternalError("cannot open " + dir + ": " +
                               std::strerror(errno));
  }
  const int synced = fsync(dir_fd);
  const int error = errno;
  close(dir_fd);
  if (synced != 0) {
    return absl::InternalError("fsync " + dir + ": " + std::strerror(error));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadGzipFile(const std::string& path) {
  gzFile in = gzopen(path.c_str(), "rb");
  if (in == nullptr) return absl::NotFoundError("cannot open " + path);
  std::string out;
  char buffer[8192];
  int read = 0;
  while ((read = gzread(in, buffer, sizeof(buffer))) > 0) {
    out.append(buffer, static_cast<size_t>(read));
  }
  const bool corrupt = read < 0;
  gzclose(in);
  if (corrupt) return absl::DataLossError(path + " is not a whole gzip file");
  return out;
}

}  // namespace saga::retention
