// Shared by the end-to-end tests: the tiny e2e bundle run in-process as the reference, and a
// fixture that starts the real `ternserve` binary on ephemeral ports (--port=0 --metrics_port=0
// --port_file) and stops it with SIGTERM, expecting exit code 0. Thread-compatible.
#ifndef TERNSERVE_TESTS_E2E_SERVER_FIXTURE_H_
#define TERNSERVE_TESTS_E2E_SERVER_FIXTURE_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/classifier_client.h"
#include "gtest/gtest.h"
#include "models/bundle.h"
#include "models/fashion_mnist.h"
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
int ArgMax(const std::vector<float>& v);
// Checks a response for image `index` against the reference: top-1, every probability, labels,
// sub-net.
void ExpectMatchesReference(const v1::ClassifyResponse& response, int index);

// Sample lines of a Prometheus text-format scrape: series (name and label set, as written) ->
// value.
std::map<std::string, double> ParseScrape(const std::string& scrape);

std::string MakeTempDir();
std::string ReadSmallFile(const std::string& path);

class ServerE2eTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Scrapes /metrics until `series` reads at least `value`; the error says what it last read.
  // The way a test waits for what only the server sees (e.g. that it has read a request).
  absl::Status WaitForMetric(const std::string& series, double value, absl::Duration timeout);

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
