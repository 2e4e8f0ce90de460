// QueuedBidiReactor: the server side of a bidirectional stream whose requests are answered out of
// order, possibly by other threads, possibly long after they were read.
//
// gRPC allows one outstanding read and one outstanding write per stream. The reactor keeps one
// read posted at all times (it hands each request to OnRequest, then reads the next) and queues the
// answers, writing them one at a time. The call finishes once the client has half-closed (or the
// call is cancelled), every request counted with BeginRequest has been answered, and every answer
// is written. Deletes itself in OnDone.
//
// Used by the real ClassifyStream (server/classifier_service.cc) and by the bare echo that the
// server's overhead is measured against (bench/echo_server.cc), so both pay the same stream
// bookkeeping. Header-only: the echo links no server library.
//
// Thread-safe: gRPC reactions and Answer (from any thread) may run concurrently.
#ifndef TERNSERVE_SERVER_QUEUED_BIDI_REACTOR_H_
#define TERNSERVE_SERVER_QUEUED_BIDI_REACTOR_H_

#include <grpcpp/support/server_callback.h>

#include <deque>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace ternserve {

template <typename Request, typename Response>
class QueuedBidiReactor : public grpc::ServerBidiReactor<Request, Response> {
 public:
  QueuedBidiReactor(const QueuedBidiReactor&) = delete;
  QueuedBidiReactor& operator=(const QueuedBidiReactor&) = delete;

  void OnReadDone(bool ok) override {
    if (!ok) {  // half-close, cancellation or a broken stream: no more requests
      {
        absl::MutexLock lock(&mu_);
        reads_done_ = true;
      }
      Pump();
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      ++pending_;
    }
    // request_ is free until the next StartRead: OnRequest may keep its contents (Swap).
    OnRequest(&request_);
    this->StartRead(&request_);
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

  void OnDone() override { delete this; }

 protected:
  // Derived constructors call StartReading() last, once they are ready for OnRequest.
  QueuedBidiReactor() = default;
  ~QueuedBidiReactor() override = default;

  void StartReading() { this->StartRead(&request_); }

  // One request read from the stream. Must lead to exactly one Answer, now or later, from any
  // thread. It may take the request's contents (e.g. Swap them into a message of its own); the
  // reactor reads the next request into it afterwards.
  virtual void OnRequest(Request* request) = 0;

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
  // Starts the next write, or finishes the call when nothing is left. gRPC calls are made without
  // mu_ held: a reaction may run inline and take it.
  void Pump() {
    enum { kNothing, kWrite, kFinish } action = kNothing;
    const Response* next = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (writing_ || finished_) return;
      if (!writes_.empty()) {
        writing_ = true;
        next = &writes_.front();  // stable: deque push_back keeps references
        action = kWrite;
      } else if (reads_done_ && pending_ == 0) {
        finished_ = true;
        action = kFinish;
      }
    }
    if (action == kWrite) this->StartWrite(next);
    if (action == kFinish) this->Finish(grpc::Status::OK);
  }

  // Used by the read chain only (one read at a time).
  Request request_;

  absl::Mutex mu_;
  std::deque<Response> writes_ ABSL_GUARDED_BY(mu_);  // front is being written if writing_
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
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
