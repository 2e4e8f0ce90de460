// TokenAuthenticator: bearer-token authentication of RPCs (--auth_token_file).
//
// The file holds one token per line (util/token_file.h: blank lines and '#' comments skipped,
// whitespace trimmed). A call is authenticated when its metadata
// carries `authorization: Bearer <token>` for any token of the file, so a rotation can list the
// old and the new token for a while. Reload() re-reads the file (on SIGHUP); a file that cannot be
// read or holds no token leaves the tokens in use unchanged. Tokens never appear in a status or a
// log line: messages name the file and the number of tokens only.
//
// Thread-safe: Check runs on every RPC, concurrently with Reload.
#ifndef TERNSERVE_SERVER_TOKEN_AUTH_H_
#define TERNSERVE_SERVER_TOKEN_AUTH_H_

#include <grpcpp/server_context.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace ternserve {

class TokenAuthenticator {
 public:
  // Reads `path`; FAILED_PRECONDITION naming it if it cannot be read, INVALID_ARGUMENT if it holds
  // no token.
  static absl::StatusOr<std::unique_ptr<TokenAuthenticator>> Load(const std::string& path);

  // Re-reads the file: the number of tokens now in use, or why the old ones are kept.
  absl::StatusOr<int> Reload();

  // OK when `authorization` (the header's value) is "Bearer <token>" for a known token, else
  // UNAUTHENTICATED saying what was missing or wrong (never the token).
  absl::Status CheckHeader(absl::string_view authorization, bool present) const;
  // CheckHeader on the call's `authorization` metadata.
  absl::Status Check(const grpc::CallbackServerContext& context) const;

  const std::string& path() const { return path_; }

 private:
  TokenAuthenticator(std::string path, std::vector<std::string> tokens);

  const std::string path_;
  mutable absl::Mutex mu_;
  std::vector<std::string> tokens_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_TOKEN_AUTH_H_
