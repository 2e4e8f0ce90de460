// The HTTP server on --metrics_port: /metrics and the status page. See metrics_endpoint.h.
#include "server/metrics_endpoint.h"

#include <civetweb.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <exception>

#include "absl/strings/str_cat.h"

namespace ternserve {
namespace {

constexpr char kMetricsPath[] = "/metrics";
constexpr char kStatusJsonPath[] = "/status.json";
// What Prometheus' text exposition format 0.0.4 is served as (prometheus-cpp's Exposer did the
// same).
constexpr char kMetricsContentType[] = "text/plain; version=0.0.4";
constexpr char kTextContentType[] = "text/plain; charset=utf-8";

HttpResponse Text(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.content_type = kTextContentType;
  response.body = std::move(body);
  return response;
}

// civetweb's one-time set-up; counted, so it is harmless beside another user of civetweb in the
// same process.
void InitCivetweb() {
  static const bool initialized = [] {
    mg_init_library(0);
    return true;
  }();
  (void)initialized;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    MetricsEndpointOptions options) {
  if (options.registry == nullptr) return absl::InvalidArgumentError("no registry to serve");
  InitCivetweb();
  std::unique_ptr<MetricsEndpoint> endpoint(new MetricsEndpoint(std::move(options)));
  const std::string threads = std::to_string(kThreads);
  // No document_root: civetweb serves no file from disk. A client that stalls mid-request gives
  // up its thread after request_timeout_ms, so one slow client cannot hold the page and the
  // scrapes for long.
  const char* civet_options[] = {"listening_ports",
                                 endpoint->options_.address.c_str(),
                                 "num_threads",
                                 threads.c_str(),
                                 "request_timeout_ms",
                                 "10000",
                                 nullptr};
  char error_text[256] = "";
  unsigned error_code = 0;
  mg_error_data error{&error_code, error_text, sizeof(error_text)};
  mg_callbacks callbacks{};
  // civetweb logs its own errors to stderr without this; the error comes back in `error` instead.
  callbacks.log_message = [](const mg_connection*, const char*) { return 1; };
  mg_init_data init{&callbacks, nullptr, civet_options};
  endpoint->context_ = mg_start2(&init, &error);
  if (endpoint->context_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", endpoint->options_.address, ": ",
                     error_text[0] != '\0' ? error_text : "civetweb failed"));
  }
  mg_set_request_handler(endpoint->context_, "/", &MetricsEndpoint::Handle, endpoint.get());
  mg_server_port ports[4] = {};
  if (mg_get_server_ports(endpoint->context_, 4, ports) < 1) {
    return absl::UnavailableError(
        absl::StrCat("the metrics server on ", endpoint->options_.address, " listens on no port"));
  }
  endpoint->port_ = ports[0].port;
  return endpoint;
}

MetricsEndpoint::~MetricsEndpoint() {
  if (context_ != nullptr) mg_stop(context_);
}

HttpResponse MetricsEndpoint::Respond(absl::string_view method, absl::string_view path,
                                      const char* authorization) const {
  if (method != "GET" && method != "HEAD") {
    HttpResponse response = Text(405, "405 method not allowed: the status page is read-only\n");
    response.headers.push_back({"Allow", "GET, HEAD"});
    return response;
  }
  if (path == kMetricsPath) {
    HttpResponse response;
    response.content_type = kMetricsContentType;
    response.body = prometheus::TextSerializer().Serialize(options_.registry->Collect());
    return response;
  }
  if (options_.auth != nullptr) {
    const absl::Status allowed = options_.auth->CheckHeader(
        authorization == nullptr ? "" : authorization, authorization != nullptr);
    if (!allowed.ok()) {
      // The message says what was missing or wrong, never the token.
      HttpResponse response =
          Text(401, absl::StrCat("401 unauthorized: ", allowed.message(),
                                 "\nThe status page needs the header 'Authorization: Bearer "
                                 "<token>' for a token of --auth_token_file.\n"));
      response.headers.push_back({"WWW-Authenticate", "Bearer realm=\"ternserve\""});
      return response;
    }
  }
  if (options_.status_page) {
    const bool page = path == kStatusJsonPath || path == "/";
    const std::shared_ptr<const std::function<std::string()>> status_json = StatusSource();
    if (page && status_json == nullptr) {
      HttpResponse response = Text(503, "503 the server is starting; the status page follows\n");
      response.headers.push_back({"Retry-After", "5"});
      return response;
    }
    if (path == kStatusJsonPath) {
      HttpResponse response;
      response.content_type = "application/json";
      response.body = (*status_json)();
      return response;
    }
    for (const WebAsset& asset : options_.assets) {
      if (path != asset.path) continue;
      HttpResponse response;
      response.content_type = asset.content_type;
      response.body = std::string(asset.body);
      if (path == "/") {
        // The page runs only its own scripts and talks only to this server.
        response.headers.push_back({"Content-Security-Policy",
                                    "default-src 'self'; base-uri 'none'; form-action 'none'; "
                                    "frame-ancestors 'none'"});
        response.headers.push_back({"X-Frame-Options", "DENY"});
      }
      return response;
    }
  }
  return Text(404, absl::StrCat("404 not found: this server answers GET ", kMetricsPath,
                                options_.status_page ? ", / and /status.json" : "", "\n"));
}

void MetricsEndpoint::SetStatusSource(std::function<std::string()> status_json) {
  auto source = std::make_shared<const std::function<std::string()>>(std::move(status_json));
  absl::MutexLock lock(&status_mu_);
  status_json_ = std::move(source);
}

std::shared_ptr<const std::function<std::string()>> MetricsEndpoint::StatusSource() const {
  absl::MutexLock lock(&status_mu_);
  return status_json_;
}

int MetricsEndpoint::Handle(struct mg_connection* connection, void* endpoint) {
  const mg_request_info* request = mg_get_request_info(connection);
  const absl::string_view method =
      request->request_method != nullptr ? request->request_method : "";
  const absl::string_view path = request->local_uri != nullptr ? request->local_uri : "";
  HttpResponse response;
  try {
    response = static_cast<const MetricsEndpoint*>(endpoint)->Respond(
        method, path, mg_get_header(connection, "Authorization"));
  } catch (const std::exception& e) {
    // Nothing above should throw; if it does, this request fails, not the server.
    response = Text(500, absl::StrCat("500 internal error: ", e.what(), "\n"));
  }
  std::string head = absl::StrCat(
      "HTTP/1.1 ", response.status, " ", mg_get_response_code_text(connection, response.status),
      "\r\nContent-Type: ", response.content_type, "\r\nContent-Length: ", response.body.size(),
      "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
      "Referrer-Policy: no-referrer\r\nConnection: close\r\n");
  for (const auto& [name, value] : response.headers)
    absl::StrAppend(&head, name, ": ", value, "\r\n");
  head += "\r\n";
  mg_write(connection, head.data(), head.size());
  if (method != "HEAD") mg_write(connection, response.body.data(), response.body.size());
  return response.status;
}

}  // namespace ternserve
