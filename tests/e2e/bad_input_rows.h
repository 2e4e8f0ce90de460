// The rows of tests/e2e/bad_input_e2e_test.cc's table and what builds them: a row is a name, the
// API whose good request must follow it, the server it runs on, the call it makes, and the code
// (and a phrase of the message) it must get. Builders start from the good request of
// bad_input_harness.h and change one thing. Header-only; thread-compatible.
#ifndef TERNSERVE_TESTS_E2E_BAD_INPUT_ROWS_H_
#define TERNSERVE_TESTS_E2E_BAD_INPUT_ROWS_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tests/e2e/bad_input_harness.h"

namespace ternserve::bad_input {

using Code = grpc::StatusCode;

enum class Api { kClassifier, kOip };
enum class On { kPlain, kTokenServer };

struct Row {
  std::string name;
  Api api;  // whose good request must be answered after the row
  On on;
  std::function<Outcome(const TestServer&)> send;
  Code code;
  std::string phrase;   // expected in the message; "" = not checked
  bool ok_too = false;  // OK is right too (a cancel that may come after the answer)
};

inline void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

inline std::string CodeName(Code code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// --- Row builders: a good request with one thing wrong. ---

inline Row ClassifyRow(std::string name, std::function<void(v1::ClassifyRequest&)> edit, Code code,
                       std::string phrase = "") {
  return {std::move(name),
          Api::kClassifier,
          On::kPlain,
          [edit](const TestServer& server) {
            v1::ClassifyRequest request = GoodClassifyRequest();
            edit(request);
            return bad_input::Classify(server, request);
          },
          code,
          std::move(phrase)};
}

inline Row InferRow(std::string name, std::function<void(inference::ModelInferRequest&)> edit,
                    Code code, std::string phrase = "") {
  return {std::move(name),
          Api::kOip,
          On::kPlain,
          [edit](const TestServer& server) {
            inference::ModelInferRequest request = GoodInferRequest();
            edit(request);
            return bad_input::Infer(server, request);
          },
          code,
          std::move(phrase)};
}

inline Row Custom(std::string name, Api api, std::function<Outcome(const TestServer&)> send,
                  Code code, std::string phrase = "") {
  return {std::move(name), api, On::kPlain, std::move(send), code, std::move(phrase)};
}

// A Classify or ModelInfer call to the token server with `authorization` (none if !present).
inline Row Token(std::string name, Api api, std::string authorization, bool present = true,
                 Code code = Code::UNAUTHENTICATED, std::string phrase = "") {
  return {std::move(name),
          api,
          On::kTokenServer,
          [api, authorization, present](const TestServer& server) {
            auto context = server.ContextWithAuthorization(authorization, present);
            return api == Api::kClassifier
                       ? bad_input::Classify(server, GoodClassifyRequest(), std::move(context))
                       : bad_input::Infer(server, GoodInferRequest(), std::move(context));
          },
          code,
          std::move(phrase)};
}

// --- Edits. ---

inline std::function<void(v1::ClassifyRequest&)> Pixel(int index, float value) {
  return [=](v1::ClassifyRequest& r) { r.mutable_pixels()->set_values(index, value); };
}
inline std::function<void(v1::ClassifyRequest&)> PixelCount(int n) {
  return [=](v1::ClassifyRequest& r) { r.mutable_pixels()->mutable_values()->Resize(n, 0.5f); };
}
inline std::function<void(v1::ClassifyRequest&)> Encoded(std::string bytes) {
  return [bytes = std::move(bytes)](v1::ClassifyRequest& r) { r.set_encoded(bytes); };
}
inline std::function<void(v1::ClassifyRequest&)> Slo(double ms) {
  return [=](v1::ClassifyRequest& r) { r.set_latency_slo_ms(ms); };
}
inline std::function<void(v1::ClassifyRequest&)> SetTopK(int k) {
  return [=](v1::ClassifyRequest& r) { r.set_top_k(k); };
}

inline std::function<void(inference::ModelInferRequest&)> RawPixel(size_t index, float value) {
  return [=](inference::ModelInferRequest& r) {
    std::memcpy(r.mutable_raw_input_contents(0)->data() + index * sizeof(float), &value,
                sizeof value);
  };
}
inline std::function<void(inference::ModelInferRequest&)> Shape(std::vector<int64_t> shape) {
  return [shape = std::move(shape)](inference::ModelInferRequest& r) {
    *r.mutable_inputs(0)->mutable_shape() = {shape.begin(), shape.end()};
  };
}
inline std::function<void(inference::ModelInferRequest&)> Parameter(
    std::string name, std::function<void(inference::InferParameter&)> set) {
  return [=](inference::ModelInferRequest& r) { set((*r.mutable_parameters())[name]); };
}
inline std::function<void(inference::ModelInferRequest&)> Timeout(int64_t us) {
  return Parameter("timeout", [us](inference::InferParameter& p) { p.set_int64_param(us); });
}
// Moves the raw pixels into contents.fp32_contents, keeping `keep` of them.
inline void ToTypedContents(inference::ModelInferRequest& r, int keep = 784) {
  const std::string raw = r.raw_input_contents(0);
  r.clear_raw_input_contents();
  for (int i = 0; i < keep; ++i) {
    float v;
    std::memcpy(&v, raw.data() + static_cast<size_t>(i % 784) * sizeof v, sizeof v);
    r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(v);
  }
}
// The good image `n` times, as one [n,1,28,28] request.
inline void ManyImages(inference::ModelInferRequest& r, int n) {
  r.mutable_inputs(0)->set_shape(0, n);
  std::string* raw = r.mutable_raw_input_contents(0);
  const std::string one = *raw;
  for (int i = 1; i < n; ++i) raw->append(one);
}
inline std::function<void(inference::ModelInferRequest&)> Output(std::string name, int64_t k) {
  return [=](inference::ModelInferRequest& r) {
    auto* output = r.add_outputs();
    output->set_name(name);
    if (k >= 0) (*output->mutable_parameters())["classification"].set_int64_param(k);
  };
}

// Names the served model in Metadata rows (known only once the bundle is read).
inline constexpr char kOurModel[] = "<ours>";

// An OIP metadata call naming `model_name` and `version`: NOT_FOUND, saying `phrase`.
inline Row Metadata(std::string name, std::string rpc, std::string model_name, std::string version,
                    std::string phrase) {
  return Custom(
      std::move(name), Api::kOip,
      [=](const TestServer& server) {
        const std::string model = model_name == kOurModel ? ModelName() : model_name;
        auto context = server.Context();
        if (rpc == "ModelMetadata") {
          inference::ModelMetadataRequest request;
          request.set_name(model);
          request.set_version(version);
          inference::ModelMetadataResponse response;
          return FromStatus(server.oip->ModelMetadata(context.get(), request, &response));
        }
        if (rpc == "ModelReady") {
          inference::ModelReadyRequest request;
          request.set_name(model);
          request.set_version(version);
          inference::ModelReadyResponse response;
          return FromStatus(server.oip->ModelReady(context.get(), request, &response));
        }
        if (rpc == "ModelConfig") {
          inference::ModelConfigRequest request;
          request.set_name(model);
          request.set_version(version);
          inference::ModelConfigResponse response;
          return FromStatus(server.oip->ModelConfig(context.get(), request, &response));
        }
        inference::ModelStatisticsRequest request;
        request.set_name(model);
        request.set_version(version);
        inference::ModelStatisticsResponse response;
        return FromStatus(server.oip->ModelStatistics(context.get(), request, &response));
      },
      Code::NOT_FOUND, std::move(phrase));
}

inline v1::ClassifyRequest WithId(v1::ClassifyRequest request, const std::string& id) {
  request.set_request_id(id);
  return request;
}
inline inference::ModelInferRequest WithId(inference::ModelInferRequest request,
                                           const std::string& id) {
  request.set_id(id);
  return request;
}

}  // namespace ternserve::bad_input

#endif  // TERNSERVE_TESTS_E2E_BAD_INPUT_ROWS_H_
