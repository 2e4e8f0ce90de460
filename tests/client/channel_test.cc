// Client channels (client/channel.h): the flags' validation, the token file, the files read, and
// real TLS against an in-process server: the CA verifies it, --tls_server_name overrides the name
// checked, a client certificate passes mutual TLS, and the token arrives as metadata.
#include "client/channel.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/classifier_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ternserve/v1/classifier.grpc.pb.h"
#include "tests/testing/subprocess.h"

namespace ternserve {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// ChannelOptions by position (designated initializers are C++20): CA, cert, key, server name,
// token file.
ChannelOptions Options(std::string ca, std::string cert = "", std::string key = "",
                       std::string server_name = "", std::string token = "") {
  ChannelOptions options;
  options.tls_ca_path = std::move(ca);
  options.tls_cert_path = std::move(cert);
  options.tls_key_path = std::move(key);
  options.tls_server_name = std::move(server_name);
  options.auth_token_path = std::move(token);
  return options;
}

ChannelOptions TokenOnly(std::string token) { return Options("", "", "", "", std::move(token)); }

// Scratch files are the process's own: ctest runs the tests of this file concurrently.
std::string WriteFile(const std::string& name, const std::string& contents) {
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/channel_test_", getpid(), "_", name);
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

TEST(ValidateChannelOptionsTest, NamesEveryFlagThatIsMissingItsPartner) {
  const struct {
    const char* name;
    ChannelOptions options;
    std::vector<const char*> problems;  // empty: valid
  } cases[] = {
      {"plaintext", ChannelOptions(), {}},
      {"token over plaintext", TokenOnly("t"), {}},
      {"TLS", Options("ca"), {}},
      {"mutual TLS", Options("ca", "c", "k"), {}},
      {"server name", Options("ca", "", "", "host"), {}},
      {"cert without key", Options("ca", "c"), {"--tls_cert needs --tls_key"}},
      {"key without cert", Options("ca", "", "k"), {"--tls_key needs --tls_cert"}},
      {"client cert without CA", Options("", "c", "k"), {"--tls_cert and --tls_key need --tls_ca"}},
      {"server name without CA", Options("", "", "", "host"), {"--tls_server_name needs --tls_ca"}},
      {"all at once",
       Options("", "c", "", "host"),
       {"--tls_cert needs --tls_key", "need --tls_ca", "--tls_server_name needs --tls_ca"}},
  };
  for (const auto& c : cases) {
    const absl::Status status = ValidateChannelOptions(c.options);
    if (c.problems.empty()) {
      EXPECT_TRUE(status.ok()) << c.name << ": " << status;
      continue;
    }
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name;
    for (const char* problem : c.problems) {
      EXPECT_THAT(status.message(), HasSubstr(problem)) << c.name;
    }
  }
}

TEST(ParseAuthTokenTest, TheFirstLineThatIsNeitherBlankNorAComment) {
  const struct {
    const char* name;
    std::string contents;
    const char* token;  // null: refused
  } cases[] = {
      {"one line", "s3cret\n", "s3cret"},
      {"no newline", "s3cret", "s3cret"},
      {"comments and blank lines first", "# rotate monthly\n\n   \n#old\ns3cret\nnext\n", "s3cret"},
      {"CRLF", "# comment\r\n\r\ns3cret\r\nnext\r\n", "s3cret"},
      {"surrounding whitespace", "\t  s3cret \t\n", "s3cret"},
      {"a '#' inside is the token's", "a#b\n", "a#b"},
      {"empty", "", nullptr},
      {"comments only", "# one\n#two\r\n\n", nullptr},
      {"space inside", "s3 cret\n", nullptr},
      {"control character",
       std::string("s3\x01"
                   "cret\n"),
       nullptr},
      {"not ASCII", "s3cr\xc3\xa9t\n", nullptr},
  };
  for (const auto& c : cases) {
    const absl::StatusOr<std::string> token = ParseAuthToken(c.contents);
    if (c.token != nullptr) {
      ASSERT_TRUE(token.ok()) << c.name << ": " << token.status();
      EXPECT_EQ(*token, c.token) << c.name;
    } else {
      EXPECT_EQ(token.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
      EXPECT_THAT(token.status().message(), Not(HasSubstr("cret"))) << c.name;  // never quoted
    }
  }
}

TEST(ClientSecurityTest, DefaultIsPlaintextWithoutToken) {
  const absl::StatusOr<ClientSecurity> security = ClientSecurity::Load(ChannelOptions());
  ASSERT_TRUE(security.ok()) << security.status();
  EXPECT_FALSE(security->tls());
  EXPECT_FALSE(security->has_token());
}

TEST(ClientSecurityTest, FilesThatCannotServeNameTheirFlag) {
  const std::string missing = ::testing::TempDir() + "/channel_test_no_such_file";
  const std::string not_pem = WriteFile("not_pem", "hello\n");
  const std::string cert = WriteFile("cert.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n");
  const std::string comments = WriteFile("comments_only", "# nothing\n\n");
  const struct {
    const char* name;
    ChannelOptions options;
    std::vector<std::string> message;
  } cases[] = {
      {"missing CA", Options(missing), {"--tls_ca", missing}},
      {"CA not PEM", Options(not_pem), {"--tls_ca", not_pem, "BEGIN CERTIFICATE"}},
      {"missing cert", Options(cert, missing, cert), {"--tls_cert", missing}},
      {"key not a key", Options(cert, cert, cert), {"--tls_key", cert, "PRIVATE KEY"}},
      {"cert without key, files unread", Options(missing, cert), {"--tls_cert needs --tls_key"}},
      {"missing token file", TokenOnly(missing), {"--auth_token_file", missing}},
      {"token file without token",
       TokenOnly(comments),
       {"--auth_token_file", comments, "holds no token"}},
  };
  for (const auto& c : cases) {
    const absl::StatusOr<ClientSecurity> security = ClientSecurity::Load(c.options);
    EXPECT_EQ(security.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    for (const std::string& part : c.message) {
      EXPECT_THAT(security.status().message(), HasSubstr(part)) << c.name;
    }
  }
  const absl::StatusOr<ClientSecurity> token =
      ClientSecurity::Load(TokenOnly(WriteFile("token", "# t\r\nabc\r\n")));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_TRUE(token->has_token());
  EXPECT_FALSE(token->tls());
}

// Answers GetModelInfo with the model name "tls-ok" when the call carries the token.
class TokenCheckingClassifier final : public v1::Classifier::Service {
 public:
  grpc::Status GetModelInfo(grpc::ServerContext* context, const v1::GetModelInfoRequest*,
                            v1::ModelInfo* info) override {
    const auto it = context->client_metadata().find("authorization");
    if (it == context->client_metadata().end() ||
        std::string(it->second.data(), it->second.size()) != "Bearer s3cret") {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no or a wrong token");
    }
    info->set_model_name("tls-ok");
    return grpc::Status::OK;
  }
};

// A throw-away CA, a server certificate for "ternserve.test" only (not 127.0.0.1, so that only
// the name override passes), a client certificate, and a mutual-TLS server on 127.0.0.1.
class TlsChannelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(absl::StrCat(::testing::TempDir(), "/channel_test_tls_", getpid()));
    const std::string script = absl::StrCat(
        "exec 2>&1; set -e; rm -rf '", *dir_, "'; mkdir -p '", *dir_, "'; cd '", *dir_, "'\n",
        "ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n",
        "openssl req -x509 $ec -days 2 -subj /CN=test-ca -keyout ca.key -out ca.pem\n",
        "openssl req $ec -subj /CN=ternserve.test -keyout server.key -out server.csr\n",
        "printf 'subjectAltName=DNS:ternserve.test\\n' > san.ext\n",
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 ",
        "-extfile san.ext -out server.pem\n",
        "openssl req $ec -subj /CN=client -keyout client.key -out client.csr\n",
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 ",
        "-out client.pem\n");
    auto result =
        testing::RunToCompletion({"/bin/sh", "-c", script}, *dir_ + ".log", absl::Seconds(60));
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->first, 0) << "openssl failed: " << result->second;
  }

  static std::string Read(const std::string& name) {
    std::ifstream in(*dir_ + "/" + name);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  static std::string Path(const std::string& name) { return *dir_ + "/" + name; }

  void SetUp() override {
    grpc::SslServerCredentialsOptions ssl(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = Read("ca.pem");
    ssl.pem_key_cert_pairs.push_back({Read("server.key"), Read("server.pem")});
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(ssl), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    address_ = absl::StrCat("127.0.0.1:", port);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // GetModelInfo through a ClassifierClient made with `options`.
  absl::StatusOr<std::string> ModelName(const ChannelOptions& options) {
    absl::StatusOr<ClientSecurity> security = ClientSecurity::Load(options);
    if (!security.ok()) return security.status();
    absl::StatusOr<std::unique_ptr<ClassifierClient>> client =
        ClassifierClient::Create(address_, *security);
    if (!client.ok()) return client.status();
    absl::StatusOr<v1::ModelInfo> info = (*client)->GetModelInfo(absl::Seconds(10));
    if (!info.ok()) return info.status();
    return info->model_name();
  }

  ChannelOptions MutualTls() const {
    return Options(Path("ca.pem"), Path("client.pem"), Path("client.key"), "ternserve.test",
                   WriteFile("tls_token", "# test\ns3cret\n"));
  }

  static std::string* dir_;
  TokenCheckingClassifier service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};
std::string* TlsChannelTest::dir_ = nullptr;

TEST_F(TlsChannelTest, MutualTlsWithTheTokenIsServed) {
  const absl::StatusOr<std::string> model = ModelName(MutualTls());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(*model, "tls-ok");
}

TEST_F(TlsChannelTest, EachMissingPieceIsRefused) {
  ChannelOptions no_override = MutualTls();
  no_override.tls_server_name.clear();  // 127.0.0.1 is not in the certificate
  ChannelOptions no_client_cert = MutualTls();
  no_client_cert.tls_cert_path.clear();
  no_client_cert.tls_key_path.clear();
  ChannelOptions wrong_token = MutualTls();
  wrong_token.auth_token_path = WriteFile("wrong_token", "wrong\n");
  ChannelOptions no_token = MutualTls();
  no_token.auth_token_path.clear();
  ChannelOptions plaintext;
  const struct {
    const char* name;
    const ChannelOptions& options;
    absl::StatusCode code;
  } cases[] = {
      {"no server name override", no_override, absl::StatusCode::kUnavailable},
      {"no client certificate", no_client_cert, absl::StatusCode::kUnavailable},
      {"plaintext", plaintext, absl::StatusCode::kUnavailable},
      {"wrong token", wrong_token, absl::StatusCode::kUnauthenticated},
      {"no token", no_token, absl::StatusCode::kUnauthenticated},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ModelName(c.options).status().code(), c.code) << c.name;
  }
}

}  // namespace
}  // namespace ternserve
