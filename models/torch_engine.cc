#include "models/torch_engine.h"

#include <torch/torch.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "models/static_net.h"

namespace ternserve {
namespace {

class TorchEngine final : public Engine {
 public:
  TorchEngine(const Bundle& bundle, int threads) : bundle_(bundle), threads_(threads) {
    for (const SubnetMeta& subnet : bundle.metadata().subnets) {
      nets_.emplace(subnet.id, StaticNetFromBundle(bundle, subnet));
    }
  }

  absl::StatusOr<LogitsView> Run(int subnet_id, absl::Span<const float> images,
                                 int batch) override {
    auto it = nets_.find(subnet_id);
    if (it == nets_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown sub-net ", subnet_id, " in ", bundle_.source()));
    }
    if (batch <= 0 || images.size() != static_cast<size_t>(batch) * kImagePixels) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected ", batch, " x ", kImagePixels, " pixels, got ", images.size()));
    }
    try {
      if (threads_ > 0 && at::get_num_threads() != threads_) at::set_num_threads(threads_);
      torch::InferenceMode inference;
      const torch::Tensor x =
          torch::from_blob(const_cast<float*>(images.data()), {batch, 1, kImageSide, kImageSide});
      logits_ = it->second.Forward(x).contiguous();
      const int classes = static_cast<int>(logits_.size(1));
      return LogitsView{logits_.data_ptr<float>(), batch, classes, classes};
    } catch (const c10::Error& e) {
      return absl::InternalError(absl::StrCat("LibTorch: ", e.what_without_backtrace()));
    }
  }

  std::string name() const override { return "torch"; }

 private:
  const Bundle& bundle_;
  const int threads_;
  std::map<int, StaticNet> nets_;
  torch::Tensor logits_;  // the last batch's output, which Run's LogitsView points into
};

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> CreateTorchEngine(const Bundle& bundle,
                                                          const TorchEngineOptions& options) {
  try {
    return std::unique_ptr<Engine>(new TorchEngine(bundle, options.threads));
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("building TorchEngine for ", bundle.source(), ": ",
                                            e.what_without_backtrace()));
  }
}

}  // namespace ternserve
