// ternserve-torch: ternserve plus the LibTorch fp32 reference engine (--engine=torch), for parity
// checks and baselines. See server_main.h.
#include "server/server_main.h"
#include "server/torch_engine_factory.h"

int main(int argc, char** argv) {
  return ternserve::ServerMain(argc, argv, ternserve::TernaryAndTorchEngineFactory(),
                               "ternserve-torch", /*serves_metrics=*/false);
}
