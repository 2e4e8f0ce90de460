#include "bench/ternary_conv_runner.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace ternserve::bench {

using kernels::ConvEpilogue;
using kernels::ConvInput;
using kernels::ConvShape;

void RunTernaryConvRows(kernels::TernaryConvFn conv, const ConvShape& shape, const ConvInput& input,
                        const kernels::TernaryConvWeights& weights, const ConvEpilogue& epilogue,
                        int64_t row_begin, int64_t row_end) {
  ConvShape rows = shape;
  rows.row_begin = row_begin;
  rows.row_end = row_end;
  conv(rows, input, weights, epilogue);
}

TernaryConvLayer::TernaryConvLayer(const kernels::ConvCase& c, int batch,
                                   const kernels::TernaryConvKernel& kernel, uint32_t seed)
    : kernel_(kernel),
      problem_(kernels::MakeConvProblem(c, batch, seed)),
      epilogue_(problem_.Epilogue(&out_u8_, &out_f32_)),
      rows_(problem_.shape.Rows(c.kernel)) {}

void TernaryConvLayer::Run(WorkerPair* pair) {
  const ConvInput input = problem_.Input();
  if (pair == nullptr) {
    RunTernaryConvRows(kernel_.conv, problem_.shape, input, problem_.weights, epilogue_, 0, rows_);
    return;
  }
  const int64_t half = rows_ / 2;
  pair->Run([&](int part) {
    RunTernaryConvRows(kernel_.conv, problem_.shape, input, problem_.weights, epilogue_,
                       part == 0 ? 0 : half, part == 0 ? half : rows_);
  });
}

absl::Status TernaryConvLayer::CheckAgainstScalar(WorkerPair* pair) {
  std::vector<uint8_t> want_u8;
  std::vector<float> want_f32;
  kernels::TernaryConvScalar(problem_.shape, problem_.Input(), problem_.weights,
                             problem_.Epilogue(&want_u8, &want_f32));
  epilogue_ = problem_.Epilogue(&out_u8_, &out_f32_);  // poisons the output again
  Run(pair);
  const size_t elements = static_cast<size_t>(problem_.OutElements());
  for (size_t e = 0; e < elements; ++e) {
    const bool same = problem_.spec.u8_output
                          ? out_u8_[e] == want_u8[e]
                          : std::memcmp(&out_f32_[e], &want_f32[e], sizeof(float)) == 0;
    if (!same) {
      return absl::InternalError(absl::StrCat(kernel_.name, " differs from scalar on ",
                                              problem_.spec.Describe(), " at output element ", e));
    }
  }
  return absl::OkStatus();
}

}  // namespace ternserve::bench
