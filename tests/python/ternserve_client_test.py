#!/usr/bin/python3
"""The Python client package's own logic (client/python/ternserve_client), without a server: how
images become the input tensor, the requests it builds, how it reads BYTES tensors, responses and
token files, and which channel options it refuses.

  tests/python/ternserve_client_test.py --source . --work /tmp/py
"""

import argparse
import pathlib
import struct
import sys
import unittest

import numpy as np

ARGS = None


def setUpModule():
    global client_lib, oip, channel, pb, STUBS_DIR
    sys.path.insert(0, str(pathlib.Path(ARGS.source) / "client" / "python"))
    from ternserve_client import channel, client as client_lib, oip, stubs
    STUBS_DIR = pathlib.Path(ARGS.work) / "ternserve_client_test" / "stubs"
    stubs.generate(STUBS_DIR, proto_root=pathlib.Path(ARGS.source) / "proto")
    pb = stubs.load(STUBS_DIR).grpc_service_pb2


def bytes_tensor(elements):
    return b"".join(struct.pack("<I", len(e)) + e for e in elements)


class ImageBatchTest(unittest.TestCase):
    def test_accepted_shapes_and_dtypes(self):
        image = np.arange(784, dtype=np.uint8).reshape(28, 28)
        cases = [
            ("one image", image, (1, 28, 28), np.uint8),
            ("[N,1,28,28]", np.stack([image[None]] * 3), (3, 28, 28), np.uint8),
            ("a list", [image, image], (2, 28, 28), np.uint8),
            ("float64 in [0,1]", image / 255.0, (1, 28, 28), np.dtype("<f4")),
        ]
        for what, images, shape, dtype in cases:
            with self.subTest(what):
                batch = oip.image_batch(images)
                self.assertEqual(batch.shape, shape)
                self.assertEqual(batch.dtype, dtype)

    def test_refusals(self):
        cases = [
            ("3 channels", np.zeros((2, 3, 28, 28), np.uint8), "shape"),
            ("27 columns", np.zeros((2, 28, 27), np.uint8), "shape"),
            ("no images", np.zeros((0, 28, 28), np.uint8), "no images"),
            ("int32", np.zeros((1, 28, 28), np.int32), "int32"),
            ("above 1", np.full((1, 28, 28), 1.5), r"\[0, 1\]"),
            ("negative", np.full((1, 28, 28), -0.1), r"\[0, 1\]"),
            ("NaN", np.full((1, 28, 28), np.nan), r"\[0, 1\]"),
        ]
        for what, images, message in cases:
            with self.subTest(what):
                with self.assertRaisesRegex(ValueError, message):
                    oip.image_batch(images)

    def test_input_tensor_is_little_endian_nchw(self):
        pixels = np.linspace(0, 1, 2 * 784, dtype=np.float32).reshape(2, 28, 28)
        datatype, shape, raw = oip.input_tensor(oip.image_batch(pixels))
        self.assertEqual((datatype, shape), ("FP32", [2, 1, 28, 28]))
        self.assertEqual(raw, struct.pack(f"<{2 * 784}f", *pixels.ravel()))
        datatype, shape, raw = oip.input_tensor(oip.image_batch(np.full((28, 28), 7, np.uint8)))
        self.assertEqual((datatype, shape, raw), ("UINT8", [1, 1, 28, 28], bytes([7]) * 784))


class BytesAndScoresTest(unittest.TestCase):
    def test_decode_round_trip_and_truncation(self):
        elements = [b"0.910000:9:Ankle boot", b"", b"0.050000:7:Sneaker"]
        self.assertEqual(oip.decode_bytes_tensor(bytes_tensor(elements)), elements)
        raw = bytes_tensor(elements)
        with self.assertRaisesRegex(ValueError, "runs past the end"):
            oip.decode_bytes_tensor(raw[:-1])
        with self.assertRaisesRegex(ValueError, "stray bytes"):
            oip.decode_bytes_tensor(raw + b"\x01\x00")

    def test_class_scores(self):
        self.assertEqual(oip.parse_class_score(b"0.500000:3:Dress"),
                         oip.ClassScore(3, "Dress", 0.5))
        self.assertEqual(oip.parse_class_score("0.1:2:a:b").label, "a:b")
        with self.assertRaisesRegex(ValueError, "score:index:label|<score>"):
            oip.parse_class_score(b"0.5-3-Dress")


class TokenAndChannelTest(unittest.TestCase):
    def test_token_is_the_first_real_line(self):
        path = pathlib.Path(ARGS.work) / "ternserve_client_test" / "token"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# comment\n\n   \n  s3cret \r\nsecond\n")
        self.assertEqual(channel.read_token(path), "s3cret")
        path.write_text("# only a comment\n\n")
        with self.assertRaisesRegex(ValueError, "holds no token"):
            channel.read_token(path)

    def test_targets(self):
        self.assertEqual(channel.resolve_target("127.0.0.1:8001"), ("127.0.0.1:8001", False))
        self.assertEqual(channel.resolve_target("127.0.0.1:8001, 127.0.0.1:8002"),
                         ("ipv4:127.0.0.1:8001,127.0.0.1:8002", True))
        self.assertEqual(channel.resolve_target("[::1]:8001,[::1]:8002"),
                         ("ipv6:[::1]:8001,[::1]:8002", True))
        self.assertEqual(channel.resolve_target("dns:///ternserve.ns.svc:8001"),
                         ("dns:///ternserve.ns.svc:8001", True))
        self.assertEqual(channel.resolve_target("unix:/run/t.sock"), ("unix:/run/t.sock", False))
        for spec, message in [("", "empty"), ("127.0.0.1:1,", "an empty entry"),
                              ("127.0.0.1:1,127.0.0.1", "has no port"),
                              ("127.0.0.1:0,127.0.0.1:2", r"\[1, 65535\]"),
                              ("a:1,b:2", "dns:///name:port"),
                              ("127.0.0.1:1,[::1]:2", "IPv4 and IPv6")]:
            with self.subTest(spec):
                with self.assertRaisesRegex(ValueError, message):
                    channel.resolve_target(spec)

    def test_service_config(self):
        import json
        config = json.loads(channel.service_config(3, True))
        self.assertEqual(config["loadBalancingConfig"], [{"round_robin": {}}])
        self.assertEqual(config["healthCheckConfig"], {"serviceName": ""})
        retry = config["methodConfig"][0]["retryPolicy"]
        self.assertEqual((retry["maxAttempts"], retry["retryableStatusCodes"]), (3, ["UNAVAILABLE"]))
        self.assertEqual(config["methodConfig"][0]["name"],
                         [{"service": "ternserve.v1.Classifier"},
                          {"service": "inference.GRPCInferenceService"}])
        self.assertEqual(json.loads(channel.service_config(1, False)),
                         {"loadBalancingConfig": [{"round_robin": {}}]})
        with self.assertRaisesRegex(ValueError, "max_attempts"):
            channel.make_channel("127.0.0.1:1", max_attempts=6)

    def test_refused_combinations(self):
        with self.assertRaisesRegex(ValueError, "go together"):
            channel.make_channel("localhost:1", tls_ca="ca.pem", tls_cert="c.pem")
        with self.assertRaisesRegex(ValueError, "need tls_ca"):
            channel.make_channel("localhost:1", tls_cert="c.pem", tls_key="k.pem")


class RequestAndResponseTest(unittest.TestCase):
    def client(self):
        # No RPC happens: gRPC connects lazily, and the model name is given.
        client = client_lib.InferenceClient("127.0.0.1:1", model_name="m", stubs_dir=STUBS_DIR)
        self.addCleanup(client.close)
        return client

    def test_request(self):
        floats = np.zeros((2, 28, 28), np.float32)
        request = self.client().infer_request(floats, slo_ms=12.5, top_k=3, request_id="r")
        self.assertEqual((request.model_name, request.id), ("m", "r"))
        self.assertEqual(request.parameters["timeout"].int64_param, 12500)
        self.assertEqual(request.parameters["input_scale"].string_param, "unit")
        self.assertEqual([(o.name, dict(o.parameters)) for o in request.outputs][0],
                         ("probabilities", {}))
        self.assertEqual(request.outputs[1].parameters["classification"].int64_param, 3)
        self.assertEqual(len(request.raw_input_contents[0]), 2 * 784 * 4)

        request = self.client().infer_request(np.zeros((28, 28), np.uint8), top_k=0)
        self.assertNotIn("timeout", request.parameters)  # 0: the server's default SLO
        self.assertNotIn("input_scale", request.parameters)  # UINT8 is 0-255 whatever the scale
        self.assertEqual(len(request.outputs), 1)
        with self.assertRaisesRegex(ValueError, "slo_ms"):
            self.client().infer_request(floats, slo_ms=-1)

    def response(self, top_k=2, subnets="4,5", timings=True):
        response = pb.ModelInferResponse(model_name="m", model_version="1")
        response.outputs.add(name="probabilities", datatype="FP32", shape=[2, 10])
        probabilities = np.full((2, 10), 0.05, dtype="<f4")
        probabilities[0, 9], probabilities[1, 0] = 0.55, 0.55
        response.raw_output_contents.append(probabilities.tobytes())
        response.outputs.add(name="probabilities", datatype="BYTES", shape=[2, top_k])
        response.raw_output_contents.append(bytes_tensor(
            [b"0.550000:9:Ankle boot", b"0.050000:0:T-shirt/top",
             b"0.550000:0:T-shirt/top", b"0.050000:1:Trouser"][:2 * top_k]))
        response.parameters["subnet_id"].string_param = subnets
        response.parameters["expected_accuracy"].string_param = "0.8812,0.9001"
        response.parameters["deadline_met"].string_param = "true,false"
        if timings:
            response.parameters["queue_us"].string_param = "120,95"
            response.parameters["compute_us"].string_param = "410,410"
        return response

    def test_response(self):
        results = client_lib.parse_response(self.response(), images=2, top_k=2)
        self.assertEqual([r.top_k[0] for r in results],
                         [oip.ClassScore(9, "Ankle boot", 0.55),
                          oip.ClassScore(0, "T-shirt/top", 0.55)])
        self.assertEqual([(r.subnet_id, r.expected_accuracy, r.deadline_met) for r in results],
                         [(4, 0.8812, True), (5, 0.9001, False)])
        self.assertAlmostEqual(float(results[1].probabilities[0]), 0.55, places=6)
        self.assertEqual([(r.queue_us, r.compute_us) for r in results], [(120, 410), (95, 410)])
        older = client_lib.parse_response(self.response(timings=False), images=2, top_k=2)
        self.assertEqual([(r.queue_us, r.compute_us) for r in older], [(None, None)] * 2)

    def test_malformed_responses(self):
        with self.assertRaisesRegex(ValueError, "subnet_id.*1 entries for 2 images"):
            client_lib.parse_response(self.response(subnets="4"), images=2, top_k=2)
        with self.assertRaisesRegex(ValueError, "BYTES output"):
            client_lib.parse_response(self.response(top_k=1), images=2, top_k=2)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--source", required=True)
    parser.add_argument("--work", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
