// A classification request as the scheduler sees it: an input, its timing, and a completion
// callback. The scheduler never sees the model or the wire format: the server builds Requests and
// turns Completions into responses.
#ifndef TERNSERVE_SCHEDULER_REQUEST_H_
#define TERNSERVE_SCHEDULER_REQUEST_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace ternserve {

// Floats in one request's image (1 x 28 x 28). The scheduler checks only this size; the server
// validates values.
inline constexpr int kRequestImageFloats = 28 * 28;

// What happened to a request. Filled in by the dispatcher.
struct Completion {
  absl::Status status;        // OK, or why the request was not served
  std::vector<float> logits;  // num_classes values when status is OK
  int subnet_id = -1;
  int batch_size = 0;
  absl::Duration queue_time;    // arrival -> batch start
  absl::Duration compute_time;  // the batch's run time
  bool deadline_met = false;    // finished at or before the deadline
};

struct Request {
  absl::Time arrival;        // taken on the server when the request is received
  absl::Time deadline;       // arrival + SLO, or an earlier client deadline
  std::vector<float> image;  // 1 x 28 x 28, pixel values in [0, 1]
  // Called exactly once, from a dispatcher worker thread (or from Enqueue's caller if Enqueue
  // fails: then it is NOT called and the caller still owns the request). Must not block for long.
  std::function<void(Completion)> on_done;
};

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_REQUEST_H_
