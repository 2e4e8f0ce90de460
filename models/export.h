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
// list come from `net` and `subnets`. On success `metadata` holds what was written.
absl::Status WriteBundle(Supernet& net, std::vector<ExportSubnet>& subnets,
                         BundleMetadata& metadata, const std::string& path);

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_EXPORT_H_
