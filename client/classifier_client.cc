// Synchronous Ternserve client. See classifier_client.h.
#include "client/classifier_client.h"

#include <grpcpp/grpcpp.h>

#include <thread>
#include <utility>

#include "client/server_target.h"

namespace ternserve {

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

absl::StatusOr<std::unique_ptr<ClassifierClient>> ClassifierClient::Create(
    const std::string& target, const ClientSecurity& security) {
  absl::StatusOr<ServerTarget> parsed = ParseServerTarget(target);
  if (!parsed.ok()) return parsed.status();
  grpc::ChannelArguments args;
  ApplyClientServiceConfig(*parsed, kDefaultCallAttempts, &args);
  std::shared_ptr<grpc::Channel> channel = security.NewChannel(parsed->uri, std::move(args));
  if (channel == nullptr) {
    return absl::InvalidArgumentError("cannot create a channel to '" + target + "'");
  }
  return std::unique_ptr<ClassifierClient>(
      new ClassifierClient(target, security, std::move(channel)));
}

ClassifierClient::ClassifierClient(std::string target, const ClientSecurity& security,
                                   std::shared_ptr<grpc::Channel> channel)
    : target_(std::move(target)),
      security_(security),
      channel_(std::move(channel)),
      classifier_(v1::Classifier::NewStub(channel_)),
      health_(grpc::health::v1::Health::NewStub(channel_)) {}

void ClassifierClient::PrepareContext(grpc::ClientContext* context, absl::Duration timeout) const {
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  security_.PrepareContext(context);
}

absl::StatusOr<v1::ClassifyResponse> ClassifierClient::Classify(const v1::ClassifyRequest& request,
                                                                absl::Duration timeout) const {
  grpc::ClientContext context;
  PrepareContext(&context, timeout);
  v1::ClassifyResponse response;
  grpc::Status status = classifier_->Classify(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<std::vector<v1::ClassifyResponse>> ClassifierClient::ClassifyStream(
    const std::vector<v1::ClassifyRequest>& requests, absl::Duration timeout) const {
  grpc::ClientContext context;
  PrepareContext(&context, timeout);
  auto stream = classifier_->ClassifyStream(&context);
  // Write from a second thread so that a long request list never deadlocks on flow control while
  // responses wait to be read.
  std::thread writer([&] {
    for (const v1::ClassifyRequest& request : requests) {
      if (!stream->Write(request)) break;
    }
    stream->WritesDone();
  });
  std::vector<v1::ClassifyResponse> responses;
  v1::ClassifyResponse response;
  while (stream->Read(&response)) responses.push_back(response);
  writer.join();
  grpc::Status status = stream->Finish();
  if (!status.ok()) return FromGrpcStatus(status);
  return responses;
}

absl::StatusOr<v1::ModelInfo> ClassifierClient::GetModelInfo(absl::Duration timeout) const {
  grpc::ClientContext context;
  PrepareContext(&context, timeout);
  v1::ModelInfo info;
  grpc::Status status = classifier_->GetModelInfo(&context, v1::GetModelInfoRequest(), &info);
  if (!status.ok()) return FromGrpcStatus(status);
  return info;
}

absl::StatusOr<std::string> ClassifierClient::CheckHealth(absl::Duration timeout,
                                                          const std::string& service) const {
  grpc::ClientContext context;
  PrepareContext(&context, timeout);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = health_->Check(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

}  // namespace ternserve
