// One table of bad input for both APIs and the token check, against the real ternserve: each row
// sends one malformed request (or stream, or cancel) and names the status it must get, and after
// every row the same API must answer a good request right. The README's "What bad input gets"
// lists these rows in this order: change both together.
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/e2e/bad_input_harness.h"
#include "tests/e2e/bad_input_rows.h"
#include "tests/testing/hostile_pngs.h"
#include "tests/testing/test_images.h"

namespace ternserve::bad_input {
namespace {

using ::testing::HasSubstr;
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr size_t kMiB = size_t{1} << 20;

std::vector<Row> Table();

class BadInputE2eTest : public ::testing::TestWithParam<Row> {
 protected:
  static void SetUpTestSuite() {
    plain_ = new TestServer();
    token_ = new TestServer();
    token_->authorization = absl::StrCat("Bearer ", kToken);
    std::string dir = absl::StrCat(::testing::TempDir(), "/ternserve_bad_input_tokens_XXXXXX");
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    const std::string tokens = dir + "/tokens";
    std::ofstream(tokens) << "# the bad-input test's token\n" << kToken << "\n";
    // Both start (and profile) at once; each must then be serving.
    ASSERT_TRUE(plain_->Start({}).ok());
    ASSERT_TRUE(token_->Start({"--auth_token_file=" + tokens}).ok());
    for (TestServer* server : {plain_, token_}) {
      absl::Status serving = server->WaitUntilServing(absl::Seconds(120));
      ASSERT_TRUE(serving.ok()) << serving;
    }
  }

  static void TearDownTestSuite() {
    // Everything above was survived: both shut down cleanly.
    for (TestServer* server : {plain_, token_}) {
      absl::StatusOr<int> code = server->Stop();
      EXPECT_TRUE(code.ok()) << code.status();
      if (code.ok()) {
        EXPECT_EQ(*code, 0) << "ternserve's exit code";
      }
      delete server;
    }
  }

  static TestServer* plain_;
  static TestServer* token_;
};

TestServer* BadInputE2eTest::plain_ = nullptr;
TestServer* BadInputE2eTest::token_ = nullptr;

TEST_P(BadInputE2eTest, GetsItsCodeAndTheServerKeepsServing) {
  const Row& row = GetParam();
  TestServer& server = row.on == On::kPlain ? *plain_ : *token_;
  ASSERT_NE(server.classifier, nullptr) << "the server did not start";

  const Outcome got = row.send(server);
  if (!(row.ok_too && got.code == Code::OK)) {
    EXPECT_EQ(CodeName(got.code), CodeName(row.code)) << "message: " << got.message;
  }
  if (!row.phrase.empty() && got.code != Code::OK) {
    EXPECT_THAT(got.message, HasSubstr(row.phrase));
  }

  // The same API answers a good request right.
  ASSERT_TRUE(server.running()) << "ternserve died";
  if (row.api == Api::kClassifier) {
    v1::ClassifyResponse response;
    grpc::Status status =
        server.classifier->Classify(server.Context().get(), GoodClassifyRequest(), &response);
    ASSERT_TRUE(status.ok()) << "good request after the row: " << status.error_message();
    ExpectGoodClassifyAnswer(response);
  } else {
    inference::ModelInferResponse response;
    grpc::Status status =
        server.oip->ModelInfer(server.Context().get(), GoodInferRequest(), &response);
    ASSERT_TRUE(status.ok()) << "good request after the row: " << status.error_message();
    ExpectGoodInferAnswer(response);
  }
}

// The README's table lists these rows, in this order, each with its code first in its code column.
TEST(BadInputReadmeTest, TheReadmeTableListsEveryRowAndItsCode) {
  std::ifstream readme(TERNSERVE_README);
  ASSERT_TRUE(readme.good()) << TERNSERVE_README;
  std::vector<std::string> listed;
  bool in_section = false;
  for (std::string line; std::getline(readme, line);) {
    if (line.rfind("## ", 0) == 0) in_section = line == "## What bad input gets";
    // | `Name` | what is sent | CODE ... | message |
    if (!in_section || line.rfind("| `", 0) != 0) continue;
    const std::vector<std::string> cells = absl::StrSplit(line, " | ");
    ASSERT_GE(cells.size(), 3u) << line;
    listed.push_back(absl::StrCat(cells[0].substr(3, cells[0].size() - 4), " ", cells[2]));
  }
  std::vector<std::string> rows;
  for (const Row& row : Table()) rows.push_back(absl::StrCat(row.name, " ", CodeName(row.code)));
  ASSERT_EQ(listed.size(), rows.size()) << "rows in the README vs the test";
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(listed[i].substr(0, rows[i].size()), rows[i]) << "README row " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, BadInputE2eTest, ::testing::ValuesIn(Table()),
                         [](const ::testing::TestParamInfo<Row>& info) { return info.param.name; });

std::vector<Row> Table() {
  using testing::EncodePng;
  using testing::GreyPng;
  using testing::Pattern;
  using testing::Pgm;
  const auto kClassifier = Api::kClassifier;
  const auto kOip = Api::kOip;
  std::string grey16;  // 28x28 16-bit grey, host order as spng's encoder takes it
  for (uint8_t v : Pattern()) grey16 += std::string{static_cast<char>(v), static_cast<char>(v)};
  std::vector<uint8_t> out_of_palette(784, 3);
  out_of_palette[100] = 16;

  return {
      // ternserve.v1.Classifier: Classify.
      Custom(
          "EmptyMessage", kClassifier,
          [](const TestServer& s) { return bad_input::Classify(s, v1::ClassifyRequest()); },
          Code::INVALID_ARGUMENT, "request has no image"),
      ClassifyRow(
          "MissingImage", [](auto& r) { r.clear_pixels(); }, Code::INVALID_ARGUMENT,
          "request has no image"),
      ClassifyRow("NoPixels", PixelCount(0), Code::INVALID_ARGUMENT, "pixels has 0 values"),
      ClassifyRow("TooFewPixels", PixelCount(783), Code::INVALID_ARGUMENT,
                  "783 values, expected 784"),
      ClassifyRow("TooManyPixels", PixelCount(785), Code::INVALID_ARGUMENT, "785 values"),
      ClassifyRow("NanPixel", Pixel(17, kNan), Code::INVALID_ARGUMENT,
                  "pixel 17 is nan, not finite"),
      ClassifyRow("InfPixel", Pixel(0, kInf), Code::INVALID_ARGUMENT, "pixel 0 is inf, not finite"),
      ClassifyRow("MinusInfPixel", Pixel(783, -kInf), Code::INVALID_ARGUMENT, "not finite"),
      ClassifyRow("PixelAboveOne", Pixel(5, 255.0f), Code::INVALID_ARGUMENT, "outside [0, 1]"),
      ClassifyRow("NegativePixel", Pixel(5, -0.01f), Code::INVALID_ARGUMENT, "outside [0, 1]"),
      ClassifyRow("EmptyEncodedImage", Encoded(""), Code::INVALID_ARGUMENT,
                  "encoded image is empty"),
      ClassifyRow("EncodedImageOver1MiB", Encoded(std::string(2 * kMiB, 'P')),
                  Code::INVALID_ARGUMENT, "more than the limit of 1048576 bytes"),
      ClassifyRow("EncodedNeitherPngNorPgm", Encoded("GIF89a..."), Code::INVALID_ARGUMENT,
                  "neither a PNG nor a binary PGM"),
      ClassifyRow("PngGarbageAfterSignature", Encoded(testing::GarbageAfterSignaturePng()),
                  Code::INVALID_ARGUMENT, "not a valid PNG: header"),
      ClassifyRow("PngBombHeader100000x100000", Encoded(testing::HugeHeaderPng()),
                  Code::INVALID_ARGUMENT, "width exceeds user limit"),
      ClassifyRow("PngDecompressionBomb", Encoded(testing::DecompressionBombPng(100 * kMiB)),
                  Code::OK),
      ClassifyRow("PngNot28x28", Encoded(GreyPng(27, 28, Pattern(27 * 28))), Code::INVALID_ARGUMENT,
                  "PNG image is 27x28, expected 28x28"),
      ClassifyRow("Png16BitGrey", Encoded(EncodePng(28, 28, SPNG_COLOR_TYPE_GRAYSCALE, 16, grey16)),
                  Code::OK),
      ClassifyRow("PngPalette", Encoded(testing::PalettePng(16, uint8_t{3})), Code::OK),
      ClassifyRow("PngPaletteIndexOutOfRange", Encoded(testing::PalettePng(16, out_of_palette)),
                  Code::INVALID_ARGUMENT, "palette index 16, beyond the palette's 16 entries"),
      ClassifyRow(
          "PngPaletteWithoutPlte",
          Encoded(std::string(testing::kPngSignature, 8) + testing::IhdrChunk(28, 28, 8, 3) +
                  testing::PngChunk("IDAT", testing::Zlib(testing::Scanlines8(28, 0))) +
                  testing::PngChunk("IEND", "")),
          Code::INVALID_ARGUMENT, "missing PLTE"),
      ClassifyRow("PngTruncatedIdat", Encoded(testing::TruncatedIdatPng()), Code::INVALID_ARGUMENT,
                  "not a valid PNG: pixel data"),
      ClassifyRow("PngShortIdat", Encoded(testing::ShortIdatPng()), Code::INVALID_ARGUMENT,
                  "IDAT stream too short"),
      ClassifyRow("PngBadCrc", Encoded(testing::BadCrcPng()), Code::INVALID_ARGUMENT,
                  "invalid chunk checksum"),
      ClassifyRow("PngWithoutIend", Encoded(testing::NoIendPng()), Code::INVALID_ARGUMENT,
                  "after the pixel data"),
      ClassifyRow("Pgm16Bit", Encoded(Pgm("28 28 65535", Pattern())), Code::INVALID_ARGUMENT,
                  "maxval is 65535"),
      ClassifyRow("PgmTruncated", Encoded(Pgm("28 28 255", Pattern(700))), Code::INVALID_ARGUMENT,
                  "700 bytes of pixel data, expected 784"),
      ClassifyRow("PgmHugeHeaderToken", Encoded("P5\n" + std::string(500000, 'w') + " 28 255\n"),
                  Code::INVALID_ARGUMENT, "www...(500000 bytes)' is not a positive integer"),
      ClassifyRow("PlainPgmP2", Encoded("P2\n28 28 255\n0 0 0"), Code::INVALID_ARGUMENT, "P2"),
      ClassifyRow("NegativeSlo", Slo(-1), Code::INVALID_ARGUMENT, "must be >= 0"),
      ClassifyRow("NanSlo", Slo(std::nan("")), Code::INVALID_ARGUMENT, "not a finite number"),
      ClassifyRow("InfSlo", Slo(HUGE_VAL), Code::INVALID_ARGUMENT, "not a finite number"),
      ClassifyRow("SloAboveMax", Slo(60001), Code::INVALID_ARGUMENT,
                  "more than the server's maximum"),
      ClassifyRow("AbsurdSlo", Slo(1e300), Code::INVALID_ARGUMENT,
                  "more than the server's maximum"),
      ClassifyRow("ZeroSloMeansTheDefault", Slo(0), Code::OK),
      ClassifyRow("SloTooShortToMeet", Slo(1e-6), Code::DEADLINE_EXCEEDED),
      ClassifyRow("NegativeTopK", SetTopK(-1), Code::INVALID_ARGUMENT,
                  "top_k is -1, must be in [0, 10]"),
      ClassifyRow("TopKAboveClasses", SetTopK(11), Code::INVALID_ARGUMENT, "top_k is 11"),
      ClassifyRow("TopKInt32Max", SetTopK(std::numeric_limits<int32_t>::max()),
                  Code::INVALID_ARGUMENT, "top_k is 2147483647"),
      ClassifyRow(
          "RequestIdOver128Bytes", [](auto& r) { r.set_request_id(std::string(129, 'x')); },
          Code::INVALID_ARGUMENT, "request_id is 129 bytes"),
      ClassifyRow(
          "UnknownFieldSuchAsASubnet",
          [](auto& r) { r.GetReflection()->MutableUnknownFields(&r)->AddVarint(6, 999); },
          Code::OK),
      ClassifyRow("OversizedMessage", Encoded(std::string(5 * kMiB, 'P')),
                  Code::RESOURCE_EXHAUSTED),
      Custom(
          "DeadlineAlreadyPassed", kClassifier,
          [](const TestServer& s) {
            auto context = s.Context();
            context->set_deadline(std::chrono::system_clock::now() - std::chrono::seconds(1));
            return bad_input::Classify(s, GoodClassifyRequest(), std::move(context));
          },
          Code::DEADLINE_EXCEEDED),
      // Bytes that are no ClassifyRequest: the service parses them itself (raw methods), so they
      // get INVALID_ARGUMENT, not gRPC's UNIMPLEMENTED; the same bytes path serves a good one.
      Custom(
          "UnparsableMessage", kClassifier,
          [](const TestServer& s) {
            EXPECT_EQ(CodeName(CallRaw(s, "/ternserve.v1.Classifier/Classify",
                                       GoodClassifyRequest().SerializeAsString())
                                   .code),
                      "OK");
            return CallRaw(s, "/ternserve.v1.Classifier/Classify", "\x0a\xff\xff\xff\xff");
          },
          Code::INVALID_ARGUMENT,
          "could not be parsed: 5 bytes that are not a valid ternserve.v1.ClassifyRequest"),
      Custom(
          "UnknownMethod", kClassifier,
          [](const TestServer& s) { return CallRaw(s, "/ternserve.v1.Classifier/Nope", ""); },
          Code::UNIMPLEMENTED),
      {"ClientCancelsMidRequest", kClassifier, On::kPlain, ClassifyThenCancel, Code::CANCELLED, "",
       /*ok_too=*/true},

      // ternserve.v1.Classifier: ClassifyStream.
      Custom(
          "StreamHalfClosesAtOnce", kClassifier,
          [](const TestServer& s) {
            ClassifyStreamResult result = ClassifyStream(s, {});
            EXPECT_TRUE(result.responses.empty());
            return FromStatus(result.status);
          },
          Code::OK),
      Custom(
          "StreamHalfClosesWithARequestOutstanding", kClassifier,
          [](const TestServer& s) {
            ClassifyStreamResult result = ClassifyStream(s, {GoodClassifyRequest()});
            EXPECT_EQ(result.responses.size(), 1u);
            ExpectGoodClassifyAnswer(result.Answer("good"));
            return FromStatus(result.status);
          },
          Code::OK),
      Custom(
          "StreamSendsAfterABadMessage", kClassifier,
          [](const TestServer& s) {
            v1::ClassifyRequest bad = WithId(GoodClassifyRequest(), "bad");
            bad.mutable_pixels()->set_values(3, kNan);
            ClassifyStreamResult result = ClassifyStream(s, {bad, GoodClassifyRequest()});
            EXPECT_TRUE(result.status.ok()) << result.status.error_message();
            const v1::ClassifyResponse good = result.Answer("good");
            EXPECT_EQ(good.status().code(), 0) << good.status().message();
            ExpectGoodClassifyAnswer(good);
            const v1::ClassifyResponse answer = result.Answer("bad");
            return Outcome{static_cast<Code>(answer.status().code()), answer.status().message()};
          },
          Code::INVALID_ARGUMENT, "pixel 3 is nan"),
      Custom(
          "StreamEmptyMessage", kClassifier,
          [](const TestServer& s) {
            ClassifyStreamResult result = ClassifyStream(s, {v1::ClassifyRequest()});
            EXPECT_TRUE(result.status.ok()) << result.status.error_message();
            const v1::ClassifyResponse answer = result.Answer("");
            return Outcome{static_cast<Code>(answer.status().code()), answer.status().message()};
          },
          Code::INVALID_ARGUMENT, "request has no image"),
      // A message that does not parse is answered INVALID_ARGUMENT and the stream goes on: all 3
      // messages are answered. (With typed methods gRPC took it for the end of the stream.)
      Custom(
          "StreamUnparsableMessage", kClassifier,
          [](const TestServer& s) {
            RawStreamResult result =
                RawStream(s, "/ternserve.v1.Classifier/ClassifyStream",
                          {GoodClassifyRequest().SerializeAsString(), "\x0a\xff\xff\xff\xff",
                           GoodClassifyRequest().SerializeAsString()});
            EXPECT_TRUE(result.status.ok()) << result.status.error_message();
            EXPECT_EQ(result.answers, 3) << "of 3 messages";
            Outcome bad{Code::OK, ""};
            int good = 0;
            for (const std::string& bytes : result.answer_bytes) {
              v1::ClassifyResponse answer;
              EXPECT_TRUE(answer.ParseFromString(bytes));
              if (answer.status().code() == 0) {
                ExpectGoodClassifyAnswer(answer);
                ++good;
              } else {
                bad = Outcome{static_cast<Code>(answer.status().code()), answer.status().message()};
              }
            }
            EXPECT_EQ(good, 2);
            return bad;
          },
          Code::INVALID_ARGUMENT, "could not be parsed"),
      Custom(
          "StreamOversizedMessage", kClassifier,
          [](const TestServer& s) {
            v1::ClassifyRequest huge = GoodClassifyRequest();
            huge.set_encoded(std::string(5 * kMiB, 'P'));
            return FromStatus(ClassifyStream(s, {GoodClassifyRequest(), huge}).status);
          },
          Code::RESOURCE_EXHAUSTED),
      Custom(
          "StreamCancelledWithRequestsOutstanding", kClassifier,
          [](const TestServer& s) { return ClassifyStreamThenCancel(s, 16); }, Code::CANCELLED),

      // inference.GRPCInferenceService: ModelInfer.
      Custom(
          "OipEmptyMessage", kOip,
          [](const TestServer& s) { return bad_input::Infer(s, inference::ModelInferRequest()); },
          Code::NOT_FOUND, "unknown model ''"),
      InferRow(
          "OipUnknownModel", [](auto& r) { r.set_model_name("mnist"); }, Code::NOT_FOUND,
          "unknown model 'mnist'"),
      InferRow(
          "OipUnknownVersion", [](auto& r) { r.set_model_version("2"); }, Code::NOT_FOUND,
          "has no version '2'"),
      InferRow(
          "OipNoInputs", [](auto& r) { r.clear_inputs(); }, Code::INVALID_ARGUMENT,
          "the request has none"),
      InferRow(
          "OipWrongInputName", [](auto& r) { r.mutable_inputs(0)->set_name("x"); },
          Code::INVALID_ARGUMENT, "the request has 'x'"),
      InferRow(
          "OipTwoInputs", [](auto& r) { *r.add_inputs() = r.inputs(0); }, Code::INVALID_ARGUMENT,
          "the request has 'input', 'input'"),
      InferRow(
          "OipDatatypeFp16", [](auto& r) { r.mutable_inputs(0)->set_datatype("FP16"); },
          Code::INVALID_ARGUMENT, "datatype FP16 is not FP32 or UINT8"),
      InferRow(
          "OipNoDatatype", [](auto& r) { r.mutable_inputs(0)->clear_datatype(); },
          Code::INVALID_ARGUMENT, "is not FP32 or UINT8"),
      InferRow("OipShapeNegativeBatch", Shape({-1, 1, 28, 28}), Code::INVALID_ARGUMENT,
               "the batch dimension must be at least 1"),
      InferRow("OipShapeZeroBatch", Shape({0, 1, 28, 28}), Code::INVALID_ARGUMENT, "has 0 images"),
      InferRow("OipShapeNegativeDimension", Shape({1, -1, 28, 28}), Code::INVALID_ARGUMENT,
               "shape [1,-1,28,28] is not [N,1,28,28]"),
      InferRow("OipShapeOverflowingBatch", Shape({INT64_MAX, 1, 28, 28}), Code::INVALID_ARGUMENT,
               "more than max_batch_size 64"),
      InferRow("OipShapeOverflowingProduct", Shape({1, 1, INT64_C(1) << 32, INT64_C(1) << 32}),
               Code::INVALID_ARGUMENT, "is not [N,1,28,28]"),
      InferRow("OipShapeEmpty", Shape({}), Code::INVALID_ARGUMENT, "shape [] is not"),
      InferRow("OipShapeRank5", Shape({1, 1, 1, 28, 28}), Code::INVALID_ARGUMENT, "is not"),
      InferRow(
          "OipRawTooShort", [](auto& r) { r.mutable_raw_input_contents(0)->resize(3135); },
          Code::INVALID_ARGUMENT, "raw_input_contents holds 3135 bytes"),
      InferRow(
          "OipRawTooLong", [](auto& r) { r.mutable_raw_input_contents(0)->append(4, '\0'); },
          Code::INVALID_ARGUMENT, "holds 3140 bytes"),
      InferRow(
          "OipUint8RawWrongSize",
          [](auto& r) {
            r.mutable_inputs(0)->set_datatype("UINT8");  // 784 bytes, not 3136
          },
          Code::INVALID_ARGUMENT,
          "raw_input_contents holds 3136 bytes; shape [1,1,28,28] of UINT8 needs 784"),
      InferRow(
          "OipTwoRawEntries", [](auto& r) { r.add_raw_input_contents(r.raw_input_contents(0)); },
          Code::INVALID_ARGUMENT, "raw_input_contents has 2 entries for 1 input"),
      InferRow(
          "OipRawAndTypedContents",
          [](auto& r) { r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(0.5f); },
          Code::INVALID_ARGUMENT, "both contents and raw_input_contents"),
      InferRow(
          "OipNoData", [](auto& r) { r.clear_raw_input_contents(); }, Code::INVALID_ARGUMENT,
          "no data"),
      InferRow(
          "OipTypedContentsCountWrong", [](auto& r) { ToTypedContents(r, 783); },
          Code::INVALID_ARGUMENT, "784 values for the shape; the request has 783"),
      InferRow(
          "OipUint8InFp32Contents",
          [](auto& r) {
            ToTypedContents(r);
            r.mutable_inputs(0)->set_datatype("UINT8");
          },
          Code::INVALID_ARGUMENT, "UINT8 contents must be in contents.uint_contents"),
      InferRow(
          "OipUint8Above255",
          [](auto& r) {
            r.clear_raw_input_contents();
            r.mutable_inputs(0)->set_datatype("UINT8");
            for (int i = 0; i < 784; ++i)
              r.mutable_inputs(0)->mutable_contents()->add_uint_contents(i == 9 ? 256 : 0);
          },
          Code::INVALID_ARGUMENT, "UINT8 value 256 at element 9"),
      InferRow("OipNanPixel", RawPixel(40, kNan), Code::INVALID_ARGUMENT,
               "value nan at element 40"),
      InferRow("OipInfPixel", RawPixel(0, kInf), Code::INVALID_ARGUMENT, "value inf at element 0"),
      InferRow("OipPixelOutsideScale", RawPixel(1, 2.0f), Code::INVALID_ARGUMENT,
               "outside [0, 1], the range of input_scale=unit"),
      InferRow("OipNegativeTimeout", Timeout(-1), Code::INVALID_ARGUMENT, "must be >= 0"),
      InferRow("OipTimeoutAboveMax", Timeout(60'000'001), Code::INVALID_ARGUMENT,
               "more than the server's maximum"),
      InferRow("OipAbsurdTimeout", Timeout(INT64_MAX), Code::INVALID_ARGUMENT,
               "more than the server's maximum"),
      InferRow("OipTimeoutAsString",
               Parameter("timeout", [](auto& p) { p.set_string_param("5s"); }),
               Code::INVALID_ARGUMENT, "'timeout' must be an int64"),
      InferRow("OipTimeoutUint64Overflow",
               Parameter("timeout", [](auto& p) { p.set_uint64_param(UINT64_MAX); }),
               Code::INVALID_ARGUMENT, "'timeout' must be an int64"),
      InferRow("OipPriorityAsString",
               Parameter("priority", [](auto& p) { p.set_string_param("high"); }),
               Code::INVALID_ARGUMENT, "'priority' must be an int64"),
      InferRow("OipZeroTimeoutMeansTheDefault", Timeout(0), Code::OK),
      InferRow("OipTimeoutTooShortToMeet", Timeout(1), Code::DEADLINE_EXCEEDED),
      InferRow("OipUnknownParameter",
               Parameter("sequence_id", [](auto& p) { p.set_int64_param(1); }),
               Code::INVALID_ARGUMENT, "unknown request parameter 'sequence_id'"),
      InferRow("OipSubnetParameter", Parameter("subnet_id", [](auto& p) { p.set_int64_param(99); }),
               Code::INVALID_ARGUMENT, "unknown request parameter 'subnet_id'"),
      InferRow("OipBadInputScale",
               Parameter("input_scale", [](auto& p) { p.set_string_param("percent"); }),
               Code::INVALID_ARGUMENT, "input_scale 'percent' is not"),
      InferRow("OipInputScaleNotAString",
               Parameter("input_scale", [](auto& p) { p.set_int64_param(255); }),
               Code::INVALID_ARGUMENT, "'input_scale' must be a string_param"),
      InferRow("OipUnknownOutput", Output("logits", -1), Code::INVALID_ARGUMENT,
               "unknown output 'logits'"),
      InferRow("OipClassificationZero", Output("probabilities", 0), Code::INVALID_ARGUMENT,
               "classification count 0 is not in [1, 10]"),
      InferRow("OipClassificationEleven", Output("probabilities", 11), Code::INVALID_ARGUMENT,
               "classification count 11"),
      InferRow(
          "OipClassificationAsString",
          [](auto& r) {
            auto* output = r.add_outputs();
            output->set_name("probabilities");
            (*output->mutable_parameters())["classification"].set_string_param("3");
          },
          Code::INVALID_ARGUMENT, "'classification' must be an int64"),
      InferRow(
          "OipMoreImagesThanMaxBatchSize", [](auto& r) { ManyImages(r, 65); },
          Code::INVALID_ARGUMENT, "batch of 65 images is more than max_batch_size 64"),
      InferRow(
          "OipHugeModelName", [](auto& r) { r.set_model_name(std::string(100000, 'm')); },
          Code::NOT_FOUND, "mmm...(100000 bytes)'; this server serves"),
      InferRow("OipHugeParameterName",
               Parameter(std::string(100000, 'p'), [](auto& p) { p.set_int64_param(1); }),
               Code::INVALID_ARGUMENT, "ppp...(100000 bytes)' (known: timeout"),
      InferRow(
          "OipHugeDatatype",
          [](auto& r) { r.mutable_inputs(0)->set_datatype(std::string(100000, 'd')); },
          Code::INVALID_ARGUMENT, "ddd...(100000 bytes) is not FP32 or UINT8"),
      // 64 images, classification=10: 42 request bytes per output, 14 KB of response.
      InferRow(
          "OipTooManyOutputs",
          [](auto& r) {
            ManyImages(r, 64);
            for (int i = 0; i < 1000; ++i) {
              auto* output = r.add_outputs();
              output->set_name("probabilities");
              (*output->mutable_parameters())["classification"].set_int64_param(10);
            }
          },
          Code::INVALID_ARGUMENT, "asks for 1000 outputs; at most 16 may be requested"),
      InferRow(
          "OipIdOver128Bytes", [](auto& r) { r.set_id(std::string(129, 'x')); },
          Code::INVALID_ARGUMENT, "id is 129 bytes"),
      InferRow(
          "OipOversizedMessage", [](auto& r) { r.mutable_raw_input_contents(0)->resize(5 * kMiB); },
          Code::RESOURCE_EXHAUSTED),
      Custom(
          "OipUnparsableMessage", kOip,
          [](const TestServer& s) {
            EXPECT_EQ(CodeName(CallRaw(s, "/inference.GRPCInferenceService/ModelInfer",
                                       GoodInferRequest().SerializeAsString())
                                   .code),
                      "OK");
            return CallRaw(s, "/inference.GRPCInferenceService/ModelInfer", "\x3a\x05\x01");
          },
          Code::INVALID_ARGUMENT,
          "could not be parsed: 3 bytes that are not a valid inference.ModelInferRequest"),
      {"OipClientCancelsMidRequest", kOip, On::kPlain, InferThenCancel, Code::CANCELLED, "",
       /*ok_too=*/true},

      // inference.GRPCInferenceService: the metadata RPCs.
      Custom(
          "HealthOfAnUnknownService", kClassifier,
          [](const TestServer& s) {
            auto health = grpc::health::v1::Health::NewStub(s.channel);
            grpc::health::v1::HealthCheckRequest request;
            request.set_service("no.such.Service");
            grpc::health::v1::HealthCheckResponse response;
            return FromStatus(health->Check(s.Context().get(), request, &response));
          },
          Code::NOT_FOUND),
      Metadata("OipModelMetadataUnknownModel", "ModelMetadata", "mnist", "",
               "unknown model 'mnist'"),
      Metadata("OipModelReadyUnknownVersion", "ModelReady", kOurModel, "7", "has no version '7'"),
      Metadata("OipModelConfigUnknownModel", "ModelConfig", "mnist", "", "unknown model 'mnist'"),
      Metadata("OipModelStatisticsUnknownModel", "ModelStatistics", "mnist", "",
               "unknown model 'mnist'"),

      // inference.GRPCInferenceService: ModelStreamInfer.
      Custom(
          "OipStreamHalfClosesAtOnce", kOip,
          [](const TestServer& s) {
            InferStreamResult result = InferStream(s, {});
            EXPECT_TRUE(result.responses.empty());
            return FromStatus(result.status);
          },
          Code::OK),
      Custom(
          "OipStreamSendsAfterABadMessage", kOip,
          [](const TestServer& s) {
            inference::ModelInferRequest bad = WithId(GoodInferRequest(), "bad");
            bad.mutable_inputs(0)->set_datatype("INT8");
            InferStreamResult result = InferStream(s, {bad, GoodInferRequest()});
            EXPECT_TRUE(result.status.ok()) << result.status.error_message();
            const inference::ModelStreamInferResponse good = result.Answer("good");
            EXPECT_EQ(good.error_message(), "");
            ExpectGoodInferAnswer(good.infer_response());
            return StreamAnswerOutcome(result.Answer("bad"));
          },
          Code::INVALID_ARGUMENT, "datatype INT8"),
      Custom(
          "OipStreamUnknownModel", kOip,
          [](const TestServer& s) {
            inference::ModelInferRequest bad = WithId(GoodInferRequest(), "bad");
            bad.set_model_name("mnist");
            InferStreamResult result = InferStream(s, {bad});
            EXPECT_TRUE(result.status.ok()) << result.status.error_message();
            return StreamAnswerOutcome(result.Answer("bad"));
          },
          Code::NOT_FOUND, "unknown model 'mnist'"),
      Custom(
          "OipStreamHugeModelName", kOip,
          [](const TestServer& s) {
            inference::ModelInferRequest bad = WithId(GoodInferRequest(), "bad");
            bad.set_model_name(std::string(1 << 20, 'm'));
            InferStreamResult result = InferStream(s, {bad, GoodInferRequest()});
            EXPECT_TRUE(result.status.ok()) << result.status.error_message();
            EXPECT_EQ(result.Answer("good").error_message(), "");
            return StreamAnswerOutcome(result.Answer("bad"));
          },
          Code::NOT_FOUND, "mmm...(1048576 bytes)'; this server serves"),
      // As on ClassifyStream: the bad message is answered, the stream goes on.
      Custom(
          "OipStreamUnparsableMessage", kOip,
          [](const TestServer& s) {
            RawStreamResult result =
                RawStream(s, "/inference.GRPCInferenceService/ModelStreamInfer",
                          {GoodInferRequest().SerializeAsString(), "\x3a\x05\x01",
                           GoodInferRequest().SerializeAsString()});
            EXPECT_TRUE(result.status.ok()) << result.status.error_message();
            EXPECT_EQ(result.answers, 3) << "of 3 messages";
            Outcome bad{Code::OK, ""};
            int good = 0;
            for (const std::string& bytes : result.answer_bytes) {
              inference::ModelStreamInferResponse answer;
              EXPECT_TRUE(answer.ParseFromString(bytes));
              if (answer.error_message().empty()) {
                ExpectGoodInferAnswer(answer.infer_response());
                ++good;
              } else {
                bad = StreamAnswerOutcome(answer);
              }
            }
            EXPECT_EQ(good, 2);
            return bad;
          },
          Code::INVALID_ARGUMENT, "could not be parsed"),
      Custom(
          "OipStreamOversizedMessage", kOip,
          [](const TestServer& s) {
            inference::ModelInferRequest huge = GoodInferRequest();
            huge.mutable_raw_input_contents(0)->resize(5 * kMiB);
            return FromStatus(InferStream(s, {GoodInferRequest(), huge}).status);
          },
          Code::RESOURCE_EXHAUSTED),
      Custom(
          "OipStreamCancelledWithRequestsOutstanding", kOip,
          [](const TestServer& s) { return InferStreamThenCancel(s, 16); }, Code::CANCELLED),

      // --auth_token_file: a server that requires "authorization: Bearer <token>".
      Token("TokenMissing", kClassifier, "", /*present=*/false, Code::UNAUTHENTICATED,
            "requires 'authorization: Bearer <token>'"),
      Token("TokenWrong", kClassifier, "Bearer not-the-token", true, Code::UNAUTHENTICATED,
            "the bearer token is not valid"),
      Token("TokenNotBearer", kClassifier, absl::StrCat("Basic ", kToken), true,
            Code::UNAUTHENTICATED, "is not 'Bearer <token>'"),
      Token("TokenWithoutScheme", kClassifier, kToken, true, Code::UNAUTHENTICATED,
            "is not 'Bearer <token>'"),
      Token("TokenEmpty", kClassifier, "Bearer ", true, Code::UNAUTHENTICATED,
            "the bearer token is not valid"),
      Token("TokenWithTrailingSpace", kClassifier, absl::StrCat("Bearer ", kToken, " "), true,
            Code::UNAUTHENTICATED, "the bearer token is not valid"),
      Token("TokenOf4KB", kClassifier, absl::StrCat("Bearer ", std::string(4000, 't')), true,
            Code::UNAUTHENTICATED, "the bearer token is not valid"),
      // Over gRPC's 8 KiB of request metadata: refused by gRPC before our code, which also closes
      // the connection, failing its other calls UNAVAILABLE; so it gets a connection of its own.
      {"TokenOf100KB", kClassifier, On::kTokenServer,
       [](const TestServer& s) {
         auto stub = v1::Classifier::NewStub(s.NewConnection());
         v1::ClassifyResponse response;
         auto context =
             s.ContextWithAuthorization(absl::StrCat("Bearer ", std::string(100000, 't')));
         return FromStatus(stub->Classify(context.get(), GoodClassifyRequest(), &response));
       },
       Code::RESOURCE_EXHAUSTED, "metadata size exceeds limit"},
      Token("OipTokenMissing", kOip, "", /*present=*/false, Code::UNAUTHENTICATED,
            "requires 'authorization: Bearer <token>'"),
      Token("OipTokenWrong", kOip, "Bearer not-the-token", true, Code::UNAUTHENTICATED,
            "the bearer token is not valid"),
      {"StreamTokenMissing", kClassifier, On::kTokenServer,
       [](const TestServer& s) {
         ClassifyStreamResult result =
             ClassifyStream(s, {GoodClassifyRequest()}, s.ContextWithAuthorization("", false));
         EXPECT_TRUE(result.responses.empty());
         return FromStatus(result.status);
       },
       Code::UNAUTHENTICATED, "requires 'authorization: Bearer <token>'"},
      {"OipStreamTokenMalformed", kOip, On::kTokenServer,
       [](const TestServer& s) {
         InferStreamResult result = InferStream(
             s, {GoodInferRequest()}, s.ContextWithAuthorization(absl::StrCat("Bearer", kToken)));
         EXPECT_TRUE(result.responses.empty());
         return FromStatus(result.status);
       },
       Code::UNAUTHENTICATED, "is not 'Bearer <token>'"},
      {"OipMetadataTokenMissing", kOip, On::kTokenServer,
       [](const TestServer& s) {
         inference::ServerMetadataResponse response;
         return FromStatus(s.oip->ServerMetadata(s.ContextWithAuthorization("", false).get(),
                                                 inference::ServerMetadataRequest(), &response));
       },
       Code::UNAUTHENTICATED, ""},
      {"HealthNeedsNoToken", kClassifier, On::kTokenServer,
       [](const TestServer& s) {
         auto health = grpc::health::v1::Health::NewStub(s.channel);
         grpc::health::v1::HealthCheckResponse response;
         grpc::Status status = health->Check(s.ContextWithAuthorization("", false).get(),
                                             grpc::health::v1::HealthCheckRequest(), &response);
         EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
         return FromStatus(status);
       },
       Code::OK, ""},
      {"BadRequestWithAGoodToken", kClassifier, On::kTokenServer,
       [](const TestServer& s) { return bad_input::Classify(s, v1::ClassifyRequest()); },
       Code::INVALID_ARGUMENT, "request has no image"},
  };
}

}  // namespace
}  // namespace ternserve::bad_input
