// RequestSubmitter. See request_submitter.h.
#include "server/request_submitter.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>

#include "server/raw_rpc.h"

namespace ternserve {
namespace {

// What the metrics record of a request of several images: it ran if any image ran, it met its
// deadline if every image did; the sub-net and the queue time are the last image's to start.
CompletedRequest Summarize(const std::vector<ImageResult>& results, const absl::Status& answer,
                           absl::Duration request_time, double min_accuracy) {
  CompletedRequest record;
  record.code = answer.code();
  record.min_accuracy = min_accuracy;
  record.deadline_met = !results.empty();
  record.request_time = request_time;
  for (const ImageResult& image : results) {
    const TaskOutcome& outcome = image.outcome;
    record.deadline_met = record.deadline_met && outcome.deadline_met;
    record.refused_for_floor = record.refused_for_floor || outcome.refused_for_floor;
    if (outcome.batch_size == 0) continue;
    record.ran = true;
    if (outcome.queue_time >= record.queue_time) {
      record.queue_time = outcome.queue_time;
      record.subnet_id = outcome.subnet_id;
      record.served_accuracy = -1;
      if (image.model != nullptr) {
        for (const SubnetMeta& meta : image.model->subnets) {
          if (meta.id == outcome.subnet_id) record.served_accuracy = meta.test_accuracy;
        }
      }
    }
  }
  return record;
}

}  // namespace

RequestSubmitter::RequestSubmitter(Dispatcher* dispatcher, Clock* clock, ServerMetrics* metrics,
                                   InferenceStatistics* statistics, const TokenAuthenticator* auth)
    : dispatcher_(dispatcher),
      clock_(clock),
      metrics_(metrics),
      statistics_(statistics),
      auth_(auth) {}

absl::Status RequestSubmitter::Admit(const grpc::CallbackServerContext& context) const {
  absl::Status status;
  if (!admitting_.load(std::memory_order_acquire)) {
    status = absl::UnavailableError("the server is shutting down");
  } else if (auth_ != nullptr) {
    status = auth_->Check(context);
  }
  if (!status.ok()) {
    OnReceived();
    OnInvalid(status);
  }
  return status;
}

absl::Status RequestSubmitter::ParseReceived(const grpc::ByteBuffer& raw,
                                             google::protobuf::MessageLite* request) const {
  absl::Status parsed = ParseRawMessage(raw, request);
  if (!parsed.ok()) {
    OnReceived();
    OnInvalid(parsed);
  }
  return parsed;
}

void RequestSubmitter::OnReceived() const {
  if (metrics_ != nullptr) metrics_->OnReceived();
}

void RequestSubmitter::OnInvalid(const absl::Status& status) const {
  if (metrics_ != nullptr) metrics_->OnInvalid(status.code());
}

void RequestSubmitter::Submit(absl::Time arrival, absl::Time deadline, double min_accuracy,
                              absl::Span<const absl::Span<const float>> images,
                              DoneCallback on_done, CancelFlag cancelled) const {
  const int n = static_cast<int>(images.size());
  // Images the dispatcher took. Raised before each Enqueue and lowered on a refusal, so it is final
  // before the last image can finish (a refused image is finished only after its Enqueue).
  auto accepted = std::make_shared<std::atomic<int>>(0);
  auto call = std::make_shared<ClassifyCall>(
      n,
      [this, arrival, min_accuracy, accepted,
       on_done = std::move(on_done)](std::vector<ImageResult> results) mutable {
        auto record = [this, arrival, min_accuracy, accepted,
                       &results](const absl::Status& answer) {
          const absl::Time now = clock_->Now();
          if (metrics_ != nullptr) {
            if (accepted->load(std::memory_order_relaxed) == 0) {
              // Enqueue answers OUT_OF_RANGE and DEADLINE_EXCEEDED for accuracy floors only.
              const bool for_floor =
                  min_accuracy > 0 && (answer.code() == absl::StatusCode::kOutOfRange ||
                                       answer.code() == absl::StatusCode::kDeadlineExceeded);
              metrics_->OnNotQueued(answer.code(), for_floor);
            } else {
              metrics_->OnCompleted(Summarize(results, answer, now - arrival, min_accuracy));
            }
          }
          if (statistics_ != nullptr) {
            statistics_->OnAnswered(results, answer.ok(), now - arrival, absl::Now());
          }
        };
        on_done(results, record);
      },
      std::move(cancelled));
  for (int i = 0; i < n; ++i) {
    accepted->fetch_add(1, std::memory_order_relaxed);
    std::unique_ptr<Task> task =
        std::make_unique<ClassifyTask>(arrival, deadline, images[i], call, i, min_accuracy);
    const absl::Status enqueued = dispatcher_->Enqueue(&task);
    if (enqueued.ok()) continue;
    accepted->fetch_sub(1, std::memory_order_relaxed);
    for (int refused = i; refused < n; ++refused) {
      ImageResult result;
      result.outcome.status = enqueued;
      call->Finish(refused, std::move(result));
    }
    return;
  }
}

}  // namespace ternserve
