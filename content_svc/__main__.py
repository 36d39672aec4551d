"""Runs ContentService: `python -m content_svc` (migrates db_content first)."""

from __future__ import annotations

from common.db import content_pool
from common.migrations import apply_migrations
from common.pagination import PageTokens
from common.server import ServiceServer, configure_logging
from common.settings import get_settings
from content_svc import store
from content_svc.api import ContentServicer
from content_svc.cache import ReadCache
from content_svc.domain.service import ContentService
from content_svc.embedding import embedder_from_settings
from teaching.content.v1 import content_service_pb2, content_service_pb2_grpc

SERVICE_NAME = content_service_pb2.DESCRIPTOR.services_by_name["ContentService"].full_name


def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    apply_migrations("content", settings)
    pool = content_pool(settings, configure=store.configure_connection)
    cache = ReadCache(settings)
    service = ContentService(
        pool,
        embedder_from_settings(settings),
        cache,
        PageTokens.from_settings(settings),
    )
    servicer = ContentServicer(service)

    def close() -> None:
        pool.close()
        cache.close()

    ServiceServer(
        settings,
        port=settings.content_port,
        service_names=[SERVICE_NAME],
        register=lambda server: content_service_pb2_grpc.add_ContentServiceServicer_to_server(servicer, server),
        on_stop=close,
    ).serve_forever()


if __name__ == "__main__":
    main()
