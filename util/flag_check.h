// PrevalidateFlags: checks a command line before absl::ParseCommandLine sees it.
//
// absl::ParseCommandLine exits 1 on an unknown flag or an unparsable value; Ternserve's tools
// promise exit status 2 for usage errors, with a message naming the flag. So each main() calls
// this first and exits 2 if it returns false. It reports (to stderr, prefixed with `program`)
// every unknown flag, and every value of a flag defined in `own_file` (a substring of the defining
// file's path, e.g. "server/main.cc") that does not parse or is missing. A boolean flag may be
// given bare (--json) or negated (--nojson). absl's usage flags (--help, --helpfull, ...) pass.
//
// In util/: it needs only absl, and every binary links it.
#ifndef TERNSERVE_UTIL_FLAG_CHECK_H_
#define TERNSERVE_UTIL_FLAG_CHECK_H_

#include <string>

namespace ternserve {

bool PrevalidateFlags(int argc, char** argv, const std::string& program,
                      const std::string& own_file);

// If argv asks for --help (or -help, -h), prints the program usage message and the flags defined
// in `own_file` with their defaults and help, and returns true (the caller exits 0; absl's own
// --help handler exits 1). Otherwise returns false.
bool PrintHelpIfAsked(int argc, char** argv, const std::string& own_file);

// Sets absl's usage configuration for a binary: --help and --helpshort list the flags defined in
// `own_file` (absl's default matches only files named after the binary), `usage_message` is the
// program's usage text, and a non-empty `version` is what --version prints.
void SetUsage(const std::string& own_file, const std::string& usage_message,
              const std::string& version = "");

}  // namespace ternserve

#endif  // TERNSERVE_UTIL_FLAG_CHECK_H_
