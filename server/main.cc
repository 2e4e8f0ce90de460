// ternserve: the serving daemon, on the ternary kernels only (no LibTorch). See server_main.h.
#include "server/engine_factory.h"
#include "server/server_main.h"

int main(int argc, char** argv) {
  return ternserve::ServerMain(argc, argv, ternserve::TernaryEngineFactory(), "ternserve");
}
