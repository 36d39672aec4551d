"""gRPC layer of IngestService: translates messages to domain calls and back."""

from __future__ import annotations

from teaching.ingest.v1 import ingest_service_pb2_grpc


class IngestServicer(ingest_service_pb2_grpc.IngestServiceServicer):
    pass
