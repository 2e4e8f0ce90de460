// Fuzz target: the Open Inference Protocol request decoder. The bytes are a ModelInferRequest on
// the wire (the unparsable are dropped, as gRPC drops them); ParseModelInferRequest then checks it
// against a 10-class model, as the ModelInfer handlers do.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "google/protobuf/stubs/logging.h"
#include "inference/grpc_service.pb.h"
#include "server/oip_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // protobuf logs every string field that is not UTF-8; a fuzzer makes millions of them.
  static const bool quiet = (google::protobuf::SetLogHandler(nullptr), true);
  (void)quiet;
  inference::ModelInferRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return -1;
  static const ternserve::OipModel* const model = [] {
    auto* m = new ternserve::OipModel();
    m->name = "fmnist";
    for (int c = 0; c < 10; ++c) m->labels.push_back("class" + std::to_string(c));
    m->max_images = 4;
    return m;
  }();
  const ternserve::ValidationLimits limits;
  const absl::Time arrival = absl::FromUnixSeconds(1000);
  (void)ternserve::ParseModelInferRequest(request, *model, limits, arrival, absl::InfiniteFuture());
  return 0;
}
