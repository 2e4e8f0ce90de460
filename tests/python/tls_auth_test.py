#!/usr/bin/python3
"""TLS, mutual TLS and bearer-token authentication of the real ternserve binary, seen from Python
(grpc.ssl_channel_credentials), from ternserve-cli, and from the Python client package and its
example: what is refused is refused with the documented code, what is allowed works, the
UNAUTHENTICATED calls are counted in the metrics, SIGHUP rotates the tokens, and no token ever
reaches the server's output.

  tests/python/tls_auth_test.py --ternserve build/bin/ternserve --cli build/bin/ternserve-cli \
      --bundle build/testdata/e2e.tsn --profile build/testdata/e2e.profile.json --source . \
      --work /tmp/py  [unittest flags, e.g. -k rotation]
"""

import json
import pathlib
import re
import secrets
import signal
import subprocess
import sys
import unittest
import urllib.request

import grpc
import numpy as np
from PIL import Image

import certificates
import fashion_mnist
import proto_stubs
from ternserve_process import TernserveProcess, parse_test_args

ARGS = None
RPC_TIMEOUT_S = 20
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def unauthenticated_total(metrics_url):
    """ternserve_requests_total{code="UNAUTHENTICATED"} (0 before the first one)."""
    with urllib.request.urlopen(metrics_url, timeout=RPC_TIMEOUT_S) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        match = re.match(r"ternserve_requests_total\{([^}]*)\} (\S+)$", line)
        if match and re.search(r'(^|,)code="UNAUTHENTICATED"(,|$)', match[1]):
            total += float(match[2])
    return total


class TlsAuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = pathlib.Path(ARGS.work) / "tls_auth_test"
        cls.stubs_dir = cls.work / "stubs"
        cls.pb = proto_stubs.generate_and_import(ARGS.source, cls.stubs_dir)
        cls.pki = certificates.make_test_pki(cls.work / "pki")
        cls.images = fashion_mnist.read_images(count=4)

    # --- plumbing -------------------------------------------------------------------------------

    def start_server(self, name, flags):
        server = TernserveProcess(ARGS, self.work, name, flags)
        self.addCleanup(server.kill)
        return server.start()

    def channel(self, target, ca=None, cert=None, key=None):
        """Plaintext without ca; TLS verifying the server with ca; a client certificate with
        cert/key. Each channel its own connection (no subchannel shared across tests)."""
        options = [("grpc.use_local_subchannel_pool", 1)]
        if ca is None:
            channel = grpc.insecure_channel(target, options=options)
        else:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(ca), private_key=_read(key) if key else None,
                certificate_chain=_read(cert) if cert else None)
            channel = grpc.secure_channel(target, credentials, options=options)
        self.addCleanup(channel.close)
        return channel

    def live(self, channel, metadata=()):
        stub = self.pb.grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        return stub.ServerLive(self.pb.grpc_service_pb2.ServerLiveRequest(),
                               timeout=RPC_TIMEOUT_S, metadata=metadata).live

    def model_infer(self, channel, model, metadata=()):
        """One FP32 image through ModelInfer: its probabilities."""
        pb = self.pb.grpc_service_pb2
        request = pb.ModelInferRequest(model_name=model)
        request.inputs.add(name="input", datatype="FP32", shape=[1, 1, 28, 28])
        request.raw_input_contents.append(
            (self.images[0].astype("<f4") / np.float32(255)).astype("<f4").tobytes())
        stub = self.pb.grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        response = stub.ModelInfer(request, timeout=RPC_TIMEOUT_S, metadata=metadata)
        return np.frombuffer(response.raw_output_contents[0], dtype="<f4")

    def model_stream_infer(self, channel, model, metadata=()):
        pb = self.pb.grpc_service_pb2
        request = pb.ModelInferRequest(model_name=model)
        request.inputs.add(name="input", datatype="UINT8", shape=[1, 28, 28])
        request.raw_input_contents.append(self.images[0].tobytes())
        stub = self.pb.grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        return list(stub.ModelStreamInfer(iter([request]), timeout=RPC_TIMEOUT_S,
                                          metadata=metadata))

    def classify(self, channel, metadata=()):
        """One image through the native ternserve.v1.Classifier/Classify: its top class."""
        pb = self.pb.classifier_pb2
        request = pb.ClassifyRequest(latency_slo_ms=5000, top_k=1)
        request.pixels.values.extend((self.images[0].astype(np.float32) / 255).ravel().tolist())
        stub = self.pb.classifier_pb2_grpc.ClassifierStub(channel)
        return stub.Classify(request, timeout=RPC_TIMEOUT_S, metadata=metadata).top_k[0].class_id

    def model_name(self, channel, metadata=()):
        stub = self.pb.grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        index = stub.RepositoryIndex(self.pb.grpc_service_pb2.RepositoryIndexRequest(),
                                     timeout=RPC_TIMEOUT_S, metadata=metadata)
        return index.models[0].name

    def assert_code(self, call, code, what):
        with self.assertRaises(grpc.RpcError, msg=f"{what}: succeeded, want {code.name}") as caught:
            call()
        self.assertEqual(caught.exception.code(), code,
                         f"{what}: {caught.exception.code().name}: {caught.exception.details()}")

    def cli_classify(self, server, *flags):
        """ternserve-cli classify of test image 0 with `flags`: the completed process."""
        command = [ARGS.cli, "classify", f"--server={server.address}",
                   f"--idx={fashion_mnist.TEST_IMAGES}", "--index=0", "--slo_ms=5000", "--json",
                   *flags]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    def assert_cli_works(self, server, *flags):
        done = self.cli_classify(server, *flags)
        self.assertEqual(done.returncode, 0, f"ternserve-cli {' '.join(flags)}:\n{done.stderr}")
        self.assertTrue(json.loads(done.stdout)["top_k"], done.stdout)

    def assert_cli_refused(self, server, code, *flags):
        done = self.cli_classify(server, *flags)
        self.assertEqual(done.returncode, 1, f"ternserve-cli {' '.join(flags)}: want the RPC "
                                             f"error exit 1\n{done.stdout}{done.stderr}")
        self.assertIn(code.name, done.stderr)
        return done

    # --- tests ----------------------------------------------------------------------------------

    def test_tls_serves_tls_clients_only(self):
        pki = self.pki
        server = self.start_server("tls", [f"--tls_cert={pki.server_cert}",
                                           f"--tls_key={pki.server_key}"])
        tls = self.channel(server.address, ca=pki.ca)
        self.assertTrue(self.live(tls))
        self.assertEqual(self.model_infer(tls, self.model_name(tls)).shape, (10,))
        # The certificate names localhost too.
        self.assertTrue(self.live(self.channel(f"localhost:{server.grpc_port}", ca=pki.ca)))
        self.assert_code(lambda: self.live(self.channel(server.address)), UNAVAILABLE,
                         "plaintext client of a TLS server")
        self.assert_code(lambda: self.live(self.channel(server.address, ca=pki.other_ca)),
                         UNAVAILABLE, "client trusting another CA")
        self.assert_cli_works(server, f"--tls_ca={pki.ca}")
        self.assert_cli_refused(server, UNAVAILABLE)
        server.assert_stops_cleanly()

    def test_mutual_tls_requires_a_client_certificate_of_the_ca(self):
        pki = self.pki
        server = self.start_server("mtls", [f"--tls_cert={pki.server_cert}",
                                            f"--tls_key={pki.server_key}",
                                            f"--tls_client_ca={pki.ca}"])
        self.assert_code(lambda: self.live(self.channel(server.address, ca=pki.ca)), UNAVAILABLE,
                         "TLS client without a certificate")
        intruder = self.channel(server.address, ca=pki.ca, cert=pki.other_client_cert,
                                key=pki.other_client_key)
        self.assert_code(lambda: self.live(intruder), UNAVAILABLE,
                         "client certificate of another CA")
        client = self.channel(server.address, ca=pki.ca, cert=pki.client_cert, key=pki.client_key)
        self.assertTrue(self.live(client))
        self.assertEqual(self.model_infer(client, self.model_name(client)).shape, (10,))
        self.assert_cli_works(server, f"--tls_ca={pki.ca}", f"--tls_cert={pki.client_cert}",
                              f"--tls_key={pki.client_key}")
        self.assert_cli_refused(server, UNAVAILABLE, f"--tls_ca={pki.ca}")
        server.assert_stops_cleanly()

    def test_tokens_are_required_counted_and_rotated_on_sighup(self):
        old, new, wrong = (f"{tag}-{secrets.token_hex(16)}" for tag in ("old", "new", "wrong"))
        token_file = self.work / "tokens"
        token_file.write_text(f"# the test's token file\n\n{old}\n")
        server = self.start_server("token", [f"--auth_token_file={token_file}"])
        channel = self.channel(server.address)

        def bearer(token):
            return (("authorization", f"Bearer {token}"),)

        model = self.model_name(channel, bearer(old))
        before = unauthenticated_total(server.metrics_url)
        refused = [
            ("ModelInfer without a token", lambda: self.model_infer(channel, model)),
            ("ModelInfer with a wrong token", lambda: self.model_infer(channel, model,
                                                                       bearer(wrong))),
            ("ModelInfer with a Basic header",
             lambda: self.model_infer(channel, model, (("authorization", f"Basic {old}"),))),
            ("ModelStreamInfer without a token", lambda: self.model_stream_infer(channel, model)),
            ("ServerLive without a token", lambda: self.live(channel)),
            ("Classify without a token", lambda: self.classify(channel)),
            ("Classify with a wrong token", lambda: self.classify(channel, bearer(wrong))),
        ]
        for what, call in refused:
            self.assert_code(call, UNAUTHENTICATED, what)
        self.assertEqual(self.model_infer(channel, model, bearer(old)).shape, (10,))
        self.assertEqual(len(self.model_stream_infer(channel, model, bearer(old))), 1)
        self.assertIn(self.classify(channel, bearer(old)), range(10))
        health = self.pb.health_pb2_grpc.HealthStub(channel).Check(
            self.pb.health_pb2.HealthCheckRequest(), timeout=RPC_TIMEOUT_S)
        self.assertEqual(health.status, self.pb.health_pb2.HealthCheckResponse.SERVING,
                         "health without a token")
        self.assertEqual(unauthenticated_total(server.metrics_url) - before, len(refused),
                         'ternserve_requests_total{code="UNAUTHENTICATED"} growth')

        # Rotation: the file now holds only the new token.
        log_offset = len(server.log())
        token_file.write_text(f"{new}\n")
        server.send_signal(signal.SIGHUP)
        reloaded = server.wait_for_log(
            r".*SIGHUP: re-read --auth_token_file: [0-9]+ tokens? in use.*", log_offset)
        self.assertNotIn("cannot", reloaded[0], f"the reload failed: {reloaded[0]}")
        self.assertRegex(reloaded[0], r"\b1 tokens?\b", "the reload counts the file's one token")
        self.assert_code(lambda: self.model_infer(channel, model, bearer(old)), UNAUTHENTICATED,
                         "ModelInfer with the rotated-out token")
        self.assert_code(lambda: self.classify(channel, bearer(old)), UNAUTHENTICATED,
                         "Classify with the rotated-out token")
        self.assertEqual(self.model_infer(channel, model, bearer(new)).shape, (10,))
        self.assertIn(self.classify(channel, bearer(new)), range(10))
        # ternserve-cli reads the same file the same way.
        self.assert_cli_works(server, f"--auth_token_file={token_file}")
        refused_cli = self.assert_cli_refused(server, UNAUTHENTICATED)
        self.assertNotIn(new, refused_cli.stdout + refused_cli.stderr)

        server.assert_stops_cleanly()
        log = server.log()
        for name, token in (("old", old), ("new", new), ("wrong", wrong)):
            self.assertNotIn(token, log, f"the {name} token appears in the server's output")

    def test_client_package_and_example_over_mutual_tls_with_a_token(self):
        pki, token = self.pki, f"pkg-{secrets.token_hex(16)}"
        token_file = self.work / "package_token"
        token_file.write_text(f"# for ternserve_client\n{token}\n")
        server = self.start_server("package", [
            f"--tls_cert={pki.server_cert}", f"--tls_key={pki.server_key}",
            f"--tls_client_ca={pki.ca}", f"--auth_token_file={token_file}", "--policy=fixed"])
        sys.path.insert(0, str(pathlib.Path(ARGS.source) / "client" / "python"))
        import ternserve_client  # noqa: E402  (from the source tree)

        tls = dict(tls_ca=pki.ca, tls_cert=pki.client_cert, tls_key=pki.client_key)
        with ternserve_client.InferenceClient(server.address, auth_token_file=str(token_file),
                                              stubs_dir=self.stubs_dir, **tls) as client:
            self.assertTrue(client.is_ready())
            results = client.classify(self.images[:3], slo_ms=5000, top_k=3)
        self.assertEqual(len(results), 3)
        for i, result in enumerate(results):
            self.assertEqual(result.probabilities.shape, (10,))
            self.assertAlmostEqual(float(result.probabilities.sum()), 1.0, delta=1e-4)
            self.assertEqual([c.index for c in result.top_k],
                             list(np.argsort(-result.probabilities, kind="stable")[:3]), i)
            for c in result.top_k:
                self.assertAlmostEqual(c.score, float(result.probabilities[c.index]), delta=1e-6)
            self.assertTrue(result.deadline_met)
            self.assertGreater(result.expected_accuracy, 0)
        with ternserve_client.InferenceClient(server.address, stubs_dir=self.stubs_dir,
                                              **tls) as tokenless:
            self.assert_code(lambda: tokenless.classify(self.images[:1]), UNAUTHENTICATED,
                             "ternserve_client without auth_token_file")

        png = self.work / "image0.png"
        Image.fromarray(self.images[0], mode="L").save(png)
        example = pathlib.Path(ARGS.source) / "client" / "python" / "examples" / "classify_png.py"
        done = subprocess.run(
            [sys.executable, str(example), f"--server={server.address}", "--slo_ms=5000",
             "--top_k=2", f"--tls_ca={pki.ca}", f"--tls_cert={pki.client_cert}",
             f"--tls_key={pki.client_key}", f"--auth_token_file={token_file}", str(png)],
            capture_output=True, text=True, timeout=60, check=False,
            env={"TERNSERVE_CLIENT_STUBS": str(self.stubs_dir), "PATH": "/usr/bin:/bin"})
        self.assertEqual(done.returncode, 0, f"classify_png.py:\n{done.stdout}{done.stderr}")
        top = results[0].top_k
        self.assertRegex(
            done.stdout,
            rf"^{re.escape(str(png))}: {re.escape(top[0].label)} \d+\.\d%, "
            rf"{re.escape(top[1].label)} \d+\.\d%  \(sub-net {results[0].subnet_id}, expected "
            rf"accuracy \d\.\d{{4}}, deadline met\)\n$")
        self.assertNotIn(token, done.stdout + done.stderr)
        server.assert_stops_cleanly()
        self.assertNotIn(token, server.log())


if __name__ == "__main__":
    ARGS = parse_test_args()
    unittest.main(verbosity=2)
