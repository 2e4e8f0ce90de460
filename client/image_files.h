// Reading the image files ternserve-cli sends: whole files as bytes (PNG/PGM go to the server
// encoded, and the server decodes them). Stateless; thread-safe.
#ifndef TERNSERVE_CLIENT_IMAGE_FILES_H_
#define TERNSERVE_CLIENT_IMAGE_FILES_H_

#include <string>

#include "absl/status/statusor.h"

namespace ternserve {

// NOT_FOUND if the file cannot be opened; INVALID_ARGUMENT if it is larger than `max_bytes`.
absl::StatusOr<std::string> ReadFileBytes(const std::string& path, size_t max_bytes = 16u << 20);

}  // namespace ternserve

#endif  // TERNSERVE_CLIENT_IMAGE_FILES_H_
