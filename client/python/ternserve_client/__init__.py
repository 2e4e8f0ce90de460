"""Python client of a Ternserve server's Open Inference Protocol (docs/oip.md).

    from ternserve_client import InferenceClient
    with InferenceClient("127.0.0.1:8001") as client:
        for result in client.classify(images, slo_ms=50, top_k=3):
            print(result.top_k[0].label, result.top_k[0].score, result.subnet_id)
"""

from ternserve_client.channel import read_token
from ternserve_client.client import InferenceClient
from ternserve_client.oip import ClassScore, Classification

__all__ = ["InferenceClient", "Classification", "ClassScore", "read_token"]
