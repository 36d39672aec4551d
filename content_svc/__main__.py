"""Runs ContentService: `python -m content_svc` (migrates db_content first)."""

from __future__ import annotations

import contextlib

from common.db import PostgresCheck, content_pool
from common.health import Dependency
from common.pagination import PageTokens
from common.server import run_service
from common.settings import Settings
from content_svc.api import ContentServicer
from content_svc.cache import ReadCache
from content_svc.catalogue import Catalogue
from content_svc.embedding import embedder_from_settings
from content_svc.repository import connection_setup
from content_svc.rules.search import RetrievalSettings
from content_svc.usecases import ContentUseCases
from content_svc.vectors import VectorCache
from teaching.content.v1 import content_service_pb2, content_service_pb2_grpc


def use_cases(
    settings: Settings, resources: contextlib.ExitStack, *, pool_name: str = "content", listen: bool = True
) -> ContentUseCases:
    """ContentService's use cases with their pool, caches and catalogue (closed with `resources`).
    listen=False: the catalogue hears no notification (a test's stand-in for one still in flight)."""
    pool = resources.enter_context(
        content_pool(settings, name=pool_name, configure=connection_setup(settings.hnsw_ef_search))
    )
    cache = ReadCache(settings)
    resources.callback(cache.close)
    vectors = VectorCache(settings.vector_cache_mb * 2**20)
    catalogue = Catalogue(settings.content_conninfo(), settings.catalogue_ttl_seconds, on_change=vectors.retain)
    if listen:
        catalogue.start()
        resources.callback(catalogue.close)
    return ContentUseCases(
        pool, embedder_from_settings(settings), cache, PageTokens.from_settings(settings), catalogue, vectors,
        retrieval_settings=RetrievalSettings(settings.search_exact_max_atoms, cache_bytes=vectors.budget_bytes),
        ef_search=settings.hnsw_ef_search,
    )


def build(settings: Settings, resources: contextlib.ExitStack) -> ContentServicer:
    return ContentServicer(use_cases(settings, resources))


def dependencies(settings: Settings) -> list[Dependency]:
    """db_content is required; Redis is only a cache: without it the service answers, uncached."""
    needs = [Dependency("db_content", PostgresCheck(settings.content_conninfo(), settings))]
    if settings.cache_enabled:
        needs.append(Dependency("redis", ReadCache(settings).check, required=False))
    return needs


def main() -> None:
    run_service(
        content_service_pb2.DESCRIPTOR.services_by_name["ContentService"],
        content_service_pb2_grpc.add_ContentServiceServicer_to_server,
        build,
        port=lambda settings: settings.content_port,
        metrics_port=lambda settings: settings.content_metrics_port,
        processes=lambda settings: settings.content_server_processes,
        migrate="content",
        dependencies=dependencies,
    )


if __name__ == "__main__":
    main()
