// The bearer-token file format shared by the server (--auth_token_file: every token is accepted)
// and the clients (--auth_token_file: the first token is sent): one token per line; blank lines and
// lines starting with '#' are skipped; surrounding whitespace (a CR included) is trimmed; a token
// is visible ASCII only (a value gRPC metadata can carry, and no spaces). Messages never quote a
// token. Pure; thread-safe.
#ifndef TERNSERVE_UTIL_TOKEN_FILE_H_
#define TERNSERVE_UTIL_TOKEN_FILE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ternserve {

// Every token of a token file's contents, in file order; INVALID_ARGUMENT if a line holds an
// invisible or non-ASCII character, or if there is no token.
absl::StatusOr<std::vector<std::string>> ParseTokenFile(absl::string_view contents);

}  // namespace ternserve

#endif  // TERNSERVE_UTIL_TOKEN_FILE_H_
