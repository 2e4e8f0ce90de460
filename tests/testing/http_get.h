// HttpGet: one HTTP GET with libcurl, for end-to-end tests that scrape the server's /metrics
// endpoint; HttpFetch: any method, request headers, and the status and headers of the answer, for
// the tests of the endpoint itself (the status page). Header-only; thread-safe (a fresh curl
// handle per call; curl_global_init is done once, before any thread calls this, by the first
// call).
#ifndef TERNSERVE_TESTS_TESTING_HTTP_GET_H_
#define TERNSERVE_TESTS_TESTING_HTTP_GET_H_

#include <curl/curl.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace ternserve::testing {

struct HttpResult {
  long status = 0;
  std::string headers;  // the raw header block, status line included
  std::string body;
};

// `method path` to host:port with `request_headers` ("Name: value" each). UNAVAILABLE if the
// request fails or times out; any HTTP status is a result.
inline absl::StatusOr<HttpResult> HttpFetch(const std::string& method, const std::string& host,
                                            int port, const std::string& path,
                                            const std::vector<std::string>& request_headers = {},
                                            absl::Duration timeout = absl::Seconds(10)) {
  static const bool initialized = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  if (!initialized) return absl::InternalError("curl_global_init failed");
  const std::string url = absl::StrCat("http://", host, ":", port, path);
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  HttpResult result;
  auto append = +[](char* data, size_t size, size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
  };
  curl_slist* headers = nullptr;
  for (const std::string& header : request_headers)
    headers = curl_slist_append(headers, header.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  if (method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, append);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &result.headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(timeout)));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  const CURLcode code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  curl_easy_cleanup(curl);
  curl_slist_free_all(headers);
  if (code != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(method, " ", url, ": ", curl_easy_strerror(code)));
  }
  return result;
}

// The body of `GET path` from host:port. UNAVAILABLE if the request fails or times out;
// INTERNAL "HTTP <code>" for a status other than 200.
inline absl::StatusOr<std::string> HttpGet(const std::string& host, int port,
                                           const std::string& path,
                                           absl::Duration timeout = absl::Seconds(10)) {
  absl::StatusOr<HttpResult> result = HttpFetch("GET", host, port, path, {}, timeout);
  if (!result.ok()) return result.status();
  if (result->status != 200) {
    return absl::InternalError(
        absl::StrCat("GET http://", host, ":", port, path, ": HTTP ", result->status));
  }
  return std::move(result->body);
}

}  // namespace ternserve::testing

#endif  // TERNSERVE_TESTS_TESTING_HTTP_GET_H_
