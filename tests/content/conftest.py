"""Fixtures for the content tests (the stack itself comes from tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from devstack import Stack
from tests.content.support import Textbook, load, textbook_parsed


@pytest.fixture(scope="session")
def conninfo(stack: Stack) -> str:
    return stack.settings.content_conninfo()


@pytest.fixture(scope="session")
def textbook(conninfo: str) -> Textbook:
    book = textbook_parsed()
    return Textbook(book_id=load(conninfo, book), book=book)


@pytest.fixture
def teacher(auth: Callable[..., list[tuple[str, str]]]) -> list[tuple[str, str]]:
    return auth(f"teacher-{uuid.uuid4().hex[:8]}", "teacher")


@pytest.fixture
def admin(auth: Callable[..., list[tuple[str, str]]]) -> list[tuple[str, str]]:
    return auth(f"admin-{uuid.uuid4().hex[:8]}", "admin")
