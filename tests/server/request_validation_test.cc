// Tests for server/request_validation.cc: every rule, with its exact status code and message.
#include "server/request_validation.h"

#include <cmath>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/test_images.h"

namespace ternserve {
namespace {

using ::testing::HasSubstr;

const absl::Time kArrival = absl::FromUnixSeconds(1700000000);

v1::ClassifyRequest GoodRequest() {
  v1::ClassifyRequest request;
  for (int i = 0; i < 784; ++i) request.mutable_pixels()->add_values((i % 256) / 255.0f);
  request.set_request_id("r1");
  return request;
}

absl::StatusOr<ValidatedRequest> Validate(const v1::ClassifyRequest& request,
                                          absl::Time grpc_deadline = absl::InfiniteFuture()) {
  return ValidateClassifyRequest(request, ValidationLimits(), kArrival, grpc_deadline);
}

struct BadCase {
  std::string name;
  std::function<void(v1::ClassifyRequest*)> mutate;
  absl::StatusCode code;
  std::string message;
};

class BadRequestTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadRequestTest, IsRefusedWithItsCodeAndMessage) {
  v1::ClassifyRequest request = GoodRequest();
  GetParam().mutate(&request);
  absl::StatusOr<ValidatedRequest> validated = Validate(request);
  ASSERT_FALSE(validated.ok());
  EXPECT_EQ(validated.status().code(), GetParam().code) << validated.status();
  EXPECT_THAT(validated.status().message(), HasSubstr(GetParam().message));
}

const float kNan = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();
constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

INSTANTIATE_TEST_SUITE_P(
    AllRules, BadRequestTest,
    ::testing::Values(
        BadCase{"NoImage", [](auto* r) { r->clear_image(); }, kInvalid,
                "request has no image: set pixels or encoded"},
        BadCase{"TooFewPixels",
                [](auto* r) { r->mutable_pixels()->mutable_values()->RemoveLast(); }, kInvalid,
                "pixels has 783 values, expected 784"},
        BadCase{"TooManyPixels", [](auto* r) { r->mutable_pixels()->add_values(0); }, kInvalid,
                "pixels has 785 values, expected 784"},
        BadCase{"EmptyPixels", [](auto* r) { r->mutable_pixels()->clear_values(); }, kInvalid,
                "pixels has 0 values"},
        BadCase{"NanPixel", [](auto* r) { r->mutable_pixels()->set_values(5, kNan); }, kInvalid,
                "pixel 5 is nan, not finite"},
        BadCase{"InfPixel", [](auto* r) { r->mutable_pixels()->set_values(6, -kInf); }, kInvalid,
                "pixel 6 is -inf, not finite"},
        BadCase{"PixelAboveOne", [](auto* r) { r->mutable_pixels()->set_values(7, 1.5f); },
                kInvalid, "pixel 7 is 1.5, outside [0, 1]"},
        BadCase{"NegativePixel", [](auto* r) { r->mutable_pixels()->set_values(8, -0.25f); },
                kInvalid, "pixel 8 is -0.25, outside [0, 1]"},
        BadCase{"EmptyEncoded", [](auto* r) { r->set_encoded(""); }, kInvalid,
                "encoded image is empty"},
        BadCase{"OversizedEncoded",
                [](auto* r) { r->set_encoded(std::string((1 << 20) + 1, 'x')); }, kInvalid,
                "encoded image is 1048577 bytes, more than the limit of 1048576 bytes"},
        BadCase{"GarbageEncoded", [](auto* r) { r->set_encoded("not an image"); }, kInvalid,
                "cannot decode encoded image: encoded image is neither a PNG nor a binary PGM"},
        BadCase{
            "WrongSizePng",
            [](auto* r) { r->set_encoded(testing::GreyPng(27, 28, testing::Pattern(27 * 28))); },
            kInvalid, "cannot decode encoded image: PNG image is 27x28, expected 28x28"},
        BadCase{"NegativeSlo", [](auto* r) { r->set_latency_slo_ms(-1); }, kInvalid,
                "latency_slo_ms is -1, must be >= 0"},
        BadCase{"NanSlo", [](auto* r) { r->set_latency_slo_ms(std::nan("")); }, kInvalid,
                "latency_slo_ms is nan, not a finite number"},
        BadCase{"InfSlo", [](auto* r) { r->set_latency_slo_ms(HUGE_VAL); }, kInvalid,
                "latency_slo_ms is inf, not a finite number"},
        BadCase{"HugeSlo", [](auto* r) { r->set_latency_slo_ms(1e9); }, kInvalid,
                "latency_slo_ms is 1e+09, more than the server's maximum of 60000 ms"},
        BadCase{"FloorAboveOne", [](auto* r) { r->set_min_accuracy(1.5); }, kInvalid,
                "min_accuracy is 1.5, must be an expected accuracy in [0, 1]"},
        BadCase{"NegativeFloor", [](auto* r) { r->set_min_accuracy(-0.1); }, kInvalid,
                "min_accuracy is -0.1, must be"},
        BadCase{"NanFloor", [](auto* r) { r->set_min_accuracy(std::nan("")); }, kInvalid,
                "min_accuracy is nan, must be"},
        BadCase{"TopKTooLarge", [](auto* r) { r->set_top_k(11); }, kInvalid,
                "top_k is 11, must be in [0, 10]"},
        BadCase{"NegativeTopK", [](auto* r) { r->set_top_k(-1); }, kInvalid,
                "top_k is -1, must be in [0, 10]"},
        BadCase{"LongRequestId", [](auto* r) { r->set_request_id(std::string(129, 'a')); },
                kInvalid, "request_id is 129 bytes, at most 128 are allowed"}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return info.param.name; });

TEST(RequestValidationTest, GoodPixelsPassWithDefaults) {
  const v1::ClassifyRequest request = GoodRequest();
  absl::StatusOr<ValidatedRequest> validated = Validate(request);
  ASSERT_TRUE(validated.ok()) << validated.status();
  EXPECT_EQ(validated->pixels.size(), 784u);
  EXPECT_EQ(validated->pixels[255], 1.0f);
  // Checked in place: the pixels are the request's own, not a copy.
  EXPECT_EQ(validated->pixels.data(), request.pixels().values().data());
  EXPECT_TRUE(validated->decoded.empty());
  EXPECT_EQ(validated->top_k, 1);  // 0 means 1
  EXPECT_EQ(validated->slo, absl::Milliseconds(100));
  EXPECT_EQ(validated->deadline, kArrival + absl::Milliseconds(100));
}

TEST(RequestValidationTest, BoundaryValuesAreAccepted) {
  v1::ClassifyRequest request = GoodRequest();
  request.set_top_k(10);
  request.set_latency_slo_ms(60000);
  request.set_request_id(std::string(128, 'a'));
  request.mutable_pixels()->set_values(0, 0.0f);
  request.mutable_pixels()->set_values(1, 1.0f);
  absl::StatusOr<ValidatedRequest> validated = Validate(request);
  ASSERT_TRUE(validated.ok()) << validated.status();
  EXPECT_EQ(validated->top_k, 10);
  EXPECT_EQ(validated->slo, absl::Seconds(60));
  for (double floor : {0.0, 0.9149, 1.0}) {
    request.set_min_accuracy(floor);
    validated = Validate(request);
    ASSERT_TRUE(validated.ok()) << validated.status();
    EXPECT_EQ(validated->min_accuracy, floor);
  }
}

TEST(RequestValidationTest, EncodedPngAndPgmDecode) {
  v1::ClassifyRequest request = GoodRequest();
  request.set_encoded(testing::GreyPng(28, 28, testing::Pattern()));
  absl::StatusOr<ValidatedRequest> validated = Validate(request);
  ASSERT_TRUE(validated.ok()) << validated.status();
  EXPECT_FLOAT_EQ(validated->pixels[1], 7 / 255.0f);
  EXPECT_EQ(validated->pixels.data(), validated->decoded.data());
  request.set_encoded(testing::Pgm("28 28 255", testing::Pattern()));
  validated = Validate(request);
  ASSERT_TRUE(validated.ok()) << validated.status();
  EXPECT_FLOAT_EQ(validated->pixels[2], 14 / 255.0f);
}

TEST(RequestValidationTest, SloSetsTheDeadlineAndAnEarlierGrpcDeadlineWins) {
  v1::ClassifyRequest request = GoodRequest();
  request.set_latency_slo_ms(2.5);
  absl::StatusOr<ValidatedRequest> validated = Validate(request);
  ASSERT_TRUE(validated.ok());
  EXPECT_EQ(validated->deadline, kArrival + absl::Microseconds(2500));

  validated = Validate(request, kArrival + absl::Milliseconds(1));
  ASSERT_TRUE(validated.ok());
  EXPECT_EQ(validated->deadline, kArrival + absl::Milliseconds(1));

  validated = Validate(request, kArrival + absl::Seconds(5));  // later: the SLO wins
  ASSERT_TRUE(validated.ok());
  EXPECT_EQ(validated->deadline, kArrival + absl::Microseconds(2500));
}

TEST(RequestValidationTest, TheSloReserveMovesTheDeadlineEarlier) {
  ValidationLimits limits;
  limits.slo_reserve_ms = 0.75;
  v1::ClassifyRequest request = GoodRequest();
  request.set_latency_slo_ms(2.5);
  absl::StatusOr<ValidatedRequest> validated =
      ValidateClassifyRequest(request, limits, kArrival, absl::InfiniteFuture());
  ASSERT_TRUE(validated.ok());
  EXPECT_EQ(validated->slo, absl::Microseconds(2500));  // the SLO itself is unchanged
  EXPECT_EQ(validated->deadline, kArrival + absl::Microseconds(1750));
  // From an earlier gRPC deadline too.
  validated = ValidateClassifyRequest(request, limits, kArrival, kArrival + absl::Milliseconds(1));
  ASSERT_TRUE(validated.ok());
  EXPECT_EQ(validated->deadline, kArrival + absl::Microseconds(250));
  // A reserve beyond the SLO is accepted; the deadline has then passed (the policy answers late).
  request.set_latency_slo_ms(0.5);
  validated = ValidateClassifyRequest(request, limits, kArrival, absl::InfiniteFuture());
  ASSERT_TRUE(validated.ok());
  EXPECT_EQ(validated->deadline, kArrival - absl::Microseconds(250));
}

TEST(RequestValidationTest, ExpiredGrpcDeadlineIsDeadlineExceeded) {
  absl::StatusOr<ValidatedRequest> validated = Validate(GoodRequest(), kArrival);
  EXPECT_EQ(validated.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(validated.status().message(), HasSubstr("deadline had passed"));
}

TEST(RequestValidationTest, CustomLimits) {
  ValidationLimits limits;
  limits.default_slo_ms = 7;
  limits.max_slo_ms = 50;
  limits.num_classes = 3;
  v1::ClassifyRequest request = GoodRequest();
  absl::StatusOr<ValidatedRequest> validated =
      ValidateClassifyRequest(request, limits, kArrival, absl::InfiniteFuture());
  ASSERT_TRUE(validated.ok());
  EXPECT_EQ(validated->slo, absl::Milliseconds(7));
  request.set_latency_slo_ms(51);
  EXPECT_THAT(
      ValidateClassifyRequest(request, limits, kArrival, absl::InfiniteFuture()).status().message(),
      HasSubstr("maximum of 50 ms"));
  request.set_latency_slo_ms(0);
  request.set_top_k(4);
  EXPECT_THAT(
      ValidateClassifyRequest(request, limits, kArrival, absl::InfiniteFuture()).status().message(),
      HasSubstr("must be in [0, 3]"));
}

TEST(RequestValidationTest, EchoedRequestIdIsCut) {
  v1::ClassifyRequest request;
  request.set_request_id(std::string(200, 'z'));
  EXPECT_EQ(EchoedRequestId(request, ValidationLimits()), std::string(128, 'z'));
}

}  // namespace
}  // namespace ternserve
