#include "security/tls.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace saga::security {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::InvalidArgumentError(std::string("cannot read ") + what + " " +
                                      path + ": " + std::strerror(errno));
  }
  return std::string(std::istreambuf_iterator<char>(file),
                     std::istreambuf_iterator<char>());
}

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Deleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};

std::unique_ptr<BIO, BioDeleter> MemoryBio(const std::string& pem) {
  return std::unique_ptr<BIO, BioDeleter>(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The first certificate of a PEM bundle, or null.
std::unique_ptr<X509, X509Deleter> FirstCertificate(const std::string& pem) {
  auto bio = MemoryBio(pem);
  return std::unique_ptr<X509, X509Deleter>(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// Checks what gRPC would otherwise report only as a failed handshake or a
// server that does not start: each file parses, and the key belongs to the
// certificate.
absl::Status CheckCertificate(const std::string& pem, const std::string& path,
                              const char* what) {
  if (!FirstCertificate(pem)) {
    return absl::InvalidArgumentError(std::string(what) + " " + path +
                                      " holds no PEM certificate");
  }
  return absl::OkStatus();
}

absl::Status CheckKeyPair(const std::string& cert_pem,
                          const std::string& key_pem, const std::string& cert,
                          const std::string& key) {
  auto certificate = FirstCertificate(cert_pem);
  if (!certificate) {
    return absl::InvalidArgumentError("certificate " + cert +
                                      " holds no PEM certificate");
  }
  auto bio = MemoryBio(key_pem);
  std::unique_ptr<EVP_PKEY, KeyDeleter> private_key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!private_key) {
    return absl::InvalidArgumentError("private key " + key +
                                      " holds no unencrypted PEM private key");
  }
  if (X509_check_private_key(certificate.get(), private_key.get()) != 1) {
    return absl::InvalidArgumentError(
        "private key " + key + " does not belong to certificate " + cert);
  }
  return absl::OkStatus();
}

struct KeyPair {
  std::string cert_pem;
  std::string key_pem;
};

absl::StatusOr<KeyPair> ReadKeyPair(const std::string& cert,
                                    const std::string& key) {
  auto cert_pem = ReadPem(cert, "certificate");
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = ReadPem(key, "private key");
  if (!key_pem.ok()) return key_pem.status();
  if (absl::Status ok = CheckKeyPair(*cert_pem, *key_pem, cert, key);
      !ok.ok()) {
    return ok;
  }
  return KeyPair{*std::move(cert_pem), *std::move(key_pem)};
}

absl::StatusOr<std::string> ReadCaBundle(const std::string& path) {
  auto pem = ReadPem(path, "CA bundle");
  if (!pem.ok()) return pem.status();
  if (absl::Status ok = CheckCertificate(*pem, path, "CA bundle"); !ok.ok()) {
    return ok;
  }
  return pem;
}

}  // namespace

absl::Status CheckServerTls(const ServerTls& tls) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "a TLS server needs both a certificate and its private key");
  }
  if (!tls.enabled() &&
      (!tls.client_ca_file.empty() || tls.require_client_cert)) {
    return absl::InvalidArgumentError(
        "verifying client certificates needs TLS: give the server a "
        "certificate and key");
  }
  if (tls.require_client_cert && tls.client_ca_file.empty()) {
    return absl::InvalidArgumentError(
        "requiring client certificates needs the CA bundle they must chain "
        "to (client CA)");
  }
  return absl::OkStatus();
}

absl::Status CheckClientTls(const ClientTls& tls) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "a TLS client certificate needs its private key (and the key its "
        "certificate)");
  }
  if (!tls.enabled() && !tls.cert_file.empty()) {
    return absl::InvalidArgumentError(
        "a TLS client certificate needs the CA bundle that verifies the "
        "server");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTls& tls) {
  if (absl::Status ok = CheckServerTls(tls); !ok.ok()) return ok;
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  auto pair = ReadKeyPair(tls.cert_file, tls.key_file);
  if (!pair.ok()) return pair.status();
  grpc::SslServerCredentialsOptions options(
      tls.require_client_cert
          ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
      : tls.client_ca_file.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_key_cert_pairs.push_back({pair->key_pem, pair->cert_pem});
  if (!tls.client_ca_file.empty()) {
    auto ca = ReadCaBundle(tls.client_ca_file);
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *std::move(ca);
  }
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeChannelCredentials(const ClientTls& tls) {
  if (absl::Status ok = CheckClientTls(tls); !ok.ok()) return ok;
  if (!tls.enabled()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  auto ca = ReadCaBundle(tls.ca_file);
  if (!ca.ok()) return ca.status();
  options.pem_root_certs = *std::move(ca);
  if (!tls.cert_file.empty()) {
    auto pair = ReadKeyPair(tls.cert_file, tls.key_file);
    if (!pair.ok()) return pair.status();
    options.pem_cert_chain = std::move(pair->cert_pem);
    options.pem_private_key = std::move(pair->key_pem);
  }
  return grpc::SslCredentials(options);
}

std::string Describe(const ServerTls& tls) {
  if (!tls.enabled()) return "plaintext";
  if (tls.require_client_cert) {
    return "mutual TLS (client certificate required)";
  }
  if (!tls.client_ca_file.empty()) return "TLS, client certificates verified";
  return "TLS";
}

std::string Describe(const ClientTls& tls) {
  if (!tls.enabled()) return "plaintext";
  return tls.cert_file.empty() ? "TLS" : "mutual TLS (client certificate)";
}

}  // namespace saga::security
