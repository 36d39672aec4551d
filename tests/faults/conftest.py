"""Disruptive tests (stopping, killing and restarting Postgres, Redis, workers, services) run on a
stack of their own, started for this folder and stopped after it, so a failed restore cannot break
the shared stack of the other tests. The fixtures keep their usual names (`stack`, `auth`, stubs)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from devstack import Stack
from tests.conftest import stack_fixtures
from tests.content.support import Textbook, load, textbook_parsed

# ContentService runs as two replicas behind Envoy (tests/faults/test_replicas.py kills and restarts one).
stack, make_token, auth, content_stub, user_stub, ingest_stub = stack_fixtures(
    "package", "teaching-fault-stack-", replicas={"content": 2})


@pytest.fixture(scope="package")
def textbook(stack: Stack) -> Textbook:
    book = textbook_parsed()
    return Textbook(book_id=load(stack.settings.content_conninfo(), book), book=book)


@pytest.fixture
def teacher(auth: Callable[..., list[tuple[str, str]]]) -> list[tuple[str, str]]:
    return auth(f"teacher-{uuid.uuid4().hex[:8]}", "teacher")
