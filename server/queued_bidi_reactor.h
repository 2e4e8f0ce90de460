// QueuedBidiReactor: the server side of a bidirectional stream whose requests are answered out of
// order, possibly by other threads, possibly long after they were read.
//
// gRPC allows one outstanding read and one outstanding write per stream. The reactor keeps one
// read posted while fewer than kMaxOutstanding requests are unanswered (it hands each request to
// OnRequest, then reads the next) and queues the answers, writing them one at a time. The call
// finishes once the client has half-closed (or the call is cancelled), every request counted with
// BeginRequest has been answered, and every answer is written. Deletes itself in OnDone.
//
// When the client cancels the stream (or its gRPC deadline passes), cancelled() is set and
// OnCancelled runs, so that the stream's queued requests can be taken out of the queue; they are
// still answered (Answer), but nothing more is written.
//
// Used by the real ClassifyStream (server/classifier_service.cc) and by the bare echo that the
// server's overhead is measured against (bench/echo_server.cc), so both pay the same stream
// bookkeeping. Header-only: the echo links no server library.
//
// Thread-safe: gRPC reactions and Answer (from any thread) may run concurrently.
#ifndef TERNSERVE_SERVER_QUEUED_BIDI_REACTOR_H_
#define TERNSERVE_SERVER_QUEUED_BIDI_REACTOR_H_

#include <grpcpp/support/server_callback.h>

#include <atomic>
#include <deque>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace ternserve {

template <typename Request, typename Response>
class QueuedBidiReactor : public grpc::ServerBidiReactor<Request, Response> {
 public:
  QueuedBidiReactor(const QueuedBidiReactor&) = delete;
  QueuedBidiReactor& operator=(const QueuedBidiReactor&) = delete;

  // At most this many requests per stream are read but not yet answered and written; then the
  // stream stops reading until answers go out, so HTTP/2 flow control holds the client back and
  // a client that sends faster than it reads cannot grow the server's memory without bound.
  static constexpr int kMaxOutstanding = 1024;

  void OnReadDone(bool ok) override {
    if (!ok) {  // half-close, cancellation or a broken stream: no more requests
      {
        absl::MutexLock lock(&mu_);
        reading_ = false;
        reads_done_ = true;
      }
      Pump();
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      ++pending_;
    }
    // request_ is the read chain's until reading_ is cleared: OnRequest may keep its contents
    // (Swap); Pump then posts the next read into it, if there is room.
    OnRequest(&request_);
    {
      absl::MutexLock lock(&mu_);
      reading_ = false;
    }
    Pump();
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      writes_.pop_front();
      // A failed write means the stream is gone; later answers have nowhere to go.
      if (!ok) {
        broken_ = true;
        writes_.clear();
      }
    }
    Pump();
  }

  void OnCancel() override {
    cancelled_->store(true, std::memory_order_release);
    OnCancelled();
    Pump();  // a stream not reading (at kMaxOutstanding) finishes here once answered
  }

  void OnDone() override { delete this; }

 protected:
  // Derived constructors call StartReading() last, once they are ready for OnRequest.
  QueuedBidiReactor() = default;
  ~QueuedBidiReactor() override = default;

  void StartReading() {
    {
      absl::MutexLock lock(&mu_);
      reading_ = true;
    }
    this->StartRead(&request_);
  }

  // One request read from the stream. Must lead to exactly one Answer, now or later, from any
  // thread. It may take the request's contents (e.g. Swap them into a message of its own); the
  // reactor reads the next request into it afterwards.
  virtual void OnRequest(Request* request) = 0;

  // The client gave up on the stream (cancelled() is set). Default: nothing.
  virtual void OnCancelled() {}

  // Set once the client has cancelled the stream; shared with whatever the stream's requests
  // queue.
  std::shared_ptr<const std::atomic<bool>> cancelled() const { return cancelled_; }

  // Queues the answer to one request handed to OnRequest.
  void Answer(Response response) {
    {
      absl::MutexLock lock(&mu_);
      --pending_;
      if (!broken_) writes_.push_back(std::move(response));
    }
    Pump();
  }

 private:
  // Starts the next write and the next read (when there is room), or finishes the call when
  // nothing is left. gRPC calls are made without mu_ held: a reaction may run inline and take it.
  void Pump() {
    const Response* write = nullptr;
    bool read = false;
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      const bool cancelled = cancelled_->load(std::memory_order_acquire);
      if (!writing_ && !writes_.empty()) {
        writing_ = true;
        write = &writes_.front();  // stable: deque push_back keeps references
      }
      if (!reading_ && !reads_done_ && !cancelled &&
          pending_ + static_cast<int>(writes_.size()) < kMaxOutstanding) {
        reading_ = true;
        read = true;
      }
      // Done: no more requests (half-closed, or cancelled with no read posted), all answered and
      // written.
      if (!writing_ && writes_.empty() && pending_ == 0 && !reading_ &&
          (reads_done_ || cancelled)) {
        finished_ = true;
        finish = true;
      }
    }
    if (write != nullptr) this->StartWrite(write);
    if (read) this->StartRead(&request_);
    if (finish) this->Finish(grpc::Status::OK);
  }

  // Used by the read chain only (one read at a time).
  Request request_;
  const std::shared_ptr<std::atomic<bool>> cancelled_ = std::make_shared<std::atomic<bool>>(false);

  absl::Mutex mu_;
  std::deque<Response> writes_ ABSL_GUARDED_BY(mu_);  // front is being written if writing_
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;  // a read is posted, or OnRequest holds request_
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  int pending_ ABSL_GUARDED_BY(mu_) = 0;  // read, not yet answered
};

// A stream refused when it opens (e.g. UNAUTHENTICATED): finishes at once with `status`, reads
// nothing. Deletes itself in OnDone.
template <typename Request, typename Response>
class RefusedBidiReactor final : public grpc::ServerBidiReactor<Request, Response> {
 public:
  explicit RefusedBidiReactor(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_QUEUED_BIDI_REACTOR_H_
