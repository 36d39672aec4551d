"""gRPC layer of UserService: translates messages to domain calls and back."""

from __future__ import annotations

from teaching.user.v1 import user_service_pb2_grpc


class UserServicer(user_service_pb2_grpc.UserServiceServicer):
    pass
