// ServerMain: the main() of the serving binaries. `ternserve` passes TernaryEngineFactory() and
// links no LibTorch; `ternserve-torch` passes TernaryAndTorchEngineFactory() (same flags, plus a
// working --engine=torch). `program` names the binary in messages, --help and --version.
//
// Exit codes: 0 clean shutdown, 1 start-up failure (bundle, engine, profile, port or metrics
// port), 2 bad flags (every problem is reported, each naming its flag).
#ifndef TERNSERVE_SERVER_SERVER_MAIN_H_
#define TERNSERVE_SERVER_SERVER_MAIN_H_

#include <string>

#include "server/engine_factory.h"

namespace ternserve {

// `serves_metrics` false (ternserve-torch): --metrics_port defaults to -1 and refuses any other
// value, with the reason (see server_main.cc).
int ServerMain(int argc, char** argv, const EngineFactory& engines, const std::string& program,
               bool serves_metrics = true);

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_SERVER_MAIN_H_
