"""Runs UserService: `python -m user_svc` (migrates db_user first)."""

from __future__ import annotations

from common.migrations import apply_migrations
from common.server import ServiceServer, configure_logging
from common.settings import get_settings
from teaching.user.v1 import user_service_pb2, user_service_pb2_grpc
from user_svc.api import UserServicer

SERVICE_NAME = user_service_pb2.DESCRIPTOR.services_by_name["UserService"].full_name


def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    apply_migrations("user", settings)
    servicer = UserServicer()
    ServiceServer(
        settings,
        port=settings.user_port,
        service_names=[SERVICE_NAME],
        register=lambda server: user_service_pb2_grpc.add_UserServiceServicer_to_server(servicer, server),
    ).serve_forever()


if __name__ == "__main__":
    main()
