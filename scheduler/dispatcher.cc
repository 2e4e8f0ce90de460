// Dispatcher: FIFO queue, fixed sub-net, W worker threads. See dispatcher.h.
#include "scheduler/dispatcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ternserve {

Dispatcher::Dispatcher(const DispatcherOptions& options, BatchProcessor* processor, Clock* clock)
    : options_(options), processor_(processor), clock_(clock) {
  const int workers = std::max(1, options_.workers);
  absl::MutexLock lock(&join_mu_);
  workers_.reserve(workers);
  for (int w = 0; w < workers; ++w) {
    workers_.emplace_back([this, w] { WorkerLoop(w); });
  }
}

Dispatcher::~Dispatcher() { Drain(); }

absl::Status Dispatcher::Enqueue(std::unique_ptr<Request>* request) {
  if (request == nullptr || *request == nullptr) {
    return absl::InvalidArgumentError("Enqueue: null request");
  }
  const Request& r = **request;
  if (r.image.size() != static_cast<size_t>(kRequestImageFloats)) {
    return absl::InvalidArgumentError(absl::StrCat("Enqueue: image has ", r.image.size(),
                                                   " floats, expected ", kRequestImageFloats));
  }
  if (!r.on_done) {
    return absl::InvalidArgumentError("Enqueue: request has no on_done callback");
  }
  absl::MutexLock lock(&mu_);
  if (draining_) {
    return absl::UnavailableError("server is shutting down");
  }
  if (queue_.size() >= static_cast<size_t>(std::max(0, options_.max_queue))) {
    return absl::ResourceExhaustedError(
        absl::StrCat("request queue is full (", options_.max_queue, " requests waiting)"));
  }
  queue_.push_back(std::move(*request));
  return absl::OkStatus();
}

void Dispatcher::Drain() {
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
  }
  absl::MutexLock lock(&join_mu_);
  for (std::thread& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
}

bool Dispatcher::WorkOrDraining() const { return !queue_.empty() || draining_; }

int Dispatcher::queue_depth() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(queue_.size());
}

void Dispatcher::WorkerLoop(int worker) {
  const size_t max_batch = static_cast<size_t>(std::max(1, options_.max_batch));
  for (;;) {
    std::vector<std::unique_ptr<Request>> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &Dispatcher::WorkOrDraining));
      // Draining still serves what is queued; a worker leaves only once the queue is empty.
      if (queue_.empty()) return;
      const size_t n = std::min(max_batch, queue_.size());
      batch.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    RunBatch(worker, std::move(batch));
  }
}

void Dispatcher::RunBatch(int worker, std::vector<std::unique_ptr<Request>> batch) {
  const int batch_size = static_cast<int>(batch.size());
  std::vector<float> images;
  images.reserve(static_cast<size_t>(batch_size) * kRequestImageFloats);
  for (const auto& request : batch) {
    images.insert(images.end(), request->image.begin(), request->image.end());
  }

  const absl::Time start = clock_->Now();
  absl::StatusOr<std::vector<float>> logits =
      processor_->ProcessBatch(worker, options_.subnet_id, images, batch_size);
  const absl::Time finish = clock_->Now();

  absl::Status status = logits.status();
  size_t num_classes = 0;
  if (status.ok()) {
    num_classes = logits->size() / static_cast<size_t>(batch_size);
    if (num_classes == 0 || logits->size() % static_cast<size_t>(batch_size) != 0) {
      status = absl::InternalError(absl::StrCat("batch processor returned ", logits->size(),
                                                " logits for a batch of ", batch_size));
    }
  }

  for (int i = 0; i < batch_size; ++i) {
    Request& request = *batch[static_cast<size_t>(i)];
    Completion completion;
    completion.status = status;
    completion.subnet_id = options_.subnet_id;
    completion.batch_size = batch_size;
    completion.queue_time = start - request.arrival;
    completion.compute_time = finish - start;
    completion.deadline_met = status.ok() && finish <= request.deadline;
    if (status.ok()) {
      const auto first = logits->begin() + static_cast<std::ptrdiff_t>(i * num_classes);
      completion.logits.assign(first, first + static_cast<std::ptrdiff_t>(num_classes));
    }
    // Move the callback out so the request (and its image) is freed whatever on_done does.
    std::function<void(Completion)> on_done = std::move(request.on_done);
    on_done(std::move(completion));
  }
}

}  // namespace ternserve
