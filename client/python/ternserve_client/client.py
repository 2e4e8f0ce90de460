"""InferenceClient: classifies images through a Ternserve server's Open Inference Protocol.

One ModelInfer call per classify(): the images of one call share one SLO, sent as the request
parameter `timeout` (microseconds), and come back with the probabilities, the top k classes (the
classification extension) and the per-image response parameters (docs/oip.md).

Thread-safe: a gRPC channel may be shared by threads, and the client keeps no other mutable state
than its cached model name and config (written once, the same by every thread).
"""

import numpy as np

from ternserve_client import channel as channel_lib
from ternserve_client import oip
from ternserve_client import stubs as stubs_lib


class InferenceClient:
    """Client of inference.GRPCInferenceService. Errors of the server raise grpc.RpcError, whose
    code() is the status docs/oip.md names; bad arguments raise ValueError."""

    def __init__(self, target="127.0.0.1:8001", *, model_name=None, tls_ca=None, tls_cert=None,
                 tls_key=None, tls_server_name=None, auth_token_file=None, rpc_timeout_s=10.0,
                 stubs_dir=None):
        """target: "host:port", a list of replicas "10.0.0.1:8001,10.0.0.2:8001" or
        "dns:///name:port" (channel.py: round-robin, UNAVAILABLE retried on another).
        model_name: None asks the server (RepositoryIndex, its one model).
        tls_ca: PEM roots that verify the server; setting it turns TLS on. tls_cert/tls_key: PEM
        client certificate and key, for a server that requires mutual TLS. auth_token_file: its
        first line that is not blank or '#' is sent as 'authorization: Bearer <token>' (read
        once, here). rpc_timeout_s: the gRPC deadline of every call; an SLO longer than it is cut
        to it by the server. stubs_dir: where the generated stubs are (see stubs.load)."""
        self._pb = stubs_lib.load(stubs_dir)
        self._metadata = ()
        if auth_token_file:
            token = channel_lib.read_token(auth_token_file)
            self._metadata = (("authorization", f"Bearer {token}"),)
        self._channel = channel_lib.make_channel(target, tls_ca, tls_cert, tls_key, tls_server_name)
        self._stub = self._pb.grpc_service_pb2_grpc.GRPCInferenceServiceStub(self._channel)
        self._timeout_s = rpc_timeout_s
        self._model_name = model_name
        self._config = None

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _call(self, method, request):
        return method(request, timeout=self._timeout_s, metadata=self._metadata)

    @property
    def model_name(self):
        if self._model_name is None:
            request = self._pb.grpc_service_pb2.RepositoryIndexRequest()
            index = self._call(self._stub.RepositoryIndex, request)
            if len(index.models) != 1:
                raise ValueError(f"the server lists {len(index.models)} models; pass model_name")
            self._model_name = index.models[0].name
        return self._model_name

    def model_config(self):
        """The model's inference.ModelConfig (cached)."""
        if self._config is None:
            request = self._pb.grpc_service_pb2.ModelConfigRequest(name=self.model_name)
            self._config = self._call(self._stub.ModelConfig, request).config
        return self._config

    def max_batch_size(self):
        """The most images one classify() call may carry."""
        return self.model_config().max_batch_size

    def is_ready(self):
        """True when the server and the model are ready."""
        pb = self._pb.grpc_service_pb2
        return (self._call(self._stub.ServerReady, pb.ServerReadyRequest()).ready and
                self._call(self._stub.ModelReady, pb.ModelReadyRequest(name=self.model_name)).ready)

    def infer_request(self, images, *, slo_ms=0, top_k=1, request_id=""):
        """The ModelInferRequest classify() sends, for callers that stream or inspect it."""
        if slo_ms < 0:
            raise ValueError(f"slo_ms is {slo_ms}; want >= 0 (0 = the server's --default_slo_ms)")
        if top_k < 0:
            raise ValueError(f"top_k is {top_k}; want 0 (none) or 1..10")
        pb = self._pb.grpc_service_pb2
        datatype, shape, raw = oip.input_tensor(oip.image_batch(images))
        request = pb.ModelInferRequest(model_name=self.model_name, id=request_id)
        request.inputs.add(name=oip.INPUT_NAME, datatype=datatype, shape=shape)
        request.raw_input_contents.append(raw)
        if datatype == "FP32":
            # Whatever the server's --input_scale: our floats are byte / 255.
            request.parameters["input_scale"].string_param = "unit"
        if slo_ms > 0:
            request.parameters["timeout"].int64_param = max(1, round(slo_ms * 1000))
        # The probabilities, and the same output again as the classification extension, so that
        # both come from one sub-net in one request. Ternserve answers each requested output in
        # order; Triton would refuse the repeated name.
        request.outputs.add(name=oip.OUTPUT_NAME)
        if top_k > 0:
            ranked = request.outputs.add(name=oip.OUTPUT_NAME)
            ranked.parameters["classification"].int64_param = top_k
        return request

    def classify(self, images, *, slo_ms=0, top_k=1, request_id=""):
        """Classifies the images in one request: a list of oip.Classification, in image order.

        images: [28,28], [N,28,28] or [N,1,28,28], uint8 (0-255) or floats in [0, 1]; N at most
        max_batch_size(). slo_ms: the request's latency SLO (queue and compute) in ms; 0 = the
        server's --default_slo_ms. top_k: how many classes to rank, 0..10.
        """
        request = self.infer_request(images, slo_ms=slo_ms, top_k=top_k, request_id=request_id)
        response = self._call(self._stub.ModelInfer, request)
        return parse_response(response, request.inputs[0].shape[0], top_k)


def parse_response(response, images, top_k):
    """The per-image Classification of a ModelInferResponse to InferenceClient's request."""
    probabilities, ranked = None, [[] for _ in range(images)]
    if len(response.raw_output_contents) != len(response.outputs):
        raise ValueError(f"the response has {len(response.outputs)} outputs and "
                         f"{len(response.raw_output_contents)} raw_output_contents")
    for output, raw in zip(response.outputs, response.raw_output_contents):
        if output.datatype == "FP32":
            classes = output.shape[1] if len(output.shape) == 2 else -1
            if list(output.shape[:1]) != [images] or classes * images * 4 != len(raw):
                raise ValueError(f"FP32 output of shape {list(output.shape)} and {len(raw)} bytes "
                                 f"for {images} images")
            probabilities = np.frombuffer(raw, dtype="<f4").reshape(images, classes)
        elif output.datatype == "BYTES":
            elements = oip.decode_bytes_tensor(raw)
            if list(output.shape) != [images, top_k] or len(elements) != images * top_k:
                raise ValueError(f"BYTES output of shape {list(output.shape)} with "
                                 f"{len(elements)} elements for {images} images, top {top_k}")
            for i in range(images):
                ranked[i] = [oip.parse_class_score(e) for e in elements[i * top_k:(i + 1) * top_k]]
        else:
            raise ValueError(f"output '{output.name}' has datatype {output.datatype}")
    if probabilities is None:
        raise ValueError("the response has no FP32 probabilities")
    if top_k > 0 and not ranked[0]:
        raise ValueError("the response has no classification output")
    subnets = oip.per_image_parameter(response.parameters, "subnet_id", images)
    accuracies = oip.per_image_parameter(response.parameters, "expected_accuracy", images)
    met = oip.per_image_parameter(response.parameters, "deadline_met", images)
    # Timings are newer than the other parameters: read them where the server sends them.
    timings = {name: [int(v) for v in oip.per_image_parameter(response.parameters, name, images)]
               if name in response.parameters else [None] * images
               for name in ("queue_us", "compute_us")}
    return [oip.Classification(probabilities=probabilities[i].copy(), top_k=ranked[i],
                               subnet_id=int(subnets[i]), expected_accuracy=float(accuracies[i]),
                               deadline_met=oip.parse_deadline_met(met[i]),
                               queue_us=timings["queue_us"][i],
                               compute_us=timings["compute_us"][i])
            for i in range(images)]
