// MetricsEndpoint: the HTTP server on --metrics_port. It serves
//   GET /metrics       the Prometheus text exposition of the registry (what prometheus-cpp's
//                      Exposer served before; Content-Type text/plain; version=0.0.4)
//   GET /              the status page (web/status/index.html, embedded at build time)
//   GET /status.json   the page's data (server/status_json.h), made on each request (503 until
//                      SetStatusSource: the server is starting)
//   GET /<asset>       the page's other embedded files (its script, style, the chart library)
// HEAD is answered like GET without the body; any other method is 405, any other path 404. The
// query string is ignored: the page takes no input but its path. With a TokenAuthenticator,
// everything but /metrics needs `Authorization: Bearer <token>` (401 otherwise); /metrics stays
// open to scrapers, as it was (docs/architecture.md "Status page" says why).
//
// It is our own civetweb server rather than prometheus-cpp's Exposer because the Exposer keeps
// its CivetServer private and serves nothing but registries. Civetweb runs kThreads threads with
// no document root: it serves nothing from disk.
//
// Ownership: holds the registry (shared) and the status source; `auth` must outlive it, and so
// must whatever the status source reads (destroy the endpoint first). Thread-safe:
// requests are answered concurrently on civetweb's threads; the destructor stops the server and
// waits for requests in progress.
#ifndef TERNSERVE_SERVER_METRICS_ENDPOINT_H_
#define TERNSERVE_SERVER_METRICS_ENDPOINT_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/token_auth.h"
#include "server/web_assets.h"

struct mg_connection;
struct mg_context;
namespace prometheus {
class Registry;
}  // namespace prometheus

namespace ternserve {

struct MetricsEndpointOptions {
  // civetweb's listening address, "host:port" ("[::1]:port" for IPv6); port 0 picks a free one.
  std::string address;
  // Served at /metrics. Required.
  std::shared_ptr<prometheus::Registry> registry;
  // Non-null: every path but /metrics needs one of its bearer tokens.
  const TokenAuthenticator* auth = nullptr;
  // Serve the status page (/, /status.json, the assets); false: those paths are 404.
  bool status_page = true;
  // The page's files, by path ("/" is index.html).
  std::vector<WebAsset> assets;
};

// One HTTP answer, before it is written to the connection.
struct HttpResponse {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // beyond Content-Type and -Length
};

class MetricsEndpoint {
 public:
  static constexpr int kThreads = 2;  // a scrape and a page may be answered at once

  // Listens on options.address; UNAVAILABLE naming the address and civetweb's reason when it
  // cannot (a port in use).
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(MetricsEndpointOptions options);
  ~MetricsEndpoint();

  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  // The port listened on.
  int port() const { return port_; }

  // From now on /status.json is `status_json()` (called on each request, concurrently; it must
  // be thread-safe). Until then the page and /status.json answer 503: the server is starting
  // (its metrics do not exist yet while it profiles).
  void SetStatusSource(std::function<std::string()> status_json);

  // The answer to `method path` carrying `authorization` (nullptr: no such header); what the
  // server writes for every request, so tests can check routing without a socket.
  HttpResponse Respond(absl::string_view method, absl::string_view path,
                       const char* authorization) const;

 private:
  explicit MetricsEndpoint(MetricsEndpointOptions options) : options_(std::move(options)) {}
  static int Handle(struct mg_connection* connection, void* endpoint);

  // The status document's source, or null while the server starts.
  std::shared_ptr<const std::function<std::string()>> StatusSource() const;

  // Constant after Start.
  const MetricsEndpointOptions options_;
  struct mg_context* context_ = nullptr;
  int port_ = -1;

  mutable absl::Mutex status_mu_;
  std::shared_ptr<const std::function<std::string()>> status_json_ ABSL_GUARDED_BY(status_mu_);
};

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_METRICS_ENDPOINT_H_
