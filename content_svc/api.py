"""gRPC layer of ContentService: translates messages to domain calls and back."""

from __future__ import annotations

from teaching.content.v1 import content_service_pb2_grpc


class ContentServicer(content_service_pb2_grpc.ContentServiceServicer):
    pass
