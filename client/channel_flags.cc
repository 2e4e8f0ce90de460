// The client channel flags. See channel_flags.h.
#include "client/channel_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, tls_ca, "",
          "PEM root certificates that verify the server. Setting it turns TLS on; empty = "
          "plaintext.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate chain, for a server that requires mutual TLS (with --tls_key and "
          "--tls_ca).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name to check in the server's certificate instead of the --server host (e.g. when "
          "connecting by IP address). Needs --tls_ca.");
ABSL_FLAG(std::string, auth_token_file, "",
          "File whose first line that is not blank or a '#' comment is a token, sent on every call "
          "as 'authorization: Bearer <token>' (never printed).");

namespace ternserve {

const std::vector<std::string>& ChannelFlagNames() {
  static const auto* names = new std::vector<std::string>{"tls_ca", "tls_cert", "tls_key",
                                                          "tls_server_name", "auth_token_file"};
  return *names;
}

ChannelOptions ChannelOptionsFromFlags() {
  ChannelOptions options;
  options.tls_ca_path = absl::GetFlag(FLAGS_tls_ca);
  options.tls_cert_path = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key_path = absl::GetFlag(FLAGS_tls_key);
  options.tls_server_name = absl::GetFlag(FLAGS_tls_server_name);
  options.auth_token_path = absl::GetFlag(FLAGS_auth_token_file);
  return options;
}

}  // namespace ternserve
