"""Runs IngestService: `python -m ingest_svc` (ingest jobs live in db_content next to the books)."""

from __future__ import annotations

import contextlib

from common.db import content_pool
from common.server import run_service
from common.settings import Settings
from ingest_svc.api import IngestServicer
from ingest_svc.storage import storage_from_settings
from ingest_svc.usecases import IngestUseCases
from ingest_svc.worker import CeleryDispatcher, revoke_job_tasks
from teaching.ingest.v1 import ingest_service_pb2, ingest_service_pb2_grpc


def build(settings: Settings, resources: contextlib.ExitStack) -> IngestServicer:
    pool = resources.enter_context(content_pool(settings, name="ingest"))
    return IngestServicer(
        IngestUseCases(settings, pool, storage_from_settings(settings), CeleryDispatcher(), revoke_job_tasks)
    )


def main() -> None:
    run_service(
        ingest_service_pb2.DESCRIPTOR.services_by_name["IngestService"],
        ingest_service_pb2_grpc.add_IngestServiceServicer_to_server,
        build,
        port=lambda settings: settings.ingest_port,
        metrics_port=lambda settings: settings.ingest_metrics_port,
        migrate="content",
    )


if __name__ == "__main__":
    main()
