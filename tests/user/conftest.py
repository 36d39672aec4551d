"""UserService fixtures: a fresh teacher (unique user id) per call."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import pytest

from teaching.user.v1 import user_service_pb2_grpc
from tests.user.support import Teacher


@pytest.fixture
def new_teacher(
    user_stub: user_service_pb2_grpc.UserServiceStub, auth: Callable[..., list[tuple[str, str]]]
) -> Callable[[], Teacher]:
    def make() -> Teacher:
        user_id = f"teacher-{uuid4()}"
        return Teacher(user_id, auth(user_id, "teacher"), user_stub)

    return make
