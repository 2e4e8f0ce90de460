// End-to-end accuracy floors on the real ternserve binary (slackfit, the e2e bundle and profile):
// over both APIs (min_accuracy in ClassifyRequest, the OIP double parameter "min_accuracy"),
// every answer to a request with a floor comes from a sub-net at or above it, a floor above every
// sub-net is refused OUT_OF_RANGE at once and counted, a floor outside [0, 1] is INVALID_ARGUMENT,
// and the server keeps serving.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/blocking_counter.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "tests/e2e/server_fixture.h"

namespace ternserve {
namespace {

using ::testing::HasSubstr;

class ServerFloorE2eTest : public ServerE2eTest {
 protected:
  void SetUp() override {
    flags_ = {"--policy=slackfit", std::string("--profile=") + TERNSERVE_E2E_PROFILE};
    ServerE2eTest::SetUp();
    auto channel = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
    classifier_ = v1::Classifier::NewStub(channel);
    oip_ = inference::GRPCInferenceService::NewStub(channel);
    for (const SubnetMeta& s : GetReference().bundle->metadata().subnets) {
      accuracy_[s.id] = s.test_accuracy;
    }
    ASSERT_GE(accuracy_.size(), 2u);
    std::vector<double> sorted;
    for (const auto& [id, a] : accuracy_) sorted.push_back(a);
    std::sort(sorted.begin(), sorted.end());
    best_ = sorted.back();
    // Between the two most accurate sub-nets: only the best meets it.
    floor_ = (sorted[sorted.size() - 2] + best_) / 2;
    ASSERT_LT(floor_, best_);
  }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return context;
  }

  inference::ModelInferRequest OipRequest(int first, double min_accuracy) {
    inference::ModelInferRequest request =
        OipImageRequest(GetReference().bundle->metadata().model_name, first, 1);
    if (min_accuracy != 0) {
      (*request.mutable_parameters())["min_accuracy"].set_double_param(min_accuracy);
    }
    return request;
  }

  std::unique_ptr<v1::Classifier::Stub> classifier_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> oip_;
  std::map<int, double> accuracy_;  // sub-net id -> the bundle's test accuracy
  double best_ = 0;
  double floor_ = 0;
};

TEST_F(ServerFloorE2eTest, EveryAnswerOnBothApisMeetsItsFloor) {
  // 64 Classify and 64 ModelInfer calls in flight at once; every other one needs floor_. The SLO
  // is generous (5 s): the test is about the floors reaching the scheduler and being honoured,
  // on a machine that may be slow (ASan; the scheduler tests cover floors under load), and a
  // floored request must not be refused for its deadline.
  constexpr int kCalls = 64;
  struct ClassifyCall {
    v1::ClassifyRequest request;
    v1::ClassifyResponse response;
    grpc::ClientContext context;
    grpc::Status status;
  };
  struct OipCall {
    inference::ModelInferRequest request;
    inference::ModelInferResponse response;
    grpc::ClientContext context;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<ClassifyCall>> classify(kCalls);
  std::vector<std::unique_ptr<OipCall>> oip(kCalls);
  absl::BlockingCounter done(2 * kCalls);
  auto floor_of = [this](int i) { return i % 2 == 0 ? floor_ : 0.0; };
  for (int i = 0; i < kCalls; ++i) {
    classify[i] = std::make_unique<ClassifyCall>();
    classify[i]->request = ImageRequest(i % kE2eImages, 1);
    classify[i]->request.set_latency_slo_ms(5000);
    classify[i]->request.set_min_accuracy(floor_of(i));
    classify[i]->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    ClassifyCall* c = classify[i].get();
    classifier_->async()->Classify(&c->context, &c->request, &c->response,
                                   [c, &done](grpc::Status s) {
                                     c->status = std::move(s);
                                     done.DecrementCount();
                                   });
    oip[i] = std::make_unique<OipCall>();
    oip[i]->request = OipRequest(i % kE2eImages, floor_of(i));
    (*oip[i]->request.mutable_parameters())["timeout"].set_int64_param(5'000'000);
    oip[i]->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    OipCall* o = oip[i].get();
    oip_->async()->ModelInfer(&o->context, &o->request, &o->response, [o, &done](grpc::Status s) {
      o->status = std::move(s);
      done.DecrementCount();
    });
  }
  done.Wait();
  int floored_ok = 0;
  for (int i = 0; i < kCalls; ++i) {
    SCOPED_TRACE(i);
    // A floored request may be refused DEADLINE_EXCEEDED (its floor's sub-nets too slow in time),
    // never answered below its floor.
    const ClassifyCall& c = *classify[i];
    if (c.status.ok()) {
      const int id = c.response.subnet().id();
      ASSERT_EQ(accuracy_.count(id), 1u) << id;
      EXPECT_GE(accuracy_[id], floor_of(i)) << "sub-net " << id;
      EXPECT_DOUBLE_EQ(c.response.subnet().expected_accuracy(), accuracy_[id]);
      floored_ok += floor_of(i) > 0 ? 1 : 0;
    } else {
      EXPECT_EQ(c.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
          << c.status.error_message();
    }
    const OipCall& o = *oip[i];
    if (o.status.ok()) {
      const auto& params = o.response.parameters();
      ASSERT_EQ(params.count("expected_accuracy"), 1u);
      double served = -1;
      ASSERT_TRUE(absl::SimpleAtod(params.at("expected_accuracy").string_param(), &served));
      int id = -1;
      ASSERT_TRUE(absl::SimpleAtoi(params.at("subnet_id").string_param(), &id));
      EXPECT_GE(accuracy_[id], floor_of(i)) << "sub-net " << id;
      EXPECT_GE(served + 1e-9, floor_of(i));
      floored_ok += floor_of(i) > 0 ? 1 : 0;
    } else {
      EXPECT_EQ(o.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
          << o.status.error_message();
    }
  }
  EXPECT_EQ(floored_ok, kCalls);  // every floored request (32 per API) was served
  EXPECT_EQ(Metric("ternserve_floor_violations_total"), 0);
  EXPECT_GT(Metric("ternserve_floor_headroom_count"), 0);
}

TEST_F(ServerFloorE2eTest, AFloorAboveEverySubnetIsRefusedAtOnceOnBothApis) {
  const double above = std::min(1.0, best_ + 0.001);
  v1::ClassifyRequest request = ImageRequest(0, 1);
  request.set_min_accuracy(above);
  v1::ClassifyResponse response;
  grpc::Status status = classifier_->Classify(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(status.error_message(), HasSubstr("above every sub-net"));

  inference::ModelInferResponse oip_response;
  status = oip_->ModelInfer(Context().get(), OipRequest(1, above), &oip_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(status.error_message(), HasSubstr("above every sub-net"));
  EXPECT_EQ(Metric("ternserve_floor_refusals_total{reason=\"above_model\"}"), 2);

  // Outside [0, 1]: a malformed request on both APIs.
  request.set_min_accuracy(1.5);
  status = classifier_->Classify(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("min_accuracy"));
  status = oip_->ModelInfer(Context().get(), OipRequest(1, -0.5), &oip_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("min_accuracy"));

  // The server keeps serving, and a floor the best sub-net meets is served by it.
  request.set_min_accuracy(best_);
  status = classifier_->Classify(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_DOUBLE_EQ(response.subnet().expected_accuracy(), best_);
}

}  // namespace
}  // namespace ternserve
