#!/usr/bin/python3
"""The cross-language proof of Ternserve's Open Inference Protocol (docs/oip.md): Python stubs made
from the project's protos by the system protoc walk, RPC by RPC, what Triton's image_client.py and
perf_analyzer do against the real ternserve binary, and its answers on Fashion-MNIST test images
match the native API's (ternserve.v1.Classifier) for the same sub-net (--policy=fixed).

  tests/python/oip_flow_test.py --ternserve build/bin/ternserve --cli build/bin/ternserve-cli \
      --bundle build/testdata/e2e.tsn --profile build/testdata/e2e.profile.json --source . \
      --work /tmp/py  [unittest flags, e.g. -k Stream]
"""

import re
import time
import unittest

import grpc
import numpy as np

from oip_fixture import CLASSES, OipServerTest, RPC_TIMEOUT_S, decode_bytes_tensor
from ternserve_process import parse_test_args

MAX_IMAGES = 8  # --max_images_per_request: the model's max_batch_size
ARGS = None


class OipFlowTest(OipServerTest, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.set_up_server(ARGS, "oip_flow_test",
                          ["--policy=fixed", f"--max_images_per_request={MAX_IMAGES}"])

    @classmethod
    def tearDownClass(cls):
        cls.server.assert_stops_cleanly()

    def test_liveness_readiness_repository_and_health(self):
        pb = self.pb.grpc_service_pb2
        self.assertTrue(self.oip.ServerLive(pb.ServerLiveRequest(), timeout=RPC_TIMEOUT_S).live)
        self.assertTrue(self.oip.ServerReady(pb.ServerReadyRequest(), timeout=RPC_TIMEOUT_S).ready)
        for version in ("", "1"):
            ready = self.oip.ModelReady(pb.ModelReadyRequest(name=self.model, version=version),
                                        timeout=RPC_TIMEOUT_S)
            self.assertTrue(ready.ready, f"ModelReady version {version!r}")
        index = self.oip.RepositoryIndex(pb.RepositoryIndexRequest(), timeout=RPC_TIMEOUT_S)
        self.assertEqual([(m.name, m.version, m.state) for m in index.models],
                         [(self.model, "1", "READY")])
        health = self.pb.health_pb2_grpc.HealthStub(self.channel).Check(
            self.pb.health_pb2.HealthCheckRequest(), timeout=RPC_TIMEOUT_S)
        self.assertEqual(health.status, self.pb.health_pb2.HealthCheckResponse.SERVING)

    def test_image_client_flow(self):
        """image_client.py: parse_model() on the metadata and config, then ModelInfer of FP32 raw
        [N,1,28,28] asking for the top k through the classification extension."""
        pb = self.pb.grpc_service_pb2
        metadata = self.oip.ModelMetadata(pb.ModelMetadataRequest(name=self.model, version=""),
                                          timeout=RPC_TIMEOUT_S)
        config = self.oip.ModelConfig(pb.ModelConfigRequest(name=self.model, version=""),
                                      timeout=RPC_TIMEOUT_S).config
        self.assertEqual(len(metadata.inputs), 1, "image_client expects 1 input")
        self.assertEqual(len(metadata.outputs), 1, "image_client expects 1 output")
        self.assertEqual(len(config.input), 1, "image_client expects 1 input in the config")
        input_meta, output_meta = metadata.inputs[0], metadata.outputs[0]
        self.assertEqual(output_meta.datatype, "FP32")
        self.assertEqual(input_meta.datatype, "FP32")
        self.assertGreater(config.max_batch_size, 0)
        self.assertEqual(config.max_batch_size, MAX_IMAGES)
        # With batching, the input has 3 dimensions after the batch one.
        self.assertEqual(len(input_meta.shape), 3 + 1)
        self.assertEqual(input_meta.shape[0], -1)
        self.assertEqual(config.input[0].format, self.pb.model_config_pb2.ModelInput.FORMAT_NCHW)
        channels, height, width = input_meta.shape[1:]
        self.assertEqual((channels, height, width), (1, 28, 28))

        k, images = 3, self.images[:4]
        request = self.infer_request(images)
        request.id = "image_client-1"
        request.inputs[0].name = input_meta.name
        requested = request.outputs.add(name=output_meta.name)
        requested.parameters["classification"].int64_param = k
        response = self.infer(request)

        self.assertEqual((response.model_name, response.model_version, response.id),
                         (self.model, "1", "image_client-1"))
        self.assertEqual(len(response.outputs), 1)
        output = response.outputs[0]
        self.assertEqual((output.name, output.datatype, list(output.shape)),
                         (output_meta.name, "BYTES", [len(images), k]))
        self.assertEqual(len(response.raw_output_contents), 1)
        elements = decode_bytes_tensor(response.raw_output_contents[0])
        self.assertEqual(len(elements), len(images) * k)
        subnets = response.parameters["subnet_id"].string_param.split(",")
        accuracies = response.parameters["expected_accuracy"].string_param.split(",")
        self.assertEqual(response.parameters["deadline_met"].string_param,
                         ",".join(["true"] * len(images)))
        self.assertEqual(len(subnets), len(images))
        self.assertEqual(len(accuracies), len(images))
        for name in ("queue_us", "compute_us"):
            entries = response.parameters[name].string_param.split(",")
            self.assertEqual(len(entries), len(images), f"{name}: {entries}")
            self.assertTrue(all(e.isdigit() for e in entries), f"{name}: {entries}")
        self.assertGreater(min(int(e) for e in
                               response.parameters["compute_us"].string_param.split(",")), 0)
        for i, image in enumerate(images):
            native, native_subnet, native_accuracy = self.native_answer(image)
            self.assertEqual(int(subnets[i]), native_subnet, f"image {i} sub-net")
            self.assertAlmostEqual(float(accuracies[i]), native_accuracy, delta=5e-5 + 1e-9)
            ranked = [e.decode() for e in elements[i * k:(i + 1) * k]]
            want = np.argsort(-native, kind="stable")[:k]
            for rank, element in enumerate(ranked):
                match = re.fullmatch(r"(\d+\.\d{6}):(\d+):(.+)", element)
                self.assertIsNotNone(match, f"{element!r} is not score:index:label")
                score, index, label = float(match[1]), int(match[2]), match[3]
                self.assertEqual(label, self.labels[index], element)
                self.assertAlmostEqual(score, native[index], delta=1e-5 + 5e-7, msg=element)
                if rank == 0:
                    self.assertEqual(index, want[0], f"image {i}: top class")
                else:
                    self.assertGreaterEqual(float(ranked[rank - 1].split(":")[0]), score)

    def test_perf_analyzer_flow(self):
        """perf_analyzer: ServerMetadata, ModelMetadata and ModelConfig must agree; ModelStatistics
        before and after a window of ModelInfer calls counts exactly what was sent."""
        pb = self.pb.grpc_service_pb2
        server = self.oip.ServerMetadata(pb.ServerMetadataRequest(), timeout=RPC_TIMEOUT_S)
        self.assertEqual(server.name, "ternserve")
        self.assertTrue(server.version)
        self.assertEqual(set(server.extensions) & {"statistics", "classification",
                                                   "model_configuration"},
                         {"statistics", "classification", "model_configuration"})
        metadata = self.oip.ModelMetadata(pb.ModelMetadataRequest(name=self.model),
                                          timeout=RPC_TIMEOUT_S)
        config = self.oip.ModelConfig(pb.ModelConfigRequest(name=self.model),
                                      timeout=RPC_TIMEOUT_S).config
        self.assertEqual(config.name, self.model)
        dtype_name = self.pb.model_config_pb2.DataType.Name
        for kind, configured, described in (("input", config.input, metadata.inputs),
                                            ("output", config.output, metadata.outputs)):
            by_name = {t.name: t for t in described}
            self.assertEqual(len(configured), len(described), kind)
            for tensor in configured:
                self.assertIn(tensor.name, by_name, f"config {kind} not in the metadata")
                meta = by_name[tensor.name]
                self.assertEqual(dtype_name(tensor.data_type), "TYPE_" + meta.datatype)
                self.assertEqual(list(meta.shape), [-1, *tensor.dims], tensor.name)

        def statistics():
            stats = self.oip.ModelStatistics(pb.ModelStatisticsRequest(name=self.model, version=""),
                                             timeout=RPC_TIMEOUT_S).model_stats
            self.assertEqual(len(stats), 1)
            self.assertEqual(stats[0].name, self.model)
            self.assertTrue(stats[0].version.isdigit(), f"version {stats[0].version!r}")
            return stats[0]

        requests, per_request = 5, 3
        before = statistics()
        window_start_ms = time.time() * 1000
        for r in range(requests):
            first = per_request * r
            self.infer(self.infer_request(self.images[first:first + per_request]))
        window_end_ms = time.time() * 1000
        after = statistics()

        def delta(field):
            value_after, value_before = after, before
            for name in field.split("."):
                value_after, value_before = getattr(value_after, name), getattr(value_before, name)
            return value_after - value_before

        images = requests * per_request
        self.assertEqual(delta("inference_stats.success.count"), requests)
        self.assertGreater(delta("inference_stats.success.ns"), 0)
        self.assertEqual(delta("inference_stats.fail.count"), 0)
        self.assertEqual(delta("inference_count"), images)
        self.assertEqual(delta("inference_stats.queue.count"), images)
        self.assertEqual(delta("inference_stats.compute_infer.count"), images)
        executions = delta("execution_count")
        self.assertGreaterEqual(executions, 1)
        self.assertLessEqual(executions, images)
        batches = {b.batch_size: b.compute_infer.count for b in before.batch_stats}
        batch_deltas = {b.batch_size: b.compute_infer.count - batches.get(b.batch_size, 0)
                        for b in after.batch_stats}
        self.assertEqual(sum(batch_deltas.values()), executions, f"batch_stats {batch_deltas}")
        self.assertEqual(sum(size * n for size, n in batch_deltas.items()), images)
        self.assertGreaterEqual(after.last_inference, int(window_start_ms) - 1)
        self.assertLessEqual(after.last_inference, int(window_end_ms) + 1)
        every = self.oip.ModelStatistics(pb.ModelStatisticsRequest(), timeout=RPC_TIMEOUT_S)
        self.assertEqual([s.name for s in every.model_stats], [self.model])

    def test_answers_match_native_api_for_every_encoding(self):
        images = self.images[4:4 + MAX_IMAGES]
        encodings = {
            "FP32 raw [N,1,28,28] unit": dict(),
            "FP32 contents [N,784] unit": dict(raw=False, shape=[len(images), 784]),
            "FP32 raw input_scale=byte": dict(scale="byte"),
            "FP32 raw input_scale=inception": dict(scale="inception"),
            "UINT8 raw [N,1,28,28]": dict(datatype="UINT8"),
            "UINT8 contents [N,28,28]": dict(datatype="UINT8", raw=False,
                                             shape=[len(images), 28, 28]),
        }
        for what, encoding in encodings.items():
            with self.subTest(what):
                response = self.infer(self.infer_request(images, **encoding))
                probabilities = self.probabilities_of(response, len(images))
                subnets = response.parameters["subnet_id"].string_param.split(",")
                self.assert_matches_native(images, probabilities, subnets, what)

    def test_stream_infer_answers_each_request_and_survives_a_bad_one(self):
        good_a, good_c = self.infer_request(self.images[:2]), self.infer_request(self.images[2:3])
        good_a.id, good_c.id = "a", "c"
        bad = self.infer_request(self.images[:1])
        bad.id = "b"
        bad.inputs[0].datatype = "INT32"
        answers = {}
        for answer in self.oip.ModelStreamInfer(iter([good_a, bad, good_c]),
                                                timeout=RPC_TIMEOUT_S):
            self.assertNotIn(answer.infer_response.id, answers, "two answers for one id")
            answers[answer.infer_response.id] = answer
        self.assertEqual(sorted(answers), ["a", "b", "c"])
        for request_id, images in (("a", self.images[:2]), ("c", self.images[2:3])):
            answer = answers[request_id]
            self.assertEqual(answer.error_message, "", request_id)
            probabilities = self.probabilities_of(answer.infer_response, len(images))
            subnets = answer.infer_response.parameters["subnet_id"].string_param.split(",")
            self.assert_matches_native(images, probabilities, subnets, f"stream {request_id}")
        failed = answers["b"]
        self.assertRegex(failed.error_message, r"['\"]input['\"]")
        self.assertEqual(failed.infer_response.parameters["code"].int64_param,
                         grpc.StatusCode.INVALID_ARGUMENT.value[0])

    def test_errors_have_the_documented_codes(self):
        pb = self.pb.grpc_service_pb2
        invalid, not_found = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
        names_input = r"['\"]input['\"]"

        def mutated(change, images=None):
            request = self.infer_request(self.images[:2] if images is None else images)
            change(request)
            return request

        def set_attr(path, value):
            def change(request):
                target = request
                *parents, last = path.split(".")
                for name in parents:
                    target = getattr(target, name)[0] if name == "inputs" else getattr(target, name)
                setattr(target, last, value)
            return change

        def add_output(name, **params):
            def change(request):
                output = request.outputs.add(name=name)
                for key, k in params.items():
                    output.parameters[key].int64_param = k
            return change

        def set_parameter(name, **value):
            def change(request):
                request.parameters[name].CopyFrom(self.pb.grpc_service_pb2.InferParameter(**value))
            return change

        def narrow(request):
            request.inputs[0].shape[3] = 27

        def both(request):
            request.inputs[0].contents.fp32_contents.extend([0.5] * 2 * 784)

        def short_raw(request):
            request.raw_input_contents[0] = request.raw_input_contents[0][:-4]

        def out_of_range(request):
            pixels = np.frombuffer(request.raw_input_contents[0], dtype="<f4").copy()
            pixels[100] = 1.5
            request.raw_input_contents[0] = pixels.tobytes()

        cases = [
            ("unknown model", set_attr("model_name", "no_such_model"), not_found,
             ["no_such_model"]),
            ("version 2", set_attr("model_version", "2"), not_found, []),
            ("wrong datatype", set_attr("inputs.datatype", "INT32"), invalid, [names_input]),
            ("wrong shape", narrow, invalid, [names_input]),
            ("byte size mismatch", short_raw, invalid, [names_input]),
            ("contents and raw", both, invalid, [names_input]),
            ("neither contents nor raw", lambda r: r.ClearField("raw_input_contents"), invalid,
             [names_input]),
            ("wrong input name", set_attr("inputs.name", "pixels"), invalid, ["pixels"]),
            ("wrong output name", add_output("logits"), invalid, ["logits"]),
            ("pixel out of range", out_of_range, invalid, [names_input]),
            ("classification k=11", add_output("probabilities", classification=11), invalid,
             ["classification"]),
            ("negative timeout", set_parameter("timeout", int64_param=-1), invalid, ["timeout"]),
            ("unknown input_scale", set_parameter("input_scale", string_param="kelvin"), invalid,
             ["input_scale"]),
        ]
        for what, change, code, contains in cases:
            with self.subTest(what):
                request = mutated(change)
                self.assert_rpc_error(lambda: self.infer(request), code, contains, what)
        with self.subTest("batch above max_batch_size"):
            request = self.infer_request(self.images[:MAX_IMAGES + 1])
            self.assert_rpc_error(lambda: self.infer(request), invalid, [names_input], "batch")
        for rpc, request in (
                ("ModelMetadata", pb.ModelMetadataRequest(name="no_such_model")),
                ("ModelConfig", pb.ModelConfigRequest(name="no_such_model")),
                ("ModelReady", pb.ModelReadyRequest(name=self.model, version="2")),
                ("ModelStatistics", pb.ModelStatisticsRequest(name="no_such_model"))):
            with self.subTest(rpc):
                method = getattr(self.oip, rpc)
                self.assert_rpc_error(lambda: method(request, timeout=RPC_TIMEOUT_S), not_found,
                                      [], rpc)
        # And the server still answers.
        probabilities = self.probabilities_of(self.infer(self.infer_request(self.images[:1])), 1)
        self.assertEqual(probabilities.shape, (1, CLASSES))


if __name__ == "__main__":
    ARGS = parse_test_args()
    unittest.main(verbosity=2)
