// ternserve-cli: command-line client for a Ternserve server.
//
//   ternserve-cli classify --server ADDR (--image FILE.png|FILE.pgm | --idx FILE --index N)
//   [--slo_ms N]
//                          [--top_k K] [--json]
//   ternserve-cli info [--server ADDR] [--json]
//   ternserve-cli health [--server ADDR]
//
// Every command also takes the channel flags (client/channel_flags.h): --tls_ca, --tls_cert,
// --tls_key, --tls_server_name, --auth_token_file.
//
// Flags are absl flags, but each subcommand accepts only its own, so the argument loop below is
// ours: it finds each flag in absl's registry and lets absl parse the value. Exit codes: 0 success,
// 1 RPC error (the gRPC code name is printed), 2 usage error (bad flags, unreadable input).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/channel_flags.h"
#include "client/classifier_client.h"
#include "client/image_files.h"
#include "models/fashion_mnist.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, server, "127.0.0.1:8001",
          "Server address host:port; or replicas, as a list of IP addresses "
          "(127.0.0.1:8001,127.0.0.1:8002) or dns:///name:port: a call goes to one of those "
          "serving, and is retried on another if answered UNAVAILABLE (3 attempts in all).");
ABSL_FLAG(std::string, image, "", "A 28x28 PNG or binary PGM (P5) file to classify.");
ABSL_FLAG(std::string, idx, "",
          "An IDX images file (plain or .gz), e.g. "
          "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz; use with --index.");
ABSL_FLAG(int, index, -1, "Which image of the --idx file to classify (0-based).");
ABSL_FLAG(double, slo_ms, 0, "Latency SLO in ms (queue + compute). 0 = the server's default.");
ABSL_FLAG(double, min_accuracy, 0,
          "Accuracy floor in [0, 1]: only a sub-net whose expected accuracy is at least this may "
          "answer (OUT_OF_RANGE when none is that accurate). 0 = any sub-net.");
ABSL_FLAG(int, top_k, 1, "How many classes to show, 1..10.");
ABSL_FLAG(std::string, request_id, "", "Request id echoed back by the server.");
ABSL_FLAG(int, timeout_ms, 10000, "gRPC deadline for the call, in ms.");
ABSL_FLAG(bool, json, false, "Print exactly one JSON object on stdout instead of text.");

namespace ternserve {
namespace {

constexpr int kExitRpc = 1;
constexpr int kExitUsage = 2;

struct Subcommand {
  const char* name;
  const char* synopsis;
  const char* summary;
  std::vector<std::string> flags;
  int (*run)();
};

// A command's own flags, then the channel flags every command takes.
std::vector<std::string> WithChannelFlags(std::vector<std::string> flags) {
  flags.insert(flags.end(), ChannelFlagNames().begin(), ChannelFlagNames().end());
  return flags;
}

int RunClassify();
int RunInfo();
int RunHealth();

const std::vector<Subcommand>& Subcommands() {
  static const auto* subcommands = new std::vector<Subcommand>{
      {"classify",
       "classify --server ADDR (--image FILE | --idx FILE --index N) [--slo_ms N] [--min_accuracy "
       "A] [--top_k K] "
       "[--json]",
       "Classify one image and print the top classes, the sub-net used and the timings.",
       WithChannelFlags({"server", "image", "idx", "index", "slo_ms", "min_accuracy", "top_k",
                         "request_id", "timeout_ms", "json"}),
       &RunClassify},
      {"info", "info [--server ADDR] [--json]",
       "Print the served model: labels, sub-nets and accuracies, policy, engine.",
       WithChannelFlags({"server", "timeout_ms", "json"}), &RunInfo},
      {"health", "health [--server ADDR]",
       "Print the server's health status (SERVING, NOT_SERVING, ...); exit 0 only when SERVING.",
       WithChannelFlags({"server", "timeout_ms"}), &RunHealth},
  };
  return *subcommands;
}

void PrintTopUsage(FILE* out) {
  std::fprintf(out, "Usage: ternserve-cli <command> [flags]\n\nCommands:\n");
  for (const Subcommand& s : Subcommands()) std::fprintf(out, "  %-9s %s\n", s.name, s.summary);
  std::fprintf(out,
               "\nEvery command takes --tls_ca (TLS), --tls_cert/--tls_key (mutual TLS), "
               "--tls_server_name and --auth_token_file (a bearer token).\n"
               "Run 'ternserve-cli <command> --help' for the command's flags.\n");
}

void PrintUsage(const Subcommand& sub, FILE* out) {
  std::fprintf(out, "Usage: ternserve-cli %s\n\n%s\n\nFlags:\n", sub.synopsis, sub.summary);
  for (const std::string& name : sub.flags) {
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    std::fprintf(out, "  --%-16s %s (default: %s)\n", name.c_str(), flag->Help().c_str(),
                 flag->DefaultValue().empty() ? "none" : flag->DefaultValue().c_str());
  }
}

int UsageError(const Subcommand& sub, const std::string& message) {
  std::fprintf(
      stderr,
      "ternserve-cli %s: %s\nUsage: ternserve-cli %s\nRun 'ternserve-cli %s --help' for details.\n",
      sub.name, message.c_str(), sub.synopsis, sub.name);
  return kExitUsage;
}

// Parses argv[2..] as --name=value, --name value, --bool, --nobool. Returns -1 to go on, else an
// exit code.
int ParseFlags(const Subcommand& sub, int argc, char** argv) {
  auto allowed = [&](const std::string& name) {
    return std::find(sub.flags.begin(), sub.flags.end(), name) != sub.flags.end();
  };
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h" || arg == "-help") {
      PrintUsage(sub, stdout);
      return 0;
    }
    if (arg.rfind("-", 0) != 0)
      return UsageError(sub, absl::StrCat("unexpected argument '", arg, "'"));
    arg = arg.substr(arg.rfind("--", 0) == 0 ? 2 : 1);
    std::string name = arg, value;
    bool has_value = false;
    if (const size_t eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    absl::CommandLineFlag* flag = allowed(name) ? absl::FindCommandLineFlag(name) : nullptr;
    if (flag == nullptr && !has_value && name.rfind("no", 0) == 0 && allowed(name.substr(2))) {
      flag = absl::FindCommandLineFlag(name.substr(2));  // --nojson
      if (flag != nullptr && flag->IsOfType<bool>()) {
        name = name.substr(2);
        value = "false";
        has_value = true;
      } else {
        flag = nullptr;
      }
    }
    if (flag == nullptr) {
      return UsageError(sub, absl::StrCat("unknown flag --", name, " for '", sub.name, "'"));
    }
    if (!has_value) {
      if (flag->IsOfType<bool>()) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return UsageError(sub, absl::StrCat("--", name, " needs a value"));
      }
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return UsageError(sub, absl::StrCat("--", name, "=", value, ": ", error));
    }
  }
  return -1;
}

int RpcError(const absl::Status& status) {
  std::fprintf(stderr, "ternserve-cli: RPC failed: %s: %s\n",
               absl::StatusCodeToString(status.code()).c_str(),
               std::string(status.message()).c_str());
  return kExitRpc;
}

absl::Duration Timeout() { return absl::Milliseconds(absl::GetFlag(FLAGS_timeout_ms)); }

// Connects to --server with the channel flags; on failure prints the usage error and returns
// null.
std::unique_ptr<ClassifierClient> Connect(const Subcommand& sub) {
  absl::StatusOr<ClientSecurity> security = ClientSecurity::Load(ChannelOptionsFromFlags());
  if (!security.ok()) {
    UsageError(sub, std::string(security.status().message()));
    return nullptr;
  }
  absl::StatusOr<std::unique_ptr<ClassifierClient>> client =
      ClassifierClient::Create(absl::GetFlag(FLAGS_server), *security);
  if (!client.ok()) {
    UsageError(sub, std::string(client.status().message()));
    return nullptr;
  }
  return *std::move(client);
}

// Fills the request's image from --image or --idx/--index. Returns an error message, or "".
std::string LoadImage(v1::ClassifyRequest* request) {
  const std::string image = absl::GetFlag(FLAGS_image);
  const std::string idx = absl::GetFlag(FLAGS_idx);
  const int index = absl::GetFlag(FLAGS_index);
  if (image.empty() == idx.empty()) return "give exactly one of --image or --idx";
  if (!image.empty()) {
    if (index != -1) return "--index goes with --idx, not --image";
    absl::StatusOr<std::string> bytes = ReadFileBytes(image);
    if (!bytes.ok()) return std::string(bytes.status().message());
    request->set_encoded(*std::move(bytes));
    return "";
  }
  if (index < 0) return "--idx needs --index N (0-based)";
  absl::StatusOr<ImageSet> images = ReadIdxImages(idx);
  if (!images.ok()) return std::string(images.status().message());
  if (index >= images->count) {
    return absl::StrCat("--index=", index, " is out of range: ", idx, " has ", images->count,
                        " images");
  }
  std::vector<float> pixels;
  images->AppendImageAsFloat(index, &pixels);
  *request->mutable_pixels()->mutable_values() = {pixels.begin(), pixels.end()};
  return "";
}

nlohmann::json ClassifyResponseJson(const v1::ClassifyResponse& response) {
  nlohmann::json top_k = nlohmann::json::array();
  for (const v1::Prediction& p : response.top_k()) {
    top_k.push_back(
        {{"class_id", p.class_id()}, {"label", p.label()}, {"probability", p.probability()}});
  }
  return {{"request_id", response.request_id()},
          {"top_k", top_k},
          {"subnet",
           {{"id", response.subnet().id()},
            {"name", response.subnet().name()},
            {"expected_accuracy", response.subnet().expected_accuracy()}}},
          {"queue_us", response.queue_us()},
          {"compute_us", response.compute_us()},
          {"batch_size", response.batch_size()},
          {"deadline_met", response.deadline_met()}};
}

int RunClassify() {
  const Subcommand& sub = Subcommands()[0];
  v1::ClassifyRequest request;
  if (std::string error = LoadImage(&request); !error.empty()) return UsageError(sub, error);
  request.set_latency_slo_ms(absl::GetFlag(FLAGS_slo_ms));
  request.set_min_accuracy(absl::GetFlag(FLAGS_min_accuracy));
  request.set_top_k(absl::GetFlag(FLAGS_top_k));
  request.set_request_id(absl::GetFlag(FLAGS_request_id));
  std::unique_ptr<ClassifierClient> client = Connect(sub);
  if (client == nullptr) return kExitUsage;
  absl::StatusOr<v1::ClassifyResponse> response = client->Classify(request, Timeout());
  if (!response.ok()) return RpcError(response.status());
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << ClassifyResponseJson(*response).dump() << std::endl;
    return 0;
  }
  for (int i = 0; i < response->top_k_size(); ++i) {
    const v1::Prediction& p = response->top_k(i);
    std::string line = absl::StrFormat("%-12s %5.1f%%", p.label(), 100.0 * p.probability());
    if (i == 0) {
      absl::StrAppendFormat(&line,
                            "  (sub-net %d %s, batch %d, queue %d us, compute %d us, deadline %s)",
                            response->subnet().id(), response->subnet().name(),
                            response->batch_size(), response->queue_us(), response->compute_us(),
                            response->deadline_met() ? "met" : "missed");
    }
    std::cout << line << "\n";
  }
  return 0;
}

int RunInfo() {
  std::unique_ptr<ClassifierClient> client = Connect(Subcommands()[1]);
  if (client == nullptr) return kExitUsage;
  absl::StatusOr<v1::ModelInfo> info = client->GetModelInfo(Timeout());
  if (!info.ok()) return RpcError(info.status());
  if (absl::GetFlag(FLAGS_json)) {
    nlohmann::json subnets = nlohmann::json::array();
    for (const v1::SubnetInfo& s : info->subnets()) {
      subnets.push_back({{"id", s.id()},
                         {"name", s.name()},
                         {"depths", std::vector<int>(s.depths().begin(), s.depths().end())},
                         {"widths", std::vector<int>(s.widths().begin(), s.widths().end())},
                         {"macs", s.macs()},
                         {"params", s.params()},
                         {"val_accuracy", s.val_accuracy()},
                         {"test_accuracy", s.test_accuracy()},
                         {"sparsity", s.sparsity()}});
    }
    nlohmann::json json = {
        {"model_name", info->model_name()},
        {"labels", std::vector<std::string>(info->labels().begin(), info->labels().end())},
        {"subnets", subnets},
        {"latency_table", nlohmann::json::array()},
        {"policy", info->policy()},
        {"engine", info->engine()},
        {"quantizer", info->quantizer()},
        {"version", info->version()}};
    for (const v1::LatencyEntry& e : info->latency_table()) {
      json["latency_table"].push_back({{"subnet_id", e.subnet_id()},
                                       {"batch_size", e.batch_size()},
                                       {"p50_us", e.p50_us()},
                                       {"p99_us", e.p99_us()}});
    }
    std::cout << json.dump() << std::endl;
    return 0;
  }
  std::cout << absl::StrFormat("model %s (ternserve %s), engine %s, quantizer %s, policy %s\n",
                               info->model_name(), info->version(), info->engine(),
                               info->quantizer(), info->policy());
  std::cout << "labels: " << absl::StrJoin(info->labels(), ", ") << "\n";
  std::cout << absl::StrFormat("%4s  %-22s %12s %10s %8s %8s %8s\n", "id", "name", "MACs", "params",
                               "val acc", "test acc", "sparsity");
  for (const v1::SubnetInfo& s : info->subnets()) {
    std::cout << absl::StrFormat("%4d  %-22s %12d %10d %7.2f%% %7.2f%% %7.1f%%\n", s.id(), s.name(),
                                 s.macs(), s.params(), 100 * s.val_accuracy(),
                                 100 * s.test_accuracy(), 100 * s.sparsity());
  }
  return 0;
}

int RunHealth() {
  std::unique_ptr<ClassifierClient> client = Connect(Subcommands()[2]);
  if (client == nullptr) return kExitUsage;
  absl::StatusOr<std::string> status = client->CheckHealth(Timeout());
  if (!status.ok()) return RpcError(status.status());
  std::cout << *status << std::endl;
  return *status == "SERVING" ? 0 : kExitRpc;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    PrintTopUsage(stderr);
    return kExitUsage;
  }
  const std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    PrintTopUsage(stdout);
    return 0;
  }
  for (const Subcommand& sub : Subcommands()) {
    if (command != sub.name) continue;
    if (int exit_code = ParseFlags(sub, argc, argv); exit_code >= 0) return exit_code;
    return sub.run();
  }
  std::fprintf(stderr, "ternserve-cli: unknown command '%s'\n\n", command.c_str());
  PrintTopUsage(stderr);
  return kExitUsage;
}

}  // namespace
}  // namespace ternserve

int main(int argc, char** argv) { return ternserve::Main(argc, argv); }
