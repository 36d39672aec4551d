"""Runs ContentService: `python -m content_svc` (migrates db_content first)."""

from __future__ import annotations

from common.migrations import apply_migrations
from common.server import ServiceServer, configure_logging
from common.settings import get_settings
from content_svc.api import ContentServicer
from teaching.content.v1 import content_service_pb2, content_service_pb2_grpc

SERVICE_NAME = content_service_pb2.DESCRIPTOR.services_by_name["ContentService"].full_name


def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    apply_migrations("content", settings)
    servicer = ContentServicer()
    ServiceServer(
        settings,
        port=settings.content_port,
        service_names=[SERVICE_NAME],
        register=lambda server: content_service_pb2_grpc.add_ContentServiceServicer_to_server(servicer, server),
    ).serve_forever()


if __name__ == "__main__":
    main()
