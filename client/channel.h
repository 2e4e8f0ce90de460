// How Ternserve's clients reach a server: plaintext or TLS (optionally with a client certificate,
// mutual TLS), and an optional bearer token sent on every call. One home for ternserve-cli,
// ternserve-loadgen and ClassifierClient: ChannelOptions names the files (the --tls_* and
// --auth_token_file flags, client/channel_flags.h), ClientSecurity holds what was read from them.
//
// The token travels as call metadata (`authorization: Bearer <token>`), not as gRPC call
// credentials: gRPC refuses call credentials on a plaintext channel, and a server on loopback may
// well check tokens without TLS (docs/oip.md, "Errors").
#ifndef TERNSERVE_CLIENT_CHANNEL_H_
#define TERNSERVE_CLIENT_CHANNEL_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ternserve {

// Paths and names as the user gave them; nothing read yet. Empty means unset.
struct ChannelOptions {
  // PEM root certificates that verify the server (--tls_ca). Setting it turns TLS on; unset, the
  // channel is plaintext.
  std::string tls_ca_path;
  // PEM certificate chain and private key of a client certificate, for a server that requires
  // mutual TLS (--tls_cert, --tls_key). Both or neither; only with tls_ca_path.
  std::string tls_cert_path;
  std::string tls_key_path;
  // The name checked in the server's certificate instead of the target's host (--tls_server_name),
  // e.g. to reach a server by IP address whose certificate names only its DNS name. Only with TLS.
  std::string tls_server_name;
  // A file whose first token (ParseAuthToken) goes on every call as `authorization: Bearer <token>`
  // (--auth_token_file).
  std::string auth_token_path;
};

// Checks what can be checked without reading a file: a certificate without its key (or the
// reverse), and TLS settings without --tls_ca. INVALID_ARGUMENT naming the flags, every problem
// at once.
absl::Status ValidateChannelOptions(const ChannelOptions& options);

// The token of a token file: its first line that is not blank and does not start with '#', with
// surrounding whitespace (a CR included) trimmed. INVALID_ARGUMENT when there is none, or when it
// could not be an HTTP/2 header value (whitespace or a control character inside). The message
// never quotes the token.
absl::StatusOr<std::string> ParseAuthToken(absl::string_view contents);

// What a client needs to open channels and make calls, read once from ChannelOptions.
// Default-constructed: plaintext, no token. Copyable and immutable; thread-safe.
class ClientSecurity {
 public:
  ClientSecurity();

  // ValidateChannelOptions, then reads every file. INVALID_ARGUMENT naming the flag and the file
  // for a file that cannot be read, holds no PEM block of the right kind, or holds no token.
  static absl::StatusOr<ClientSecurity> Load(const ChannelOptions& options);

  // A channel to `target` with these credentials; `args` are the caller's channel arguments (the
  // server name override, if any, is added to them).
  std::shared_ptr<grpc::Channel> NewChannel(const std::string& target,
                                            grpc::ChannelArguments args = {}) const;

  // Adds the token's metadata to a call's context (nothing without a token). Call once per call or
  // stream, before it starts.
  void PrepareContext(grpc::ClientContext* context) const;

  bool tls() const { return tls_; }
  bool has_token() const { return !authorization_.empty(); }

 private:
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  bool tls_ = false;
  std::string server_name_;    // empty: the target's host
  std::string authorization_;  // "Bearer <token>", or empty
};

}  // namespace ternserve

#endif  // TERNSERVE_CLIENT_CHANNEL_H_
