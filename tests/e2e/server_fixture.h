// Shared by the end-to-end tests: the tiny e2e bundle run in-process as the reference, and a
// fixture that starts the real `ternserve` binary on ephemeral ports (--port=0 --metrics_port=0
// --port_file) and stops it with SIGTERM, expecting exit code 0. Thread-compatible.
#ifndef TERNSERVE_TESTS_E2E_SERVER_FIXTURE_H_
#define TERNSERVE_TESTS_E2E_SERVER_FIXTURE_H_

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/classifier_client.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.pb.h"
#include "models/bundle.h"
#include "models/fashion_mnist.h"
#include "ternserve/v1/classifier.grpc.pb.h"
#include "tests/testing/subprocess.h"

namespace ternserve {

inline constexpr int kE2eImages = 64;
inline constexpr double kProbabilityTolerance = 1e-4;
inline constexpr char kTestImages[] = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";

// The bundle, the first kE2eImages test images and their reference probabilities (TernaryEngine,
// the server's default, in-process + softmax, largest sub-net), computed once per process.
struct Reference {
  std::unique_ptr<Bundle> bundle;
  ImageSet images;
  int subnet_id = -1;
  std::vector<std::vector<float>> probabilities;  // per image
};
const Reference& GetReference();

// Image `index` as raw pixels, request_id "img-<index>".
v1::ClassifyRequest ImageRequest(int index, int top_k = 10);
// Test images first..first+n-1 (mod kE2eImages) as one FP32 [n,1,28,28] Open Inference Protocol
// request for `model`, with a 5 s timeout.
inference::ModelInferRequest OipImageRequest(const std::string& model, int first, int n);
int ArgMax(const std::vector<float>& v);
// Checks a response for image `index` against the reference: top-1, every probability, labels,
// sub-net.
void ExpectMatchesReference(const v1::ClassifyResponse& response, int index);

// Sample lines of a Prometheus text-format scrape: series (name and label set, as written) ->
// value.
std::map<std::string, double> ParseScrape(const std::string& scrape);

std::string MakeTempDir();
using testing::ReadSmallFile;

// `n` unary Classify calls of test images (SLO 60 s, gRPC deadline `deadline`), all in flight
// at once, each with its own context.
class AsyncClassifyCalls {
 public:
  AsyncClassifyCalls(v1::Classifier::Stub* stub, int n, absl::Duration deadline) : done_(n) {
    for (int i = 0; i < n; ++i) {
      Call& call = *calls_.emplace_back(std::make_unique<Call>());
      call.request = ImageRequest(i % kE2eImages);
      call.request.set_latency_slo_ms(60000);
      call.context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
      stub->async()->Classify(&call.context, &call.request, &call.response,
                              [this, &call](grpc::Status status) {
                                call.status = std::move(status);
                                done_.DecrementCount();
                              });
    }
  }
  void CancelAll() {
    for (auto& call : calls_) call->context.TryCancel();
  }
  // Calls still in flight would complete into freed memory: a test must Wait first.
  ~AsyncClassifyCalls() {
    if (!waited_) done_.Wait();
  }
  // Blocks until every call has finished (once); then the count of each code.
  std::map<grpc::StatusCode, int> Wait() {
    done_.Wait();
    waited_ = true;
    std::map<grpc::StatusCode, int> codes;
    for (const auto& call : calls_) ++codes[call->status.error_code()];
    return codes;
  }
  // After Wait: each call's status.
  std::vector<grpc::Status> statuses() const {
    std::vector<grpc::Status> all;
    for (const auto& call : calls_) all.push_back(call->status);
    return all;
  }

 private:
  struct Call {
    v1::ClassifyRequest request;
    v1::ClassifyResponse response;
    grpc::ClientContext context;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Call>> calls_;
  absl::BlockingCounter done_;
  bool waited_ = false;
};

class ServerE2eTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Scrapes /metrics until `series` reads at least `value`; the error says what it last read.
  // The way a test waits for what only the server sees (e.g. that it has read a request).
  absl::Status WaitForMetric(const std::string& series, double value, absl::Duration timeout);

  // One scrape's value of `series`; -1 if the scrape failed or has no such series.
  double Metric(const std::string& series);

  // Runs ternserve-cli with `args`; returns (exit code, stdout).
  std::pair<int, std::string> RunCli(std::vector<std::string> args);

  int max_batch_ = 8;  // --max_batch for the server; set before SetUp
  std::string bundle_ = TERNSERVE_E2E_BUNDLE;
  // Further server flags (they override the fixture's own); set before SetUp. The default serves
  // the largest sub-net only (so responses match the reference) with the profile the e2e_profile
  // fixture measured.
  std::vector<std::string> flags_ = {"--policy=fixed",
                                     std::string("--profile=") + TERNSERVE_E2E_PROFILE};
  std::string dir_;
  std::string port_file_;
  int port_ = 0;
  int metrics_port_ = -1;  // the /metrics port, -1 if off
  std::string address_;
  testing::Subprocess server_;
  std::unique_ptr<ClassifierClient> client_;
};

}  // namespace ternserve

#endif  // TERNSERVE_TESTS_E2E_SERVER_FIXTURE_H_
