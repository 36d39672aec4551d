"""Runs IngestService: `python -m ingest_svc` (ingest jobs live in db_content next to the books)."""

from __future__ import annotations

import redis

from common.db import PostgresCheck, content_pool
from common.health import Dependency
from common.server import ServiceResources, run_service
from common.settings import Settings
from ingest_svc.api import IngestServicer
from ingest_svc.outbox import OutboxRelay
from ingest_svc.storage import storage_from_settings
from ingest_svc.sweeper import StorageSweeper
from ingest_svc.usecases import IngestUseCases
from ingest_svc.watches import JobWatches
from ingest_svc.worker import PUBLISH_TIMEOUT_SECONDS, CeleryDispatcher, revoke_job_tasks
from teaching.ingest.v1 import ingest_service_pb2, ingest_service_pb2_grpc


def build(settings: Settings, resources: ServiceResources) -> IngestServicer:
    pool = resources.enter_context(content_pool(settings, name="ingest"))
    relay = OutboxRelay(pool, CeleryDispatcher())
    relay.start()
    resources.callback(relay.stop)
    watches = JobWatches(settings.content_conninfo(), max_streams=settings.watch_max_streams,
                         max_per_caller=settings.watch_max_per_caller,
                         connect_timeout=settings.db_connect_timeout_seconds)
    watches.start()
    resources.callback(watches.close)
    resources.serve_streams(settings.watch_max_streams, watches.drain)
    storage = storage_from_settings(settings)
    sweeper = StorageSweeper(pool, storage, settings)
    sweeper.start()
    resources.callback(sweeper.stop)
    return IngestServicer(IngestUseCases(settings, pool, storage, relay.poke, revoke_job_tasks, watches))


def dependencies(settings: Settings) -> list[Dependency]:
    """db_content and the object storage are required. The broker is not: uploads are accepted and
    kept in the outbox while it is away, and dispatched when it is back."""
    broker = redis.Redis.from_url(settings.redis_url, socket_timeout=PUBLISH_TIMEOUT_SECONDS,
                                  socket_connect_timeout=PUBLISH_TIMEOUT_SECONDS)

    def ping_broker() -> None:
        broker.ping()

    return [
        Dependency("db_content", PostgresCheck(settings.content_conninfo(), settings)),
        Dependency("object_storage", storage_from_settings(settings).check),
        Dependency("broker", ping_broker, required=False),
    ]


def main() -> None:
    run_service(
        ingest_service_pb2.DESCRIPTOR.services_by_name["IngestService"],
        ingest_service_pb2_grpc.add_IngestServiceServicer_to_server,
        build,
        port=lambda settings: settings.ingest_port,
        metrics_port=lambda settings: settings.ingest_metrics_port,
        migrate="content",
        dependencies=dependencies,
    )


if __name__ == "__main__":
    main()
