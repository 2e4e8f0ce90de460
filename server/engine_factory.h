// EngineFactory: makes the engines a Server runs, one per worker. Which engines exist is a
// property of the binary, not of the code that serves: `ternserve` links the ternary kernels only
// (TernaryEngineFactory), plus the CUDA engine when built with -DTERNSERVE_CUDA=ON (make
// build-cuda; docs/cuda.md), and `ternserve-torch` adds the LibTorch fp32 reference engine
// (server/torch_engine_factory.h), so the serving binary links no LibTorch.
//
// Thread-safe: Create may be called from any thread; the factories are stateless.
#ifndef TERNSERVE_SERVER_ENGINE_FACTORY_H_
#define TERNSERVE_SERVER_ENGINE_FACTORY_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "models/bundle.h"
#include "models/engine.h"

namespace ternserve {

// The engines --engine names.
enum class EngineKind { kTernary, kTorch, kCuda };

// "ternary", "torch" or "cuda"; INVALID_ARGUMENT naming the valid ones otherwise. Whether this
// binary can make it is EngineFactory::Supports's answer.
absl::StatusOr<EngineKind> ParseEngineKind(absl::string_view name);
const char* EngineKindName(EngineKind kind);

// What one engine is made with.
struct EngineSpec {
  EngineKind kind = EngineKind::kTernary;
  int threads = 1;  // intra-op threads, >= 1
  // Ternary kernel variant ("scalar", "avx2", "avx512vnni"); empty: the fastest this CPU has.
  std::string isa;
};

class EngineFactory {
 public:
  virtual ~EngineFactory() = default;
  // OK if this binary can make engines of `kind`; else FAILED_PRECONDITION naming the binary
  // (or the build) that can.
  virtual absl::Status Supports(EngineKind kind) const = 0;
  // One engine over `bundle`, which must outlive it.
  virtual absl::StatusOr<std::unique_ptr<Engine>> Create(const Bundle& bundle,
                                                         const EngineSpec& spec) const = 0;
};

// The ternary engine, and the CUDA engine in a CUDA build (else Supports(kCuda) is
// FAILED_PRECONDITION: "this binary was built without CUDA ..."): what `ternserve` links. A CUDA
// engine is made on device 0, one per worker, each with its own CUDA stream.
const EngineFactory& TernaryEngineFactory();

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_ENGINE_FACTORY_H_
