// Reference model and server fixture for the end-to-end tests. See server_fixture.h.
#include "tests/e2e/server_fixture.h"

#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "models/ternary_engine.h"
#include "server/classify_response.h"
#include "tests/testing/http_get.h"

namespace ternserve {

using ::ternserve::testing::RunToCompletion;

std::map<std::string, double> ParseScrape(const std::string& scrape) {
  std::map<std::string, double> samples;
  std::istringstream lines(scrape);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return samples;
}

std::string MakeTempDir() {
  std::string tmpl = absl::StrCat(::testing::TempDir(), "/ternserve_e2e_XXXXXX");
  char* dir = mkdtemp(tmpl.data());
  return dir == nullptr ? ::testing::TempDir() : std::string(dir);
}

const Reference& GetReference() {
  static Reference* reference = [] {
    auto* r = new Reference();
    auto bundle = Bundle::Open(TERNSERVE_E2E_BUNDLE);
    EXPECT_TRUE(bundle.ok()) << bundle.status();
    if (!bundle.ok()) return r;
    r->bundle = *std::move(bundle);
    r->subnet_id = r->bundle->LargestSubnet().id;
    auto images = ReadIdxImages(kTestImages);
    EXPECT_TRUE(images.ok()) << images.status();
    if (!images.ok()) return r;
    r->images = *std::move(images);
    // The server's default engine; its logits do not depend on the ISA or thread count.
    auto engine = TernaryEngine::Create(*r->bundle);
    EXPECT_TRUE(engine.ok()) << engine.status();
    if (!engine.ok()) return r;
    std::vector<float> batch;
    for (int i = 0; i < kE2eImages; ++i) r->images.AppendImageAsFloat(i, &batch);
    auto logits = (*engine)->Run(r->subnet_id, batch, kE2eImages);
    EXPECT_TRUE(logits.ok()) << logits.status();
    if (!logits.ok()) return r;
    for (int i = 0; i < kE2eImages; ++i) {
      r->probabilities.push_back(Softmax(logits->row(i)));
    }
    return r;
  }();
  return *reference;
}

v1::ClassifyRequest ImageRequest(int index, int top_k) {
  std::vector<float> pixels;
  GetReference().images.AppendImageAsFloat(index, &pixels);
  v1::ClassifyRequest request;
  *request.mutable_pixels()->mutable_values() = {pixels.begin(), pixels.end()};
  request.set_top_k(top_k);
  request.set_latency_slo_ms(5000);
  request.set_request_id(absl::StrCat("img-", index));
  return request;
}

inference::ModelInferRequest OipImageRequest(const std::string& model, int first, int n) {
  inference::ModelInferRequest request;
  request.set_model_name(model);
  auto* input = request.add_inputs();
  input->set_name("input");
  input->set_datatype("FP32");
  for (int64_t d : {int64_t{n}, int64_t{1}, int64_t{28}, int64_t{28}}) input->add_shape(d);
  std::vector<float> pixels;
  for (int i = first; i < first + n; ++i) {
    GetReference().images.AppendImageAsFloat(i % kE2eImages, &pixels);
  }
  request.add_raw_input_contents(
      std::string(reinterpret_cast<const char*>(pixels.data()), pixels.size() * sizeof(float)));
  (*request.mutable_parameters())["timeout"].set_int64_param(5'000'000);
  return request;
}

int ArgMax(const std::vector<float>& v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

void ExpectMatchesReference(const v1::ClassifyResponse& response, int index) {
  SCOPED_TRACE(absl::StrCat("image ", index));
  const Reference& ref = GetReference();
  const std::vector<float>& expected = ref.probabilities.at(static_cast<size_t>(index));
  ASSERT_EQ(response.top_k_size(), static_cast<int>(expected.size()));
  EXPECT_EQ(response.top_k(0).class_id(), ArgMax(expected));
  for (const v1::Prediction& p : response.top_k()) {
    EXPECT_NEAR(p.probability(), expected[static_cast<size_t>(p.class_id())],
                kProbabilityTolerance);
    EXPECT_EQ(p.label(), ref.bundle->metadata().labels[static_cast<size_t>(p.class_id())]);
  }
  for (int k = 1; k < response.top_k_size(); ++k) {
    EXPECT_GE(response.top_k(k - 1).probability(), response.top_k(k).probability());
  }
  EXPECT_EQ(response.subnet().id(), ref.subnet_id);
  EXPECT_EQ(response.subnet().name(), ref.bundle->FindSubnet(ref.subnet_id)->name);
  EXPECT_GE(response.batch_size(), 1);
  EXPECT_GT(response.compute_us(), 0);
  // Its 5 s SLO holds on an idle server, and the reported times are what met it: arrival to
  // finish is queue + compute.
  EXPECT_TRUE(response.deadline_met());
  EXPECT_LE(response.queue_us() + response.compute_us(), 5'000'000);
}

void ServerE2eTest::SetUp() {
  ASSERT_FALSE(GetReference().probabilities.empty()) << "reference model failed to load";
  dir_ = MakeTempDir();
  port_file_ = dir_ + "/port";
  std::vector<std::string> argv = {TERNSERVE_SERVER_BIN, absl::StrCat("--bundle=", bundle_),
                                   "--port=0", "--port_file=" + port_file_, "--max_queue=4096",
                                   // 0, not the default 8002: parallel tests must not collide.
                                   "--metrics_port=0"};
  argv.push_back(absl::StrCat("--max_batch=", max_batch_));
  argv.insert(argv.end(), flags_.begin(), flags_.end());
  ASSERT_TRUE(server_.Start(argv).ok());
  absl::StatusOr<std::string> written =
      testing::WaitForPortFile(server_, port_file_, absl::Seconds(120));
  ASSERT_TRUE(written.ok()) << "ternserve: " << written.status();
  // The gRPC port, then the metrics port (absent with --metrics_port=-1).
  std::istringstream ports(*written);
  ports >> port_;
  if (!(ports >> metrics_port_)) metrics_port_ = -1;
  address_ = absl::StrCat("127.0.0.1:", port_);
  auto client = ClassifierClient::Create(address_);
  ASSERT_TRUE(client.ok());
  client_ = *std::move(client);
}

void ServerE2eTest::TearDown() {
  if (!server_.running()) return;
  server_.Signal(SIGTERM);
  absl::StatusOr<int> code = server_.Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
}

std::pair<int, std::string> ServerE2eTest::RunCli(std::vector<std::string> args) {
  args.insert(args.begin(), TERNSERVE_CLI_BIN);
  auto result = RunToCompletion(args, dir_ + "/cli.out");
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : std::make_pair(-1, std::string());
}

double ServerE2eTest::Metric(const std::string& series) {
  if (metrics_port_ <= 0) return -1;
  absl::StatusOr<std::string> scrape = testing::HttpGet("127.0.0.1", metrics_port_, "/metrics");
  if (!scrape.ok()) return -1;
  const std::map<std::string, double> samples = ParseScrape(*scrape);
  const auto it = samples.find(series);
  return it == samples.end() ? -1 : it->second;
}

absl::Status ServerE2eTest::WaitForMetric(const std::string& series, double value,
                                          absl::Duration timeout) {
  if (metrics_port_ <= 0) return absl::FailedPreconditionError("the server serves no metrics");
  const absl::Time give_up = absl::Now() + timeout;
  std::string last = "no scrape";
  while (true) {
    absl::StatusOr<std::string> scrape = testing::HttpGet("127.0.0.1", metrics_port_, "/metrics");
    if (scrape.ok()) {
      const std::map<std::string, double> samples = ParseScrape(*scrape);
      const auto it = samples.find(series);
      if (it != samples.end() && it->second >= value) return absl::OkStatus();
      last = it == samples.end() ? "no such series" : absl::StrCat(it->second);
    } else {
      last = scrape.status().ToString();
    }
    if (absl::Now() >= give_up) {
      return absl::DeadlineExceededError(absl::StrCat(series, " did not reach ", value, " in ",
                                                      absl::FormatDuration(timeout),
                                                      "; last read: ", last));
    }
    if (server_.Poll()) return absl::FailedPreconditionError("ternserve exited");
  }
}

}  // namespace ternserve
