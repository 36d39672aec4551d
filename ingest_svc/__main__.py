"""Runs IngestService: `python -m ingest_svc`."""

from __future__ import annotations

from common.db import content_pool
from common.migrations import apply_migrations
from common.server import ServiceServer, configure_logging
from common.settings import get_settings
from ingest_svc.api import IngestServicer
from ingest_svc.service import IngestService
from ingest_svc.storage import storage_from_settings
from ingest_svc.worker import CeleryDispatcher, revoke_job_tasks
from teaching.ingest.v1 import ingest_service_pb2, ingest_service_pb2_grpc

SERVICE_NAME = ingest_service_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name


def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    # Ingest jobs live in db_content next to the books they produce.
    apply_migrations("content", settings)
    pool = content_pool(settings, name="ingest")
    service = IngestService(settings, pool, storage_from_settings(settings), CeleryDispatcher(), revoke_job_tasks)
    servicer = IngestServicer(service)
    ServiceServer(
        settings,
        port=settings.ingest_port,
        service_names=[SERVICE_NAME],
        register=lambda server: ingest_service_pb2_grpc.add_IngestServiceServicer_to_server(servicer, server),
        on_stop=pool.close,
    ).serve_forever()


if __name__ == "__main__":
    main()
