// The engine factory of `ternserve-torch`: the ternary engine and the LibTorch fp32 reference
// engine (models/torch_engine.h). Only that binary (and tests of the reference engine) link it,
// and with it LibTorch. See engine_factory.h.
#ifndef TERNSERVE_SERVER_TORCH_ENGINE_FACTORY_H_
#define TERNSERVE_SERVER_TORCH_ENGINE_FACTORY_H_

#include "server/engine_factory.h"

namespace ternserve {

const EngineFactory& TernaryAndTorchEngineFactory();

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_TORCH_ENGINE_FACTORY_H_
