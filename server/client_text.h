// How a status message quotes text that a client sent (a model or parameter name, a datatype, a
// header token): cut to kMaxClientTextBytes and C-escaped.
//
// A gRPC status message travels in the response's metadata, which clients cap (8 KiB by default):
// an error that echoed a 100 KB model name in full reached the client as RESOURCE_EXHAUSTED
// "received initial metadata size exceeds limit" instead of its own code. Escaping keeps binary
// junk out of messages and logs. Pure functions; thread-safe.
#ifndef TERNSERVE_SERVER_CLIENT_TEXT_H_
#define TERNSERVE_SERVER_CLIENT_TEXT_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace ternserve {

inline constexpr size_t kMaxClientTextBytes = 64;

// `text`, or its first 64 bytes and "...(N bytes)" when longer; non-printable bytes C-escaped.
std::string ClientText(absl::string_view text);

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_CLIENT_TEXT_H_
