"""The ItemProcessingService servicer: the item, start and run RPCs in one gRPC service."""

from __future__ import annotations

from bubble.processing.v1 import service_pb2_grpc
from bubble_service.dependencies import Dependencies
from bubble_service.item_rpcs import ItemRpcs
from bubble_service.run_rpcs import RunRpcs
from bubble_service.start_rpcs import StartRpcs
from bubble_service.uploads import UploadRpcs


class ItemProcessingServicer(
    ItemRpcs, UploadRpcs, StartRpcs, RunRpcs, service_pb2_grpc.ItemProcessingServiceServicer
):
    """Every RPC of service.proto; the handlers live in ``item_rpcs``, ``uploads``,
    ``start_rpcs`` and ``run_rpcs``."""

    def __init__(self, deps: Dependencies) -> None:
        ItemRpcs.__init__(self, deps)
        UploadRpcs.__init__(self, deps)
        StartRpcs.__init__(self, deps)
        RunRpcs.__init__(self, deps)
