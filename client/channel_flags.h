// The flags of client/channel.h, defined once for ternserve-cli and ternserve-loadgen: --tls_ca,
// --tls_cert, --tls_key, --tls_server_name and --auth_token_file. Their help text lives here.
#ifndef TERNSERVE_CLIENT_CHANNEL_FLAGS_H_
#define TERNSERVE_CLIENT_CHANNEL_FLAGS_H_

#include <string>
#include <vector>

#include "client/channel.h"

namespace ternserve {

// The flags' names, for a tool that lists the flags each subcommand accepts (ternserve-cli).
const std::vector<std::string>& ChannelFlagNames();

// The flags' values; ClientSecurity::Load validates and reads them.
ChannelOptions ChannelOptionsFromFlags();

}  // namespace ternserve

#endif  // TERNSERVE_CLIENT_CHANNEL_FLAGS_H_
