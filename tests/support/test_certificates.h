// A throwaway PKI for TLS tests, made with the openssl command-line tool
// (Debian package `openssl`) in a fresh temporary directory that the
// destructor removes:
//   ca          the CA that servers and clients trust;
//   server      signed by ca, for 127.0.0.1 and localhost (IP and DNS SANs);
//   client      signed by ca, for client authentication (mutual TLS);
//   rogue-ca    another CA, which nobody trusts;
//   rogue       a client certificate signed by rogue-ca.
// Keys are unencrypted PEM (EC P-256). Certificates are valid for a day.
#pragma once

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace saga::testing {

class TestCertificates {
 public:
  TestCertificates();
  ~TestCertificates();
  TestCertificates(const TestCertificates&) = delete;
  TestCertificates& operator=(const TestCertificates&) = delete;

  // Success once every file exists; otherwise the failing openssl command
  // and its output.
  ::testing::AssertionResult Created() const;

  const std::string& dir() const { return dir_; }
  std::string ca() const { return dir_ + "/ca.pem"; }
  std::string server_cert() const { return dir_ + "/server.pem"; }
  std::string server_key() const { return dir_ + "/server.key"; }
  std::string client_cert() const { return dir_ + "/client.pem"; }
  std::string client_key() const { return dir_ + "/client.key"; }
  std::string rogue_ca() const { return dir_ + "/rogue-ca.pem"; }
  std::string rogue_cert() const { return dir_ + "/rogue.pem"; }
  std::string rogue_key() const { return dir_ + "/rogue.key"; }

 private:
  // Runs openssl with `args`; on failure records it in error_.
  bool OpenSsl(const std::vector<std::string>& args);
  // A key and a certificate `name`.pem signed by `issuer` (its .pem and
  // .key) with the extensions in `extensions`.
  bool Issue(const std::string& name, const std::string& subject,
             const std::string& issuer, const std::string& extensions);

  std::string dir_;
  std::string error_;
  int serial_ = 0;
};

}  // namespace saga::testing
