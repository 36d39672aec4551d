"""UserService fixtures: a fresh teacher (unique user id) per call, and real books to cite."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import pytest

from devstack import Stack
from teaching.user.v1 import user_service_pb2_grpc
from tests.user.support import Library, Teacher
from user_svc.rules import limits


@pytest.fixture
def new_teacher(
    user_stub: user_service_pb2_grpc.UserServiceStub, auth: Callable[..., list[tuple[str, str]]]
) -> Callable[[], Teacher]:
    def make() -> Teacher:
        user_id = f"teacher-{uuid4()}"
        return Teacher(user_id, auth(user_id, "teacher"), user_stub)

    return make


@pytest.fixture(scope="session")
def library(stack: Stack) -> Library:
    """As many real books as one artifact may cite."""
    return Library.load(stack.settings.content_conninfo(), limits.LIST_MAX_ITEMS)
