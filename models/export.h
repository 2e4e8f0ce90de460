// Writes a trained SuperNet and a chosen set of its sub-nets (each with its own calibrated BN,
// SubnetNorm) as a bundle: ternary codes + per-channel scales (or fp32 weights for quantizer
// "none"), the classifier bias, and every sub-net's folded BN.
#ifndef TERNSERVE_MODELS_EXPORT_H_
#define TERNSERVE_MODELS_EXPORT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "models/bundle.h"
#include "models/supernet.h"

namespace ternserve {

struct ExportSubnet {
  SubnetMeta meta;  // id, name, config and accuracies; macs, params and sparsity are filled in by
                    // the export
  BnStats stats;
};

// `metadata` supplies name, labels, recipe and input normalization; arch, quantizer and the sub-net
// list come from `net` and `subnets`. Each sub-net's u8 activation scales are calibrated on
// `calib_images` ([N, 1, 28, 28] training pixels). On success `metadata` holds what was written.
absl::Status WriteBundle(Supernet& net, std::vector<ExportSubnet>& subnets,
                         BundleMetadata& metadata, const torch::Tensor& calib_images,
                         const std::string& path);

// Rewrites the bundle at `in` to `out` with every sub-net's activation scales (re)calibrated on
// `calib_images`; weights and everything else are copied unchanged.
absl::Status RecalibrateBundle(const std::string& in, const torch::Tensor& calib_images,
                               const std::string& out);

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_EXPORT_H_
