#include "tests/support/test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <pqxx/pqxx>
#include <random>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace saga::testing {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(5);
constexpr auto kPortPollInterval = std::chrono::milliseconds(20);
// PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1).
constexpr std::size_t kMaxIdentifierLength = 63;

std::string ErrnoMessage(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

// Quotes a value for a keyword/value connection string.
std::string QuoteConninfoValue(const std::string& value) {
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "'";
}

// Rewrites "postgresql://user@host:port/db?opts" so it names `dbname`; a
// dbname= query parameter would override the path, so it is dropped.
std::string UriWithDbname(const std::string& uri, const std::string& dbname) {
  const std::size_t authority = uri.find("://") + 3;
  const std::size_t query = uri.find('?', authority);
  const std::size_t path = uri.find('/', authority);
  const std::size_t authority_end = std::min({path, query, uri.size()});
  std::string result = uri.substr(0, authority_end) + "/" + dbname;
  if (query == std::string::npos) return result;

  std::string kept;
  std::size_t begin = query + 1;
  while (begin <= uri.size()) {
    std::size_t end = uri.find('&', begin);
    if (end == std::string::npos) end = uri.size();
    const std::string param = uri.substr(begin, end - begin);
    if (!param.empty() && param.rfind("dbname=", 0) != 0) {
      kept += (kept.empty() ? "" : "&") + param;
    }
    begin = end + 1;
  }
  return kept.empty() ? result : result + "?" + kept;
}

// Rewrites a keyword/value connection string so it names `dbname`. Values
// may be single-quoted with backslash escapes, as libpq allows.
std::string ConninfoWithDbname(const std::string& conninfo,
                               const std::string& dbname) {
  std::string result;
  std::size_t i = 0;
  const std::size_t n = conninfo.size();
  while (i < n) {
    while (i < n && std::isspace(static_cast<unsigned char>(conninfo[i]))) ++i;
    if (i >= n) break;
    const std::size_t start = i;
    while (i < n && conninfo[i] != '=' &&
           !std::isspace(static_cast<unsigned char>(conninfo[i]))) {
      ++i;
    }
    const std::string keyword = conninfo.substr(start, i - start);
    while (i < n && std::isspace(static_cast<unsigned char>(conninfo[i]))) ++i;
    if (i < n && conninfo[i] == '=') ++i;
    while (i < n && std::isspace(static_cast<unsigned char>(conninfo[i]))) ++i;
    if (i < n && conninfo[i] == '\'') {
      ++i;
      while (i < n && conninfo[i] != '\'') {
        if (conninfo[i] == '\\' && i + 1 < n) ++i;
        ++i;
      }
      if (i < n) ++i;
    } else {
      while (i < n && !std::isspace(static_cast<unsigned char>(conninfo[i]))) {
        if (conninfo[i] == '\\' && i + 1 < n) ++i;
        ++i;
      }
    }
    if (keyword == "dbname") continue;
    if (!result.empty()) result += ' ';
    result += conninfo.substr(start, i - start);
  }
  if (!result.empty()) result += ' ';
  return result + "dbname=" + QuoteConninfoValue(dbname);
}

std::string DsnWithDbname(const std::string& dsn, const std::string& dbname) {
  if (dsn.rfind("postgresql://", 0) == 0 || dsn.rfind("postgres://", 0) == 0) {
    return UriWithDbname(dsn, dbname);
  }
  return ConninfoWithDbname(dsn, dbname);
}

std::string UniqueDatabaseName(const std::string& prefix) {
  static std::atomic<int> counter{0};
  std::random_device random;
  char suffix[16];
  std::snprintf(suffix, sizeof(suffix), "%08x",
                static_cast<unsigned>(random()));
  std::string name;
  for (char c : prefix) {
    const unsigned char u = static_cast<unsigned char>(c);
    name += std::isalnum(u) ? static_cast<char>(std::tolower(u)) : '_';
  }
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) {
    name = "t_" + name;
  }
  const std::string tail = "_" + std::to_string(getpid()) + "_" +
                           std::to_string(counter.fetch_add(1)) + "_" + suffix;
  // The unique tail must survive PostgreSQL's truncation.
  if (name.size() + tail.size() > kMaxIdentifierLength) {
    name.resize(kMaxIdentifierLength - tail.size());
  }
  return name + tail;
}

// Test databases are recycled rather than dropped and created: in
// PostgreSQL 15 DROP DATABASE forces a checkpoint (about a second on a test
// machine) and CREATE DATABASE writes a copy of the template to the WAL
// (half a second), and a cluster test uses five databases. A finished
// test's database is renamed into a pool; the next test renames one out and
// empties it, which takes milliseconds.
constexpr char kPoolPrefix[] = "saga_pool_";

// Renames a pooled database to `name`; false when the pool is empty. A
// rename fails when another test took that database first, or while a
// connection to it is still closing: the next one is tried.
bool ClaimPooledDatabase(pqxx::nontransaction& admin, const std::string& name) {
  const pqxx::result pooled = admin.exec(
      "SELECT datname FROM pg_database WHERE datname LIKE 'saga\\_pool\\_%' "
      "ORDER BY random() LIMIT 8");
  for (const auto& row : pooled) {
    try {
      admin.exec0("ALTER DATABASE " + admin.quote_name(row[0].c_str()) +
                  " RENAME TO " + admin.quote_name(name));
      return true;
    } catch (const pqxx::sql_error&) {
      continue;
    }
  }
  return false;
}

// Leaves a claimed database as CREATE DATABASE would: no schema but an empty
// `public` (owned and granted as PostgreSQL 15 makes it), no large objects,
// no per-database settings.
void EmptyPooledDatabase(pqxx::nontransaction& admin, const std::string& name,
                         const std::string& dsn) {
  const std::string quoted = admin.quote_name(name);
  admin.exec0("ALTER DATABASE " + quoted + " RESET ALL");
  admin.exec0("ALTER DATABASE " + quoted +
              " WITH ALLOW_CONNECTIONS true CONNECTION LIMIT -1");
  pqxx::connection connection(dsn);
  pqxx::work work(connection);
  work.exec0(R"sql(
    DO $$
    DECLARE schema_name text;
    BEGIN
      FOR schema_name IN
        SELECT nspname FROM pg_namespace
        WHERE nspname NOT IN ('pg_catalog', 'information_schema')
          AND nspname NOT LIKE 'pg\_%'
      LOOP
        EXECUTE format('DROP SCHEMA %I CASCADE', schema_name);
      END LOOP;
      PERFORM lo_unlink(oid) FROM pg_largeobject_metadata;
      CREATE SCHEMA public AUTHORIZATION pg_database_owner;
      GRANT USAGE ON SCHEMA public TO PUBLIC;
    END $$)sql");
  work.commit();
}

// Renames a finished test's database into the pool, ending its last
// connections first (the test's processes may still be closing theirs;
// PostgreSQL waits a few seconds for them to go); false if it could not,
// and the caller drops it.
bool ReturnToPool(pqxx::nontransaction& admin, const std::string& name) {
  admin.exec_params(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE datname = $1 AND pid <> pg_backend_pid()",
      name);
  try {
    admin.exec0("ALTER DATABASE " + admin.quote_name(name) + " RENAME TO " +
                admin.quote_name(UniqueDatabaseName(kPoolPrefix)));
    return true;
  } catch (const pqxx::sql_error&) {
    return false;
  }
}

// The executable `file` would run as: itself when it holds a '/', else the
// first match on PATH. Resolved before fork() so the child only execs.
std::string ResolveExecutable(const std::string& file) {
  if (file.find('/') != std::string::npos) return file;
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  std::size_t begin = 0;
  while (begin <= dirs.size()) {
    std::size_t end = dirs.find(':', begin);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(begin, end - begin);
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + file;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    begin = end + 1;
  }
  return file;
}

}  // namespace

std::string AdminDsn() {
  const char* dsn = std::getenv("SAGA_TEST_ADMIN_DSN");
  if (dsn == nullptr || *dsn == '\0') {
    std::fprintf(stderr,
                 "SAGA_TEST_ADMIN_DSN is not set. Tests that need PostgreSQL "
                 "take a superuser connection string from it, e.g. "
                 "SAGA_TEST_ADMIN_DSN=\"host=127.0.0.1 port=5432 user=saga "
                 "dbname=postgres\". scripts/test.sh starts a private cluster "
                 "and sets it.\n");
    std::abort();
  }
  return dsn;
}

TestDatabase::TestDatabase(const std::string& prefix,
                           const std::string& admin_dsn)
    : admin_dsn_(admin_dsn.empty() ? AdminDsn() : admin_dsn),
      name_(UniqueDatabaseName(prefix)) {
  dsn_ = DsnWithDbname(admin_dsn_, name_);
  try {
    pqxx::connection connection(admin_dsn_);
    pqxx::nontransaction work(connection);
    if (ClaimPooledDatabase(work, name_)) {
      EmptyPooledDatabase(work, name_, dsn_);
    } else {
      work.exec0("CREATE DATABASE " + work.quote_name(name_));
    }
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot create test database " + name_ + ": " +
                             e.what());
  }
}

TestDatabase::~TestDatabase() {
  // A destructor must not throw; a leftover database only costs disk space
  // in a throwaway cluster, so a failure is reported and otherwise ignored.
  try {
    pqxx::connection connection(admin_dsn_);
    pqxx::nontransaction work(connection);
    if (!ReturnToPool(work, name_)) {
      work.exec0("DROP DATABASE IF EXISTS " + work.quote_name(name_) +
                 " WITH (FORCE)");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "warning: cannot drop test database %s: %s\n",
                 name_.c_str(), e.what());
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(ErrnoMessage("socket"));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const std::string message = ErrnoMessage("bind 127.0.0.1:0");
    close(fd);
    throw std::runtime_error(message);
  }
  close(fd);
  return ntohs(address.sin_port);
}

bool WaitForPort(int port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      address.sin_port = htons(static_cast<uint16_t>(port));
      const bool connected = connect(fd, reinterpret_cast<sockaddr*>(&address),
                                     sizeof(address)) == 0;
      close(fd);
      if (connected) return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPortPollInterval);
  }
}

bool PollUntil(const std::function<bool()>& condition,
               std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::string BinaryPath(const std::string& name) {
  return std::string(SAGA_BINARY_DIR) + "/bin/" + name;
}

std::string SourcePath(const std::string& relative) {
  return std::string(SAGA_SOURCE_DIR) + "/" + relative;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv,
                           const std::vector<std::string>& extra_env,
                           const std::string& log_path) {
  if (argv.empty()) throw std::invalid_argument("ChildProcess: empty argv");

  // Everything the child needs is built here: between fork() and execve()
  // in a multi-threaded parent only async-signal-safe calls are allowed.
  const std::string executable = ResolveExecutable(argv[0]);
  std::vector<char*> child_argv;
  for (const std::string& arg : argv) {
    child_argv.push_back(const_cast<char*>(arg.c_str()));
  }
  child_argv.push_back(nullptr);

  std::vector<std::string> env_storage;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string current = *entry;
    const std::string name = current.substr(0, current.find('='));
    bool overridden = false;
    for (const std::string& extra : extra_env) {
      if (extra.substr(0, extra.find('=')) == name) overridden = true;
    }
    if (!overridden) env_storage.push_back(current);
  }
  env_storage.insert(env_storage.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> child_env;
  for (const std::string& entry : env_storage) {
    child_env.push_back(const_cast<char*>(entry.c_str()));
  }
  child_env.push_back(nullptr);

  int log_fd = -1;
  if (!log_path.empty()) {
    log_fd =
        open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) throw std::runtime_error(ErrnoMessage("open " + log_path));
  }
  // The child reports a failed execve() through this pipe; a successful one
  // closes it (O_CLOEXEC), so the parent reads EOF.
  int error_pipe[2];
  if (pipe2(error_pipe, O_CLOEXEC) != 0) {
    const std::string message = ErrnoMessage("pipe2");
    if (log_fd >= 0) close(log_fd);
    throw std::runtime_error(message);
  }
  const pid_t parent = getpid();

  pid_t pid = fork();
  if (pid == 0) {
    // A test binary killed by a ctest timeout must not leave servers behind
    // holding ports and ctest's output pipe. The signal follows the forking
    // thread, so a ChildProcess must not outlive the thread that made it.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    if (log_fd >= 0) {
      dup2(log_fd, STDOUT_FILENO);
      dup2(log_fd, STDERR_FILENO);
    }
    execve(executable.c_str(), child_argv.data(), child_env.data());
    const int error = errno;
    ssize_t ignored = write(error_pipe[1], &error, sizeof(error));
    (void)ignored;
    _exit(127);
  }
  const int fork_errno = errno;
  close(error_pipe[1]);
  if (log_fd >= 0) close(log_fd);
  if (pid < 0) {
    close(error_pipe[0]);
    errno = fork_errno;
    throw std::runtime_error(ErrnoMessage("fork"));
  }

  int exec_errno = 0;
  ssize_t got;
  do {
    got = read(error_pipe[0], &exec_errno, sizeof(exec_errno));
  } while (got < 0 && errno == EINTR);
  close(error_pipe[0]);
  if (got > 0) {
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    throw std::runtime_error("cannot execute " + executable + ": " +
                             std::strerror(exec_errno));
  }
  pid_ = pid;
}

ChildProcess::~ChildProcess() {
  if (pid_ <= 0 || reaped_) return;
  kill(pid_, SIGKILL);
  Wait();
}

bool ChildProcess::Running() {
  if (pid_ <= 0 || reaped_) return false;
  int status = 0;
  const pid_t result = waitpid(pid_, &status, WNOHANG);
  if (result == pid_) {
    reaped_ = true;
    status_ = status;
    return false;
  }
  return result == 0;
}

void ChildProcess::Signal(int signal) {
  if (pid_ > 0 && !reaped_) kill(pid_, signal);
}

int ChildProcess::Wait() {
  if (pid_ <= 0) return -1;
  if (reaped_) return status_;
  int status = 0;
  pid_t result;
  do {
    result = waitpid(pid_, &status, 0);
  } while (result < 0 && errno == EINTR);
  reaped_ = true;
  status_ = result == pid_ ? status : -1;
  return status_;
}

}  // namespace saga::testing
