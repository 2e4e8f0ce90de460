// Bearer-token authentication. See token_auth.h.
#include "server/token_auth.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "util/token_file.h"

namespace ternserve {
namespace {

constexpr absl::string_view kBearer = "Bearer ";

// Compares in time independent of where the strings differ, so a client cannot find a token
// byte by byte from response times.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

absl::StatusOr<std::vector<std::string>> ReadTokenFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read the token file ", path, " (--auth_token_file)"));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  absl::StatusOr<std::vector<std::string>> tokens = ParseTokenFile(contents.str());
  if (!tokens.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token file ", path, " (--auth_token_file): ", tokens.status().message()));
  }
  return tokens;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenAuthenticator>> TokenAuthenticator::Load(
    const std::string& path) {
  absl::StatusOr<std::vector<std::string>> tokens = ReadTokenFile(path);
  if (!tokens.ok()) return tokens.status();
  return std::unique_ptr<TokenAuthenticator>(new TokenAuthenticator(path, *std::move(tokens)));
}

TokenAuthenticator::TokenAuthenticator(std::string path, std::vector<std::string> tokens)
    : path_(std::move(path)), tokens_(std::move(tokens)) {}

absl::StatusOr<int> TokenAuthenticator::Reload() {
  absl::StatusOr<std::vector<std::string>> tokens = ReadTokenFile(path_);
  if (!tokens.ok()) return tokens.status();
  absl::MutexLock lock(&mu_);
  tokens_ = *std::move(tokens);
  return static_cast<int>(tokens_.size());
}

absl::Status TokenAuthenticator::CheckHeader(absl::string_view authorization, bool present) const {
  if (!present) {
    return absl::UnauthenticatedError(
        "this server requires 'authorization: Bearer <token>' metadata on every call");
  }
  if (!absl::StartsWith(authorization, kBearer)) {
    return absl::UnauthenticatedError("the authorization metadata is not 'Bearer <token>'");
  }
  const absl::string_view token = authorization.substr(kBearer.size());
  absl::MutexLock lock(&mu_);
  bool known = false;
  for (const std::string& t : tokens_) known |= ConstantTimeEquals(token, t);
  if (!known) return absl::UnauthenticatedError("the bearer token is not valid");
  return absl::OkStatus();
}

absl::Status TokenAuthenticator::Check(const grpc::CallbackServerContext& context) const {
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  if (it == metadata.end()) return CheckHeader("", false);
  return CheckHeader(absl::string_view(it->second.data(), it->second.size()), true);
}

}  // namespace ternserve
