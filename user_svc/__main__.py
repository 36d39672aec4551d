"""Runs UserService: `python -m user_svc` (migrates db_user first)."""

from __future__ import annotations

from common.db import user_pool
from common.migrations import apply_migrations
from common.pagination import PageTokens
from common.server import ServiceServer, configure_logging
from common.settings import get_settings
from teaching.user.v1 import user_service_pb2, user_service_pb2_grpc
from user_svc.api import UserServicer
from user_svc.domain import UserDomain
from user_svc.store import UserStore

SERVICE_NAME = user_service_pb2.DESCRIPTOR.services_by_name["UserService"].full_name


def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    apply_migrations("user", settings)
    pool = user_pool(settings)
    page_tokens = PageTokens.from_settings(settings)
    servicer = UserServicer(UserDomain(UserStore(pool), page_tokens))
    ServiceServer(
        settings,
        port=settings.user_port,
        service_names=[SERVICE_NAME],
        register=lambda server: user_service_pb2_grpc.add_UserServiceServicer_to_server(servicer, server),
        on_stop=pool.close,
    ).serve_forever()


if __name__ == "__main__":
    main()
