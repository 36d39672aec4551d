"""Runs IngestService: `python -m ingest_svc`."""

from __future__ import annotations

from common.migrations import apply_migrations
from common.server import ServiceServer, configure_logging
from common.settings import get_settings
from ingest_svc.api import IngestServicer
from teaching.ingest.v1 import ingest_service_pb2, ingest_service_pb2_grpc

SERVICE_NAME = ingest_service_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name


def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    # Ingest jobs live in db_content next to the books they produce.
    apply_migrations("content", settings)
    servicer = IngestServicer()
    ServiceServer(
        settings,
        port=settings.ingest_port,
        service_names=[SERVICE_NAME],
        register=lambda server: ingest_service_pb2_grpc.add_IngestServiceServicer_to_server(servicer, server),
    ).serve_forever()


if __name__ == "__main__":
    main()
