// File reading for the CLI. See image_files.h.
#include "client/image_files.h"

#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"

namespace ternserve {

absl::StatusOr<std::string> ReadFileBytes(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  const std::streamoff size = in.tellg();
  if (size < 0) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  if (static_cast<size_t>(size) > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is ", size, " bytes, more than ", max_bytes));
  }
  std::string bytes(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(bytes.data(), size))
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  return bytes;
}

}  // namespace ternserve
