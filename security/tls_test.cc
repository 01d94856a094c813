#include "security/tls.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <condition_variable>
#include <fstream>
#include <mutex>

#include "gtest/gtest.h"
#include "tests/support/test_certificates.h"

namespace saga::security {
namespace {

using saga::testing::TestCertificates;

void ExpectInvalid(const absl::Status& status, const std::string& fragment) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find(fragment), std::string::npos) << status;
}

TEST(TlsSettingsTest, PlaintextByDefault) {
  EXPECT_FALSE(ServerTls{}.enabled());
  EXPECT_FALSE(ClientTls{}.enabled());
  EXPECT_TRUE(CheckServerTls({}).ok());
  EXPECT_TRUE(CheckClientTls({}).ok());
  EXPECT_EQ(Describe(ServerTls{}), "plaintext");
  EXPECT_EQ(Describe(ClientTls{}), "plaintext");
}

TEST(TlsSettingsTest, RefusesSettingsThatDoNotFitTogether) {
  ExpectInvalid(CheckServerTls({"c.pem", "", "", false}), "private key");
  ExpectInvalid(CheckServerTls({"", "k.pem", "", false}), "private key");
  ExpectInvalid(CheckServerTls({"", "", "ca.pem", false}), "needs TLS");
  ExpectInvalid(CheckServerTls({"c.pem", "k.pem", "", true}), "client CA");
  ExpectInvalid(CheckClientTls({"ca.pem", "c.pem", ""}), "private key");
  ExpectInvalid(CheckClientTls({"", "c.pem", "k.pem"}), "CA bundle");
}

TEST(TlsSettingsTest, DescribesTheMode) {
  ServerTls tls{"c", "k", "", false};
  EXPECT_EQ(Describe(tls), "TLS");
  tls.client_ca_file = "ca";
  EXPECT_EQ(Describe(tls), "TLS, client certificates verified");
  tls.require_client_cert = true;
  EXPECT_EQ(Describe(tls), "mutual TLS (client certificate required)");
  EXPECT_EQ(Describe(ClientTls{"ca", "", ""}), "TLS");
  EXPECT_EQ(Describe(ClientTls{"ca", "c", "k"}),
            "mutual TLS (client certificate)");
}

class TlsCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(certs_.Created()); }
  TestCertificates certs_;
};

TEST_F(TlsCredentialsTest, MakesCredentialsFromValidFiles) {
  auto server = MakeServerCredentials(
      {certs_.server_cert(), certs_.server_key(), certs_.ca(), true});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_NE(*server, nullptr);
  auto channel = MakeChannelCredentials(
      {certs_.ca(), certs_.client_cert(), certs_.client_key()});
  ASSERT_TRUE(channel.ok()) << channel.status();
  EXPECT_NE(*channel, nullptr);
}

TEST_F(TlsCredentialsTest, NamesTheFileThatIsMissingOrWrong) {
  const std::string missing = certs_.dir() + "/missing.pem";
  ExpectInvalid(
      MakeServerCredentials({missing, certs_.server_key(), "", false}).status(),
      "cannot read certificate " + missing);
  ExpectInvalid(MakeChannelCredentials({missing, "", ""}).status(),
                "cannot read CA bundle " + missing);

  const std::string garbage = certs_.dir() + "/garbage.pem";
  std::ofstream(garbage) << "not a certificate\n";
  ExpectInvalid(MakeChannelCredentials({garbage, "", ""}).status(),
                "CA bundle " + garbage + " holds no PEM certificate");
  ExpectInvalid(
      MakeServerCredentials({certs_.server_cert(), garbage, "", false})
          .status(),
      "private key " + garbage);
  // The client's key with the server's certificate.
  ExpectInvalid(MakeServerCredentials(
                    {certs_.server_cert(), certs_.client_key(), "", false})
                    .status(),
                "does not belong to certificate " + certs_.server_cert());
}

// A server with `tls` and no service: a call that reaches it is
// UNIMPLEMENTED, one that fails the handshake is UNAVAILABLE.
class Handshake {
 public:
  explicit Handshake(const ServerTls& tls) {
    auto credentials = MakeServerCredentials(tls);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", *credentials, &port_);
    builder.RegisterCallbackGenericService(&nothing_);
    server_ = builder.BuildAndStart();
    EXPECT_NE(server_, nullptr);
  }
  ~Handshake() { server_->Shutdown(); }

  grpc::StatusCode Call(const ClientTls& tls) const {
    auto credentials = MakeChannelCredentials(tls);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    grpc::GenericStub stub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(port_), *credentials));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    grpc::Slice empty("");
    grpc::ByteBuffer request(&empty, 1);
    grpc::ByteBuffer response;
    grpc::Status status;
    std::mutex mu;
    std::condition_variable done;
    bool finished = false;
    stub.UnaryCall(&context, "/test.Nothing/Call", grpc::StubOptions(),
                   &request, &response, [&](grpc::Status s) {
                     std::lock_guard<std::mutex> lock(mu);
                     status = std::move(s);
                     finished = true;
                     done.notify_one();
                   });
    std::unique_lock<std::mutex> lock(mu);
    done.wait(lock, [&] { return finished; });
    return status.error_code();
  }

 private:
  // Answers UNIMPLEMENTED to every call.
  grpc::CallbackGenericService nothing_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(TlsCredentialsTest, ClientsThatTrustTheServerGetThrough) {
  Handshake server({certs_.server_cert(), certs_.server_key(), "", false});
  EXPECT_EQ(server.Call({certs_.ca(), "", ""}),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(server.Call({}), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(server.Call({certs_.rogue_ca(), "", ""}),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsCredentialsTest, MutualTlsNeedsATrustedClientCertificate) {
  Handshake server(
      {certs_.server_cert(), certs_.server_key(), certs_.ca(), true});
  EXPECT_EQ(
      server.Call({certs_.ca(), certs_.client_cert(), certs_.client_key()}),
      grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(server.Call({certs_.ca(), "", ""}), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(server.Call({certs_.ca(), certs_.rogue_cert(), certs_.rogue_key()}),
            grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace saga::security
