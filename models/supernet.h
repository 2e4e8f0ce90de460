// The weight-shared SuperNet in LibTorch (docs/architecture.md "The SuperNet"): every layer's
// weights are held at their maximum shape, and forward() runs any sub-net by LayerSelect (the first
// d blocks of a stage) and WeightSlice (the leading channels of every weight). Weights pass through
// the quantizer before slicing, so a sub-net sees exactly the codes and per-channel scales the
// bundle will store.
//
// BatchNorm follows SubnetNorm: BN affine parameters are shared (sliced), but statistics are per
// sub-net. Training uses batch statistics; CalibrateBn() measures a sub-net's own statistics
// afterwards, and evaluation runs with those.
//
// Like any torch::nn::Module: not thread-safe; one forward at a time.
#ifndef TERNSERVE_MODELS_SUPERNET_H_
#define TERNSERVE_MODELS_SUPERNET_H_

#include <torch/torch.h>

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "models/arch.h"
#include "models/quantizer.h"

namespace ternserve {

// Fashion-MNIST pixel statistics (training split); the model normalizes its [0, 1] input with them.
inline constexpr float kFashionMnistMean = 0.2860f;
inline constexpr float kFashionMnistStd = 0.3530f;
inline constexpr double kBnEpsilon = 1e-5;

// One sub-net's BatchNorm statistics, by BN name, at the sub-net's sliced widths.
struct BnStats {
  std::map<std::string, torch::Tensor> mean;
  std::map<std::string, torch::Tensor> var;
};

enum class BnMode {
  kBatch,      // normalize with the batch's statistics (training)
  kCalibrate,  // like kBatch, and accumulate sum / sum of squares / count into a BnAccumulator
  kStats,      // normalize with a sub-net's BnStats (evaluation)
};

struct BnAccumulator {
  std::map<std::string, torch::Tensor> sum, sum_squares;
  std::map<std::string, double> count;
  BnStats Finish() const;
};

class SupernetImpl : public torch::nn::Module {
 public:
  // `sca_a`: SCA's sparsity controller, which sets where its codes are cut (ScaTernarize).
  SupernetImpl(const ArchConfig& arch, QuantizerKind quantizer,
               TgaScope tga_scope = TgaScope::kChannel, double sca_a = kDefaultScaA);

  // x: [N, 1, 28, 28] pixels in [0, 1]. Returns [N, num_classes] logits. `stats` is read in kStats
  // mode; `accumulator` is written in kCalibrate mode.
  torch::Tensor forward(const torch::Tensor& x, const SubnetConfig& subnet,
                        BnMode mode = BnMode::kBatch, const BnStats* stats = nullptr,
                        BnAccumulator* accumulator = nullptr);

  const ArchConfig& arch() const { return arch_; }
  QuantizerKind quantizer() const { return quantizer_; }
  TgaScope tga_scope() const { return tga_scope_; }
  double sca_a() const { return sca_a_; }
  const std::vector<LayerSpec>& layers() const { return layers_; }

  // Latent weight of a layer at maximum shape ([out, in, k, k]; fc: [classes, in]). For SCA this is
  // Theta.
  torch::Tensor& weight(const std::string& layer) { return weights_.at(layer); }
  // The weight the forward pass uses, at maximum shape (see FakeQuantize): follows train()/eval().
  torch::Tensor QuantizedWeight(const std::string& layer);
  // The layer's exported codes and per-channel scales.
  TernaryWeight Ternarize(const std::string& layer);
  // TGA's trainable per-layer thresholds (empty for other quantizers).
  std::vector<torch::Tensor> thresholds() const;
  // TGA with a scale per sign in the forward pass (TgaFakeQuantize's per_sign): measurement
  // only, since a bundle stores one scale per channel.
  void set_tga_scales_per_sign(bool per_sign) { tga_per_sign_ = per_sign; }
  // Sets every TGA threshold to its initial value for the layer's current weight
  // (TgaInitialDelta), in place: after the weights were loaded from another run.
  void ResetThresholds();
  // SCA's discretization regularizer over every layer (0 for other quantizers).
  torch::Tensor Regularizer(double a);
  torch::Tensor& bn_gamma(const std::string& bn) { return bn_gamma_.at(bn); }
  torch::Tensor& bn_beta(const std::string& bn) { return bn_beta_.at(bn); }
  torch::Tensor& fc_bias() { return fc_bias_; }

 private:
  torch::Tensor Conv(const LayerSpec& layer, const torch::Tensor& x, const SubnetConfig& subnet);
  torch::Tensor Norm(const LayerSpec& layer, const torch::Tensor& x, BnMode mode,
                     const BnStats* stats, BnAccumulator* accumulator);

  const ArchConfig arch_;
  const QuantizerKind quantizer_;
  const TgaScope tga_scope_;
  const double sca_a_;
  const std::vector<LayerSpec> layers_;
  std::set<std::pair<int, int>> projected_blocks_;  // (stage, block) with a 1x1 projection shortcut
  std::map<std::string, torch::Tensor> weights_;
  std::map<std::string, torch::Tensor> deltas_;  // TGA thresholds by layer
  std::map<std::string, torch::Tensor> bn_gamma_;
  std::map<std::string, torch::Tensor> bn_beta_;
  torch::Tensor fc_bias_;
  bool tga_per_sign_ = false;
};
TORCH_MODULE(Supernet);

// SubnetNorm: the sub-net's BN statistics over `images` ([N, 1, 28, 28] in [0, 1]), in batches.
BnStats CalibrateBn(Supernet& net, const SubnetConfig& subnet, const torch::Tensor& images,
                    int batch_size);

// Top-1 accuracy of a sub-net with its statistics on (images, labels), in batches.
double EvaluateAccuracy(Supernet& net, const SubnetConfig& subnet, const BnStats& stats,
                        const torch::Tensor& images, const torch::Tensor& labels, int batch_size);

// BN folded into y = scale * x + shift, with the sub-net's statistics.
void FoldBn(Supernet& net, const LayerSpec& layer, const SubnetConfig& subnet, const BnStats& stats,
            torch::Tensor* scale, torch::Tensor* shift);

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_SUPERNET_H_
