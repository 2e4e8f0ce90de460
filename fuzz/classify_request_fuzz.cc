// Fuzz target: the ternserve.v1 request decoder. The bytes are a ClassifyRequest on the wire (the
// unparsable are dropped, as gRPC drops them); the validator then checks it and decodes its PNG or
// PGM image, as the Classify handlers do.
#include <cstddef>
#include <cstdint>

#include "absl/time/time.h"
#include "google/protobuf/stubs/logging.h"
#include "server/request_validation.h"
#include "ternserve/v1/classifier.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // protobuf logs every string field that is not UTF-8; a fuzzer makes millions of them.
  static const bool quiet = (google::protobuf::SetLogHandler(nullptr), true);
  (void)quiet;
  ternserve::v1::ClassifyRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return -1;
  const ternserve::ValidationLimits limits;
  const absl::Time arrival = absl::FromUnixSeconds(1000);
  (void)ternserve::EchoedRequestId(request, limits);
  (void)ternserve::ValidateClassifyRequest(request, limits, arrival, absl::InfiniteFuture());
  (void)ternserve::ValidateClassifyRequest(request, limits, arrival, arrival + absl::Seconds(1));
  return 0;
}
