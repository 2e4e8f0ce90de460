"""A ternserve server and Python stubs for Open Inference Protocol tests, and their requests.

OipServerTest starts one server per test class (stubs generated into the work directory first) and
stops it with SIGTERM at the end, asserting exit status 0. Request builders and the native-API
reference answer live here so that tests read as the flows they walk.
"""

import pathlib
import struct

import grpc
import numpy as np

import fashion_mnist
import proto_stubs
from ternserve_process import TernserveProcess

RPC_TIMEOUT_S = 20
SLO_US = 5_000_000  # generous: these tests check answers, not deadlines
CLASSES = 10
PROBABILITY_TOLERANCE = 1e-5


def decode_bytes_tensor(raw):
    """A BYTES tensor's raw form (4-byte little-endian length, then the bytes, per element), as
    tritonclient's deserialize_bytes_tensor reads it. The test's own reader, not the client's."""
    elements, offset = [], 0
    while offset < len(raw):
        (length,) = struct.unpack_from("<I", raw, offset)
        elements.append(raw[offset + 4:offset + 4 + length])
        offset += 4 + length
    if offset != len(raw):
        raise AssertionError(f"BYTES tensor of {len(raw)} bytes ends mid-element at {offset}")
    return elements


class OipServerTest:
    """Mixin for unittest.TestCase: setUpClass calls set_up_server(args, name, flags);
    tearDownClass calls cls.server.assert_stops_cleanly()."""

    @classmethod
    def set_up_server(cls, args, name, flags):
        cls.args = args
        cls.work = pathlib.Path(args.work) / name
        cls.pb = proto_stubs.generate_and_import(args.source, cls.work / "stubs")
        cls.server = TernserveProcess(args, cls.work, "ternserve", flags)
        cls.addClassCleanup(cls.server.kill)
        cls.server.start()
        cls.channel = grpc.insecure_channel(cls.server.address)
        cls.addClassCleanup(cls.channel.close)
        cls.oip = cls.pb.grpc_service_pb2_grpc.GRPCInferenceServiceStub(cls.channel)
        cls.native = cls.pb.classifier_pb2_grpc.ClassifierStub(cls.channel)
        info = cls.native.GetModelInfo(cls.pb.classifier_pb2.GetModelInfoRequest(),
                                       timeout=RPC_TIMEOUT_S)
        cls.model = info.model_name
        cls.labels = list(info.labels)
        cls.images = fashion_mnist.read_images(count=32)

    # --- requests -------------------------------------------------------------------------------

    def infer_request(self, images, datatype="FP32", scale="unit", raw=True, shape=None):
        """A ModelInferRequest of uint8 images as `datatype`, FP32 pixels scaled per `scale`
        (unit: byte/255, byte: 0-255, inception: byte/127.5-1), in raw_input_contents or contents.
        shape: the input shape; default [N,1,28,28]."""
        pb = self.pb.grpc_service_pb2
        n = len(images)
        request = pb.ModelInferRequest(model_name=self.model, model_version="")
        request.parameters["timeout"].int64_param = SLO_US
        tensor = request.inputs.add(name="input", datatype=datatype,
                                    shape=shape or [n, 1, 28, 28])
        if datatype == "UINT8":
            values = np.asarray(images, dtype=np.uint8)
        else:
            values = self.scaled(images, scale)
            if scale != "unit":
                request.parameters["input_scale"].string_param = scale
        if raw:
            little_endian = values if datatype == "UINT8" else values.astype("<f4")
            request.raw_input_contents.append(little_endian.tobytes())
        elif datatype == "UINT8":
            tensor.contents.uint_contents.extend(int(v) for v in values.ravel())
        else:
            tensor.contents.fp32_contents.extend(float(v) for v in values.ravel())
        return request

    @staticmethod
    def scaled(images, scale):
        pixels = np.asarray(images, dtype=np.float32)
        if scale == "unit":
            return pixels / np.float32(255)
        if scale == "byte":
            return pixels
        if scale == "inception":
            return (pixels / np.float32(127.5) - np.float32(1)).astype(np.float32)
        raise ValueError(scale)

    def infer(self, request):
        return self.oip.ModelInfer(request, timeout=RPC_TIMEOUT_S)

    def probabilities_of(self, response, n):
        """The FP32 [n,10] probabilities output of a response, checked for shape and size."""
        self.assertEqual(len(response.outputs), 1, response.outputs)
        output = response.outputs[0]
        self.assertEqual((output.name, output.datatype, list(output.shape)),
                         ("probabilities", "FP32", [n, CLASSES]))
        self.assertEqual(len(response.raw_output_contents), 1)
        self.assertEqual(len(response.raw_output_contents[0]), n * CLASSES * 4)
        return np.frombuffer(response.raw_output_contents[0], dtype="<f4").reshape(n, CLASSES)

    # --- the native API's answer ----------------------------------------------------------------

    def native_answer(self, image):
        """(probabilities [10], sub-net id, expected accuracy) of ternserve.v1.Classifier/Classify
        for one uint8 image, sent as floats in [0, 1]."""
        pb = self.pb.classifier_pb2
        request = pb.ClassifyRequest(latency_slo_ms=SLO_US / 1000, top_k=CLASSES)
        request.pixels.values.extend(
            float(v) for v in (np.asarray(image, dtype=np.float32) / np.float32(255)).ravel())
        response = self.native.Classify(request, timeout=RPC_TIMEOUT_S)
        self.assertEqual(len(response.top_k), CLASSES)
        probabilities = np.zeros(CLASSES, dtype=np.float32)
        for prediction in response.top_k:
            probabilities[prediction.class_id] = prediction.probability
        return probabilities, response.subnet.id, response.subnet.expected_accuracy

    def assert_matches_native(self, images, probabilities, subnet_ids, what):
        """Each image's OIP probabilities and sub-net against the native answer for it."""
        for i, image in enumerate(images):
            native, native_subnet, _ = self.native_answer(image)
            self.assertEqual(int(subnet_ids[i]), native_subnet,
                             f"{what}: image {i} served by another sub-net than natively")
            self.assertEqual(int(np.argmax(probabilities[i])), int(np.argmax(native)),
                             f"{what}: image {i} top class")
            np.testing.assert_allclose(probabilities[i], native, rtol=0,
                                       atol=PROBABILITY_TOLERANCE,
                                       err_msg=f"{what}: image {i} probabilities")

    # --- errors ---------------------------------------------------------------------------------

    def assert_rpc_error(self, call, code, contains=(), what=""):
        """call() fails with status `code` and a message holding every regex of `contains`."""
        with self.assertRaises(grpc.RpcError, msg=f"{what}: succeeded, want {code.name}") as caught:
            call()
        error = caught.exception
        self.assertEqual(error.code(), code, f"{what}: {error.code().name}: {error.details()}")
        for pattern in contains:
            self.assertRegex(error.details() or "", pattern, f"{what}: message")
        return error
