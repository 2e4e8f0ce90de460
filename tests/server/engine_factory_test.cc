// Tests for server/engine_factory.cc and the engine flags (server_options.cc): every --engine name
// parses, and what `ternserve`'s factory refuses it refuses with a message that says how to get
// it. The default build has no CUDA, so there --engine=cuda must fail with exactly the rebuild
// hint; in a CUDA build (TERNSERVE_HAVE_CUDA on this test too) it is supported.
#include "server/engine_factory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/server_options.h"
#include "tests/testing/synthetic_bundle.h"

namespace ternserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kNoCuda[] =
    "--engine=cuda: this binary was built without CUDA (rebuild with make build-cuda / "
    "-DTERNSERVE_CUDA=ON)";

TEST(EngineFactoryTest, ParsesEveryEngineNameAndNamesThemBack) {
  for (EngineKind kind : {EngineKind::kTernary, EngineKind::kTorch, EngineKind::kCuda}) {
    absl::StatusOr<EngineKind> parsed = ParseEngineKind(EngineKindName(kind));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, kind);
  }
  absl::StatusOr<EngineKind> unknown = ParseEngineKind("onnx");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("ternary, torch, cuda"));
}

TEST(EngineFactoryTest, TernserveMakesTernaryAndRefusesTorch) {
  EXPECT_TRUE(TernaryEngineFactory().Supports(EngineKind::kTernary).ok());
  const absl::Status torch = TernaryEngineFactory().Supports(EngineKind::kTorch);
  EXPECT_EQ(torch.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(torch.message()), HasSubstr("ternserve-torch"));
}

#if !TERNSERVE_HAVE_CUDA
TEST(EngineFactoryTest, CudaWithoutCudaBuildSaysHowToGetIt) {
  const absl::Status supported = TernaryEngineFactory().Supports(EngineKind::kCuda);
  EXPECT_EQ(supported.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(supported.message(), kNoCuda);

  const auto bundle = testing::CalibratedSyntheticBundle();
  EngineSpec spec;
  spec.kind = EngineKind::kCuda;
  absl::StatusOr<std::unique_ptr<Engine>> engine = TernaryEngineFactory().Create(*bundle, spec);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(engine.status().message(), kNoCuda);

  // The flag parser reports it as ternserve prints it (one line per error, then exit 2).
  ServerOptions options;
  std::vector<std::string> errors;
  ParseEngineFlags("cuda", "", TernaryEngineFactory(), &options, &errors);
  EXPECT_THAT(errors, ElementsAre(kNoCuda));
}
#else
TEST(EngineFactoryTest, CudaBuildSupportsCuda) {
  EXPECT_TRUE(TernaryEngineFactory().Supports(EngineKind::kCuda).ok());
  ServerOptions options;
  std::vector<std::string> errors;
  ParseEngineFlags("cuda", "", TernaryEngineFactory(), &options, &errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(options.engine, EngineKind::kCuda);
}
#endif

// --isa picks a CPU kernel: it applies to the ternary engine only, cuda included.
TEST(EngineFactoryTest, IsaAppliesOnlyToTernary) {
  ServerOptions options;
  options.engine = EngineKind::kCuda;
  options.kernel = kernels::FindTernaryConvKernel("scalar");
  ASSERT_NE(options.kernel, nullptr);
  EXPECT_THAT(ValidateServerOptions(options),
              ::testing::Contains("--isa applies only to --engine=ternary"));
}

}  // namespace
}  // namespace ternserve
