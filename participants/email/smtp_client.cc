#include "participants/email/smtp_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>

namespace saga::participants {
namespace {

// Owns the socket and the deadline-bounded line I/O.
class SmtpConnection {
 public:
  explicit SmtpConnection(std::chrono::milliseconds timeout)
      : timeout_(timeout) {}
  ~SmtpConnection() {
    if (fd_ >= 0) close(fd_);
  }
  SmtpConnection(const SmtpConnection&) = delete;
  SmtpConnection& operator=(const SmtpConnection&) = delete;

  absl::Status Connect(const std::string& host, int port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* addresses = nullptr;
    std::string service = std::to_string(port);
    int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &addresses);
    if (rc != 0) {
      return absl::UnavailableError("smtp: cannot resolve " + host + ": " +
                                    gai_strerror(rc));
    }
    absl::Status last = absl::UnavailableError("smtp: no address for " + host);
    for (addrinfo* a = addresses; a != nullptr; a = a->ai_next) {
      last = ConnectOne(a);
      if (last.ok()) break;
    }
    freeaddrinfo(addresses);
    if (!last.ok()) {
      return absl::UnavailableError("smtp: cannot connect to " + host + ":" +
                                    service + ": " +
                                    std::string(last.message()));
    }
    return absl::OkStatus();
  }

  // Reads one (possibly multi-line) reply and checks its code.
  absl::Status Expect(int expected_code, const std::string& after) {
    std::string line;
    while (true) {
      if (absl::Status s = ReadLine(&line); !s.ok()) {
        return absl::UnavailableError("smtp: no reply after " + after + ": " +
                                      std::string(s.message()));
      }
      if (line.size() < 3) {
        return absl::UnavailableError("smtp: malformed reply \"" + line +
                                      "\" after " + after);
      }
      // "250-..." continues the reply; "250 ..." ends it.
      if (line.size() == 3 || line[3] != '-') break;
    }
    // Only the reply class matters (e.g. RCPT TO may answer 250 or 251).
    if (line[0] != std::to_string(expected_code)[0]) {
      return absl::UnavailableError("smtp: server answered \"" + line +
                                    "\" to " + after);
    }
    return absl::OkStatus();
  }

  absl::Status Command(const std::string& command, int expected_code) {
    if (absl::Status s = Write(command + "\r\n"); !s.ok()) return s;
    std::string verb = command.substr(0, command.find(':'));
    return Expect(expected_code, verb);
  }

  absl::Status Write(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      if (absl::Status s = WaitFor(POLLOUT); !s.ok()) return s;
      ssize_t n =
          send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return absl::UnavailableError(std::string("smtp: send: ") +
                                      std::strerror(errno));
      }
      sent += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

 private:
  absl::Status ConnectOne(const addrinfo* address) {
    if (fd_ >= 0) close(fd_);
    fd_ = socket(address->ai_family, address->ai_socktype | SOCK_NONBLOCK,
                 address->ai_protocol);
    if (fd_ < 0) return absl::UnavailableError(std::strerror(errno));
    if (connect(fd_, address->ai_addr, address->ai_addrlen) == 0) {
      return absl::OkStatus();
    }
    if (errno != EINPROGRESS) {
      return absl::UnavailableError(std::strerror(errno));
    }
    if (absl::Status s = WaitFor(POLLOUT); !s.ok()) return s;
    int error = 0;
    socklen_t length = sizeof(error);
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) return absl::UnavailableError(std::strerror(error));
    return absl::OkStatus();
  }

  absl::Status WaitFor(short events) {
    pollfd p{fd_, events, 0};
    while (true) {
      int rc = poll(&p, 1, static_cast<int>(timeout_.count()));
      if (rc > 0) return absl::OkStatus();
      if (rc == 0) return absl::UnavailableError("timed out");
      if (errno != EINTR) {
        return absl::UnavailableError(std::string("poll: ") +
                                      std::strerror(errno));
      }
    }
  }

  absl::Status ReadLine(std::string* line) {
    while (true) {
      auto end = buffer_.find("\r\n");
      if (end != std::string::npos) {
        *line = buffer_.substr(0, end);
        buffer_.erase(0, end + 2);
        return absl::OkStatus();
      }
      if (buffer_.size() > 64 * 1024) {
        return absl::UnavailableError("reply line too long");
      }
      if (absl::Status s = WaitFor(POLLIN); !s.ok()) return s;
      char chunk[1024];
      ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n == 0) return absl::UnavailableError("connection closed");
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return absl::UnavailableError(std::string("recv: ") +
                                      std::strerror(errno));
      }
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::string buffer_;
};

// CR/LF in a header value would let the value inject headers.
std::string HeaderValue(const std::string& value) {
  std::string out;
  for (char c : value) out += (c == '\r' || c == '\n') ? ' ' : c;
  return out;
}

std::string RfcDate() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[64];
  std::strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S +0000", &utc);
  return text;
}

// Headers, then the body with CRLF line ends and dot-stuffing, then the
// terminating ".".
std::string DataSection(const SmtpOptions& options,
                        const SmtpMessage& message) {
  std::string data = "From: " + HeaderValue(options.from) + "\r\n" +
                     "To: " + HeaderValue(message.to) + "\r\n" +
                     "Subject: " + HeaderValue(message.subject) + "\r\n" +
                     "Date: " + RfcDate() + "\r\n";
  if (!message.message_id.empty()) {
    data += "Message-ID: " + HeaderValue(message.message_id) + "\r\n";
  }
  data +=
      "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
  size_t start = 0;
  while (start <= message.body.size()) {
    size_t end = message.body.find('\n', start);
    std::string line = message.body.substr(
        start, end == std::string::npos ? std::string::npos : end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty() && line.front() == '.') line.insert(0, ".");
    data += line + "\r\n";
    if (end == std::string::npos) break;
    start = end + 1;
  }
  data += ".\r\n";
  return data;
}

}  // namespace

absl::Status ParseSmtpAddress(const std::string& address,
                              SmtpOptions* options) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return absl::InvalidArgumentError("--smtp: \"" + address +
                                      "\" is not HOST:PORT");
  }
  std::string port_text = address.substr(colon + 1);
  char* end = nullptr;
  long port = std::strtol(port_text.c_str(), &end, 10);
  if (*end != '\0' || port < 1 || port > 65535) {
    return absl::InvalidArgumentError("--smtp: bad port in \"" + address +
                                      "\"");
  }
  options->host = address.substr(0, colon);
  options->port = static_cast<int>(port);
  return absl::OkStatus();
}

absl::Status SendMail(const SmtpOptions& options,
                      const std::vector<SmtpMessage>& messages) {
  SmtpConnection smtp(options.timeout);
  if (absl::Status s = smtp.Connect(options.host, options.port); !s.ok()) {
    return s;
  }
  if (absl::Status s = smtp.Expect(220, "connect"); !s.ok()) return s;
  if (absl::Status s = smtp.Command("HELO " + options.helo_name, 250);
      !s.ok()) {
    return s;
  }
  for (const SmtpMessage& message : messages) {
    if (absl::Status s =
            smtp.Command("MAIL FROM:<" + HeaderValue(options.from) + ">", 250);
        !s.ok()) {
      return s;
    }
    if (absl::Status s =
            smtp.Command("RCPT TO:<" + HeaderValue(message.to) + ">", 250);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = smtp.Command("DATA", 354); !s.ok()) return s;
    if (absl::Status s = smtp.Write(DataSection(options, message)); !s.ok()) {
      return s;
    }
    if (absl::Status s = smtp.Expect(250, "end of DATA"); !s.ok()) return s;
  }
  // The messages are accepted once the final 250 arrived; a failed QUIT
  // does not undo that.
  (void)smtp.Command("QUIT", 221);
  return absl::OkStatus();
}

}  // namespace saga::participants
