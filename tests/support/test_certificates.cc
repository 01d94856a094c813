#include "tests/support/test_certificates.h"

#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "tests/support/test_support.h"

namespace saga::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

const std::vector<std::string> kNewEcKey = {
    "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"};

}  // namespace

TestCertificates::TestCertificates() {
  char dir_template[] = "/tmp/saga-certs-XXXXXX";
  const char* dir = mkdtemp(dir_template);
  if (dir == nullptr) {
    error_ = "mkdtemp failed";
    return;
  }
  dir_ = dir;
  auto self_signed = [&](const std::string& name, const std::string& subject) {
    std::vector<std::string> args = {"req", "-x509"};
    args.insert(args.end(), kNewEcKey.begin(), kNewEcKey.end());
    args.insert(args.end(),
                {"-keyout", dir_ + "/" + name + ".key", "-out",
                 dir_ + "/" + name + ".pem", "-days", "1", "-subj", subject});
    return OpenSsl(args);
  };
  // Each step runs only if the previous ones worked (error_ keeps the first
  // failure).
  self_signed("ca", "/CN=saga test CA") &&
      self_signed("rogue-ca", "/CN=saga rogue CA") &&
      Issue("server", "/CN=localhost", "ca",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
            "extendedKeyUsage=serverAuth\n") &&
      Issue("client", "/CN=saga-orchestrator", "ca",
            "extendedKeyUsage=clientAuth\n") &&
      Issue("rogue", "/CN=saga-orchestrator", "rogue-ca",
            "extendedKeyUsage=clientAuth\n");
}

TestCertificates::~TestCertificates() {
  if (dir_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

::testing::AssertionResult TestCertificates::Created() const {
  if (!error_.empty()) return ::testing::AssertionFailure() << error_;
  return ::testing::AssertionSuccess();
}

bool TestCertificates::OpenSsl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string log = dir_ + "/openssl.log";
  std::filesystem::remove(log);
  ChildProcess process(argv, {}, log);
  const int status = process.Wait();
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  error_ = "openssl";
  for (const auto& arg : args) error_ += " " + arg;
  error_ +=
      " failed (is the Debian package openssl installed?):\n" + ReadAll(log);
  return false;
}

bool TestCertificates::Issue(const std::string& name,
                             const std::string& subject,
                             const std::string& issuer,
                             const std::string& extensions) {
  const std::string base = dir_ + "/" + name;
  std::ofstream(base + ".ext") << extensions;
  std::vector<std::string> request = {"req"};
  request.insert(request.end(), kNewEcKey.begin(), kNewEcKey.end());
  request.insert(request.end(), {"-keyout", base + ".key", "-out",
                                 base + ".csr", "-subj", subject});
  return OpenSsl(request) &&
         OpenSsl({"x509", "-req", "-in", base + ".csr", "-CA",
                  dir_ + "/" + issuer + ".pem", "-CAkey",
                  dir_ + "/" + issuer + ".key", "-set_serial",
                  std::to_string(++serial_), "-days", "1", "-extfile",
                  base + ".ext", "-out", base + ".pem"});
}

}  // namespace saga::testing
