// Client text in status messages. See client_text.h.
#include "server/client_text.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace ternserve {

std::string ClientText(absl::string_view text) {
  if (text.size() <= kMaxClientTextBytes) return absl::CHexEscape(text);
  return absl::StrCat(absl::CHexEscape(text.substr(0, kMaxClientTextBytes)), "...(", text.size(),
                      " bytes)");
}

}  // namespace ternserve
