// Whole text files: read in one piece (a profile, a trace, a speed file, a schedule log), written
// so that readers see them whole or not at all (a port file, a profile, a schedule log), and the
// line-oriented format the trace and speed files share.
#ifndef TERNSERVE_UTIL_TEXT_FILE_H_
#define TERNSERVE_UTIL_TEXT_FILE_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ternserve {

// The whole of `path`. NOT_FOUND "PATH: cannot open <what>", DATA_LOSS "PATH: read error".
absl::StatusOr<std::string> ReadTextFile(const std::string& path, absl::string_view what);

// Writes `content` to PATH.tmp and renames it over PATH. UNAVAILABLE "cannot write PATH.tmp" /
// "cannot rename PATH.tmp to PATH" on failure.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view content);

// Calls `record` with the fields of every line of `text` that has any: a '#' starts a comment,
// fields are separated by spaces, tabs or commas. `where` is "SOURCE:LINE: ", to begin an error
// with. The first error `record` returns is returned.
absl::Status ForEachRecord(
    absl::string_view text, absl::string_view source,
    const std::function<absl::Status(const std::vector<absl::string_view>& fields,
                                     const std::string& where)>& record);

}  // namespace ternserve

#endif  // TERNSERVE_UTIL_TEXT_FILE_H_
