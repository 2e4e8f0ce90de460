// The e2e suite's accuracy check: each contestant's top-1 agreement with the fp32 network on real
// test images, and the bound below which the run fails. A fast contestant that computes the wrong
// thing (a broken baseline, or a broken engine) must not pass for a fast one.
//
// Why agreement with fp32 and not accuracy: the three contestants run the same weights, so they
// should pick the same class on almost every image; fp32 is the one without quantized activations.
// The bound leaves room for the activation rounding of ternary and int8 on the few images whose top
// two logits are close. Pure functions; no LibTorch.
#ifndef TERNSERVE_BENCH_AGREEMENT_H_
#define TERNSERVE_BENCH_AGREEMENT_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "bench/subnet_runner.h"

namespace ternserve::bench {

// The images the check runs: the first kAgreementImages of the Fashion-MNIST test set.
inline constexpr int kAgreementImages = 2000;
// A contestant whose top-1 class agrees with torch_fp32's on fewer than this fraction of those
// images fails the run (exit 1). Checked only on real images: on the synthetic fallback (uniform
// noise, which the nets were not trained on) the agreement is reported, not checked.
inline constexpr double kMinTop1Agreement = 0.99;

// The first `count` Fashion-MNIST test images (count x 28 x 28 pixels in [0, 1]), *synthetic false;
// or, if Debian's dataset-fashion-mnist is missing or too small, uniform noise (seed 1) with
// *synthetic true, said on stderr: rows then say "input":"synthetic", and the agreement check is
// not applied to them.
std::vector<float> LoadAgreementImages(int count, bool* synthetic);

// The class of each row of `logits` (rows of `classes`; the first of equal maxima).
std::vector<int> Top1(const std::vector<float>& logits, int classes);

// Runs `runner` over `count` images (count x 28 x 28 pixels) in batches of at most `batch`: the
// top-1 class of each image.
absl::StatusOr<std::vector<int>> Top1OfImages(SubnetRunner& runner, absl::Span<const float> images,
                                              int count, int batch, int classes);

// The fraction of positions where `a` and `b` hold the same class (same sizes, not empty).
double Agreement(const std::vector<int>& a, const std::vector<int>& b);

// Wraps `runner` so that its logits come out rotated by one class (class c reports class c + 1's
// logit): a contestant that computes the wrong thing, for the test that the check fails
// (--testonly_perturb).
std::unique_ptr<SubnetRunner> RotateLogits(std::unique_ptr<SubnetRunner> runner, int classes);

}  // namespace ternserve::bench

#endif  // TERNSERVE_BENCH_AGREEMENT_H_
