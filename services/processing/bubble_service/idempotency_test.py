"""Request fingerprints: everything but request_id counts."""

from __future__ import annotations

from bubble.processing.v1 import service_pb2
from bubble_service.idempotency import fingerprint


def test_the_request_id_does_not_change_the_fingerprint_but_parameters_do() -> None:
    base = service_pb2.StartItemProcessingRequest(item_id="a", request_id="r1")

    assert fingerprint(base) == fingerprint(
        service_pb2.StartItemProcessingRequest(item_id="a", request_id="r2")
    )
    assert fingerprint(base) != fingerprint(
        service_pb2.StartItemProcessingRequest(item_id="a", force=True)
    )
    assert fingerprint(base) != fingerprint(
        service_pb2.StartBatchProcessingRequest(request_id="r1")
    )
    assert base.request_id == "r1"  # the request itself is left alone
