// ternserve-echo: a bare gRPC server implementing ternserve.v1.Classifier that answers every
// Classify, and every ClassifyStream message, at once with a fixed response of the real server's
// size (one Prediction, a SubnetRef, timings, deadline_met). It is the trivial server the load
// generator must outpace, and the "bare gRPC echo of the same message size" the server's overhead
// is measured against. Same stack as the real server (callback API, the same stream reactor
// (server/queued_bidi_reactor.h), default health service), no model, no scheduler.
//
// Exit codes: 0 after SIGTERM/SIGINT, 1 cannot listen, 2 bad flags.
#include <grpcpp/grpcpp.h>
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/queued_bidi_reactor.h"
#include "ternserve/v1/classifier.grpc.pb.h"
#include "util/flag_check.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "Address to listen on.");
ABSL_FLAG(int, port, 8011, "gRPC port. 0 picks a free port; see --port_file.");
ABSL_FLAG(std::string, port_file, "",
          "If set, the port actually listened on is written to this file (atomically) once "
          "serving.");

namespace ternserve {
namespace {

constexpr char kOwnFile[] = "bench/echo_server.cc";

// Thread-safe: every handler only reads the constant response.
class EchoClassifier final : public v1::Classifier::CallbackService {
 public:
  EchoClassifier() {
    v1::Prediction* top = response_.add_top_k();
    top->set_class_id(9);
    top->set_label("Ankle boot");
    top->set_probability(0.987f);
    response_.mutable_subnet()->set_id(5);
    response_.mutable_subnet()->set_name("d2.2.2-w16.32.64");
    response_.mutable_subnet()->set_expected_accuracy(0.9012);
    response_.set_queue_us(120);
    response_.set_compute_us(450);
    response_.set_batch_size(1);
    response_.set_deadline_met(true);
  }

  grpc::ServerUnaryReactor* Classify(grpc::CallbackServerContext* context,
                                     const v1::ClassifyRequest* request,
                                     v1::ClassifyResponse* response) override {
    *response = response_;
    response->set_request_id(request->request_id());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerBidiReactor<v1::ClassifyRequest, v1::ClassifyResponse>* ClassifyStream(
      grpc::CallbackServerContext* /*context*/) override {
    return new StreamReactor(&response_);
  }

  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const v1::GetModelInfoRequest* /*request*/,
                                         v1::ModelInfo* response) override {
    response->set_model_name("ternserve-echo");
    response->set_policy("echo");
    response->set_engine("none");
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  // Answers each message as it is read, with the request_id and an OK per-message status, as the
  // real server's stream does.
  class StreamReactor final : public QueuedBidiReactor<v1::ClassifyRequest, v1::ClassifyResponse> {
   public:
    explicit StreamReactor(const v1::ClassifyResponse* response) : response_(response) {
      StartReading();
    }

   private:
    void OnRequest(v1::ClassifyRequest* request) override {
      v1::ClassifyResponse response = *response_;
      response.set_request_id(request->request_id());
      response.mutable_status()->set_code(0);
      Answer(std::move(response));
    }

    const v1::ClassifyResponse* const response_;
  };

  v1::ClassifyResponse response_;
};

bool WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

int Main(int argc, char** argv) {
  // Blocked before any thread exists, so that only sigwait below receives them.
  sigset_t shutdown_signals;
  sigemptyset(&shutdown_signals);
  sigaddset(&shutdown_signals, SIGTERM);
  sigaddset(&shutdown_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &shutdown_signals, nullptr);

  SetUsage(kOwnFile,
           "A bare gRPC ternserve.v1.Classifier that answers every Classify (and ClassifyStream "
           "message) at once with a fixed response of the real server's size (for load generator "
           "and overhead measurements).\n\n"
           "Usage: ternserve-echo [--host H] [--port P] [--port_file FILE]");
  if (PrintHelpIfAsked(argc, argv, kOwnFile)) return 0;
  if (!PrevalidateFlags(argc, argv, "ternserve-echo", kOwnFile)) {
    std::fprintf(stderr, "Try --help.\n");
    return 2;
  }
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  const int port = absl::GetFlag(FLAGS_port);
  if (positional.size() > 1 || port < 0 || port > 65535) {
    std::fprintf(stderr, "ternserve-echo: %s\nTry --help.\n",
                 positional.size() > 1 ? "unexpected argument" : "--port must be in [0, 65535]");
    return 2;
  }
  const std::string host = absl::GetFlag(FLAGS_host);
  const std::string address = host.find(':') != std::string::npos
                                  ? absl::StrCat("[", host, "]:", port)
                                  : absl::StrCat(host, ":", port);

  // gRPC's mutexes are absl::Mutex here; absl's deadlock detection (on in Debian's build) records
  // a stack trace per lock and a global lock graph entry for every mutex gRPC creates per call.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  EchoClassifier service;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &bound_port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || bound_port == 0) {
    std::fprintf(stderr, "ternserve-echo: cannot listen on %s\n", address.c_str());
    return 1;
  }
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty() && !WritePortFile(port_file, bound_port)) {
    std::fprintf(stderr, "ternserve-echo: cannot write %s\n", port_file.c_str());
    server->Shutdown();
    return 1;
  }
  std::fprintf(stderr, "ternserve-echo: serving on %s:%d\n", host.c_str(), bound_port);

  int signal = 0;
  sigwait(&shutdown_signals, &signal);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server->Wait();
  return 0;
}

}  // namespace
}  // namespace ternserve

int main(int argc, char** argv) { return ternserve::Main(argc, argv); }
