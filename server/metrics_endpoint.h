// MetricsEndpoint: serves a prometheus::Registry over HTTP: GET /metrics answers the Prometheus
// text exposition format (version 0.0.4), as prometheus-cpp's TextSerializer writes it.
//
// Why not prometheus::Exposer (prometheus-cpp's pull library): it runs civetweb, whose Debian 12
// build creates its threads with a fixed 100 KB stack (CIVETWEB_THREAD_STACK_SIZE). glibc carves a
// thread's static TLS out of that stack, and what ternserve links (OpenBLAS ~60 KB, glog ~30 KB,
// LibTorch ~10 KB of TLS) leaves too little: pthread_create fails with EINVAL and the Exposer
// throws, even on a free port (civetweb/civetweb#1130, #1398). Scrapes are rare and small, so
// this endpoint is deliberately minimal: one thread with a default-sized stack, one connection at
// a time, HTTP/1.0 with Connection: close, a 5 s timeout on each read and write.
//
// Ownership: shares the registry (it is collected on every scrape). Thread-safe: the constructor
// and destructor run on the owner's thread; the serving thread only reads the registry, which
// prometheus-cpp makes thread-safe.
#ifndef TERNSERVE_SERVER_METRICS_ENDPOINT_H_
#define TERNSERVE_SERVER_METRICS_ENDPOINT_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace ternserve {

class MetricsEndpoint {
 public:
  // Listens on host:port (port 0 picks a free port) and starts serving. UNAVAILABLE if the
  // address cannot be resolved or bound (e.g. the port is in use).
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Create(
      const std::string& host, int port, std::shared_ptr<prometheus::Registry> registry);
  // Stops serving (a scrape in progress finishes first) and closes the socket.
  ~MetricsEndpoint();

  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  // The port actually listened on.
  int port() const { return port_; }

 private:
  MetricsEndpoint(int listen_fd, int port, int wake_read_fd, int wake_write_fd,
                  std::shared_ptr<prometheus::Registry> registry);
  void ServeLoop();
  void HandleConnection(int fd);

  // Constant after construction.
  const int listen_fd_;
  const int port_;
  const int wake_read_fd_;  // readable once the destructor wants the loop to stop
  const int wake_write_fd_;
  const std::shared_ptr<prometheus::Registry> registry_;
  std::thread thread_;
};

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_METRICS_ENDPOINT_H_
