"""Runs UserService: `python -m user_svc` (migrates db_user first)."""

from __future__ import annotations

import contextlib

from common.db import PostgresCheck, user_pool
from common.health import Dependency
from common.pagination import PageTokens
from common.server import run_service
from common.settings import Settings
from teaching.user.v1 import user_service_pb2, user_service_pb2_grpc
from user_svc import repository
from user_svc.api import UserServicer
from user_svc.library import ContentLibrary, content_health_check, open_channel
from user_svc.usecases import UserUseCases


def build(settings: Settings, resources: contextlib.ExitStack) -> UserServicer:
    pool = resources.enter_context(user_pool(settings, configure=repository.configure_connection))
    library = ContentLibrary(resources.enter_context(open_channel(settings)), settings.content_service_timeout_seconds)
    return UserServicer(UserUseCases(pool, PageTokens.from_settings(settings), library))


def dependencies(settings: Settings) -> list[Dependency]:
    """db_user is required. ContentService is not: without it only writes that cite the library fail
    (UNAVAILABLE), everything else is served."""
    return [
        Dependency("db_user", PostgresCheck(settings.user_conninfo(), settings)),
        Dependency("content_service", content_health_check(settings), required=False),
    ]


def main() -> None:
    run_service(
        user_service_pb2.DESCRIPTOR.services_by_name["UserService"],
        user_service_pb2_grpc.add_UserServiceServicer_to_server,
        build,
        port=lambda settings: settings.user_port,
        metrics_port=lambda settings: settings.user_metrics_port,
        migrate="user",
        dependencies=dependencies,
    )


if __name__ == "__main__":
    main()
