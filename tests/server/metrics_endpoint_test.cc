// Tests for server/metrics_endpoint.cc over a real socket (libcurl): /metrics as prometheus-cpp's
// Exposer served it, the status page and its JSON, 404 for other paths, 405 for other methods,
// HEAD without a body, 503 until the status source is set, bearer tokens for everything but
// /metrics, and a port in use as a clear error.
#include "server/metrics_endpoint.h"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/http_get.h"

namespace ternserve {
namespace {

using ::ternserve::testing::HttpFetch;
using ::ternserve::testing::HttpResult;
using ::testing::HasSubstr;
using ::testing::Not;

const std::vector<WebAsset> kAssets = {
    {"/", "text/html; charset=utf-8", "<html>the page</html>"},
    {"/status.js", "text/javascript; charset=utf-8", "let x = 1;"},
};

class MetricsEndpointTest : public ::testing::Test {
 protected:
  void Start(const TokenAuthenticator* auth = nullptr, bool set_source = true) {
    registry_ = std::make_shared<prometheus::Registry>();
    prometheus::BuildCounter()
        .Name("ternserve_test_total")
        .Help("A test counter.")
        .Register(*registry_)
        .Add({})
        .Increment(3);
    MetricsEndpointOptions options;
    options.address = "127.0.0.1:0";
    options.registry = registry_;
    options.auth = auth;
    options.assets = kAssets;
    absl::StatusOr<std::unique_ptr<MetricsEndpoint>> endpoint = MetricsEndpoint::Start(options);
    ASSERT_TRUE(endpoint.ok()) << endpoint.status();
    endpoint_ = *std::move(endpoint);
    ASSERT_GT(endpoint_->port(), 0);
    if (set_source) endpoint_->SetStatusSource([] { return std::string(R"({"ok":true})"); });
  }

  HttpResult Fetch(const std::string& method, const std::string& path,
                   const std::vector<std::string>& headers = {}) {
    absl::StatusOr<HttpResult> result =
        HttpFetch(method, "127.0.0.1", endpoint_->port(), path, headers);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : HttpResult{};
  }

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<MetricsEndpoint> endpoint_;
};

TEST_F(MetricsEndpointTest, ServesMetricsInTheTextFormat) {
  Start();
  const HttpResult metrics = Fetch("GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.headers, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  EXPECT_THAT(metrics.body, HasSubstr("# TYPE ternserve_test_total counter"));
  EXPECT_THAT(metrics.body, HasSubstr("ternserve_test_total 3"));
}

TEST_F(MetricsEndpointTest, ServesThePageItsFilesAndItsJson) {
  Start();
  const HttpResult page = Fetch("GET", "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.body, "<html>the page</html>");
  EXPECT_THAT(page.headers, HasSubstr("Content-Type: text/html; charset=utf-8"));
  EXPECT_THAT(page.headers, HasSubstr("Content-Security-Policy: default-src 'self'"));
  const HttpResult script = Fetch("GET", "/status.js");
  EXPECT_EQ(script.status, 200);
  EXPECT_EQ(script.body, "let x = 1;");
  const HttpResult json = Fetch("GET", "/status.json");
  EXPECT_EQ(json.status, 200);
  EXPECT_EQ(json.body, R"({"ok":true})");
  EXPECT_THAT(json.headers, HasSubstr("Content-Type: application/json"));
  EXPECT_THAT(json.headers, HasSubstr("Cache-Control: no-store"));
  // The query string is no input: it is ignored.
  EXPECT_EQ(Fetch("GET", "/status.json?subnet=3&x=%00").body, R"({"ok":true})");
}

TEST_F(MetricsEndpointTest, OtherPathsAre404) {
  Start();
  for (const char* path : {"/nope", "/index.html", "/metrics/x", "/status.json/", "/..%2fetc",
                           "/uplot.iife.min.js"}) {  // no chart library in this asset list
    const HttpResult result = Fetch("GET", path);
    EXPECT_EQ(result.status, 404) << path;
    EXPECT_THAT(result.body, HasSubstr("404 not found")) << path;
  }
}

TEST_F(MetricsEndpointTest, OnlyGetAndHeadAreAllowed) {
  Start();
  for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    for (const char* path : {"/", "/status.json", "/metrics"}) {
      const HttpResult result = Fetch(method, path);
      EXPECT_EQ(result.status, 405) << method << " " << path;
      EXPECT_THAT(result.headers, HasSubstr("Allow: GET, HEAD")) << method << " " << path;
    }
  }
  const HttpResult head = Fetch("HEAD", "/status.json");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  EXPECT_THAT(head.headers, HasSubstr("Content-Length: 11"));
}

TEST_F(MetricsEndpointTest, PageIs503UntilTheStatusSourceIsSet) {
  Start(/*auth=*/nullptr, /*set_source=*/false);
  EXPECT_EQ(Fetch("GET", "/").status, 503);
  EXPECT_EQ(Fetch("GET", "/status.json").status, 503);
  EXPECT_EQ(Fetch("GET", "/metrics").status, 200);  // served from the start, as before
  endpoint_->SetStatusSource([] { return std::string("{}"); });
  EXPECT_EQ(Fetch("GET", "/").status, 200);
  EXPECT_EQ(Fetch("GET", "/status.json").body, "{}");
}

TEST_F(MetricsEndpointTest, WithTokensEverythingButMetricsNeedsOne) {
  const std::string path = ::testing::TempDir() + "/endpoint_tokens";
  std::ofstream(path, std::ios::trunc) << "s3cret-token\n";
  absl::StatusOr<std::unique_ptr<TokenAuthenticator>> auth = TokenAuthenticator::Load(path);
  ASSERT_TRUE(auth.ok()) << auth.status();
  Start(auth->get());
  for (const char* page : {"/", "/status.json", "/status.js", "/nope"}) {
    for (const std::vector<std::string>& headers :
         {std::vector<std::string>{}, std::vector<std::string>{"Authorization: Bearer wrong"},
          std::vector<std::string>{"Authorization: s3cret-token"}}) {
      const HttpResult refused = Fetch("GET", page, headers);
      EXPECT_EQ(refused.status, 401) << page;
      EXPECT_THAT(refused.headers, HasSubstr("WWW-Authenticate: Bearer")) << page;
      EXPECT_THAT(refused.body, Not(HasSubstr("s3cret"))) << page;
    }
  }
  const std::vector<std::string> token = {"Authorization: Bearer s3cret-token"};
  EXPECT_EQ(Fetch("GET", "/", token).status, 200);
  EXPECT_EQ(Fetch("GET", "/status.json", token).body, R"({"ok":true})");
  EXPECT_EQ(Fetch("GET", "/nope", token).status, 404);
  // /metrics stays open to scrapers (docs/architecture.md "Status page").
  EXPECT_EQ(Fetch("GET", "/metrics").status, 200);
}

TEST_F(MetricsEndpointTest, PortInUseIsAClearError) {
  Start();
  MetricsEndpointOptions options;
  options.address = absl::StrCat("127.0.0.1:", endpoint_->port());
  options.registry = registry_;
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> second = MetricsEndpoint::Start(options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(),
              HasSubstr(absl::StrCat("cannot serve metrics on 127.0.0.1:", endpoint_->port())));
}

}  // namespace
}  // namespace ternserve
