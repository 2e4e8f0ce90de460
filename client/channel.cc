// Client channels: TLS and bearer tokens. See channel.h.
#include "client/channel.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/image_files.h"
#include "util/token_file.h"

namespace ternserve {
namespace {

constexpr absl::string_view kCertificateBlock = "-----BEGIN CERTIFICATE-----";
constexpr absl::string_view kPrivateKeyBlock = "PRIVATE KEY-----";  // PKCS#8, RSA, EC
// PEM files and token files are small; a larger one is the wrong file.
constexpr size_t kMaxCredentialFileBytes = 1 << 20;

// Reads the file named by `flag`; `block` is a PEM marker it must hold ("" for none).
absl::StatusOr<std::string> ReadCredentialFile(absl::string_view flag, const std::string& path,
                                               absl::string_view block) {
  absl::StatusOr<std::string> bytes = ReadFileBytes(path, kMaxCredentialFileBytes);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", bytes.status().message()));
  }
  if (!block.empty() && !absl::StrContains(*bytes, block)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": ", path, " holds no PEM '", block, "' block"));
  }
  return bytes;
}

}  // namespace

absl::Status ValidateChannelOptions(const ChannelOptions& options) {
  std::vector<std::string> problems;
  const bool tls = !options.tls_ca_path.empty();
  if (!options.tls_cert_path.empty() && options.tls_key_path.empty()) {
    problems.push_back("--tls_cert needs --tls_key (the certificate's private key)");
  }
  if (options.tls_cert_path.empty() && !options.tls_key_path.empty()) {
    problems.push_back("--tls_key needs --tls_cert (the certificate it is the key of)");
  }
  if (!tls && (!options.tls_cert_path.empty() || !options.tls_key_path.empty())) {
    problems.push_back("--tls_cert and --tls_key need --tls_ca (TLS is on only with --tls_ca)");
  }
  if (!tls && !options.tls_server_name.empty()) {
    problems.push_back("--tls_server_name needs --tls_ca (TLS is on only with --tls_ca)");
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(problems, "; "));
}

absl::StatusOr<std::string> ParseAuthToken(absl::string_view contents) {
  absl::StatusOr<std::vector<std::string>> tokens = ParseTokenFile(contents);
  if (!tokens.ok()) return tokens.status();
  return tokens->front();
}

ClientSecurity::ClientSecurity() : credentials_(grpc::InsecureChannelCredentials()) {}

absl::StatusOr<ClientSecurity> ClientSecurity::Load(const ChannelOptions& options) {
  if (absl::Status valid = ValidateChannelOptions(options); !valid.ok()) return valid;
  ClientSecurity security;
  if (!options.tls_ca_path.empty()) {
    grpc::SslCredentialsOptions ssl;
    absl::StatusOr<std::string> ca =
        ReadCredentialFile("tls_ca", options.tls_ca_path, kCertificateBlock);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
    if (!options.tls_cert_path.empty()) {
      absl::StatusOr<std::string> cert =
          ReadCredentialFile("tls_cert", options.tls_cert_path, kCertificateBlock);
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key =
          ReadCredentialFile("tls_key", options.tls_key_path, kPrivateKeyBlock);
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *std::move(cert);
      ssl.pem_private_key = *std::move(key);
    }
    security.credentials_ = grpc::SslCredentials(ssl);
    security.tls_ = true;
    security.server_name_ = options.tls_server_name;
  }
  if (!options.auth_token_path.empty()) {
    absl::StatusOr<std::string> contents =
        ReadCredentialFile("auth_token_file", options.auth_token_path, "");
    if (!contents.ok()) return contents.status();
    absl::StatusOr<std::string> token = ParseAuthToken(*contents);
    if (!token.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--auth_token_file: ", options.auth_token_path,
                                                     " ", token.status().message()));
    }
    security.authorization_ = absl::StrCat("Bearer ", *token);
  }
  return security;
}

std::shared_ptr<grpc::Channel> ClientSecurity::NewChannel(const std::string& target,
                                                          grpc::ChannelArguments args) const {
  if (!server_name_.empty()) args.SetSslTargetNameOverride(server_name_);
  return grpc::CreateCustomChannel(target, credentials_, args);
}

void ClientSecurity::PrepareContext(grpc::ClientContext* context) const {
  if (!authorization_.empty()) context->AddMetadata("authorization", authorization_);
}

}  // namespace ternserve
