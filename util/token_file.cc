// The bearer-token file format. See token_file.h.
#include "util/token_file.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace ternserve {

absl::StatusOr<std::vector<std::string>> ParseTokenFile(absl::string_view contents) {
  std::vector<std::string> tokens;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    for (const char c : line) {
      if (c < 0x21 || c > 0x7e) {
        return absl::InvalidArgumentError(
            "a token holds whitespace or a character that is not visible ASCII (one token per "
            "line)");
      }
    }
    tokens.emplace_back(line);
  }
  if (tokens.empty()) {
    return absl::InvalidArgumentError(
        "holds no token (every line is blank or a '#' comment; one token per line)");
  }
  return tokens;
}

}  // namespace ternserve
