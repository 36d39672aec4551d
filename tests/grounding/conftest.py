"""Fixtures of the grounding tests: thinkpython2 ingested once per session through the real pipeline."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from teaching.ingest.v1 import ingest_service_pb2 as ingest_pb
from tests.ingest.helpers import unique_copy, upload, wait_terminal


@pytest.fixture(scope="session")
def thinkpython_book_id(corpus: Path, ingest_stub: Any, auth: Callable[..., list[tuple[str, str]]]) -> str:
    """thinkpython2 uploaded as a fresh copy (never deduplicated against earlier sessions' books)."""
    admin = auth(f"admin-{uuid.uuid4().hex[:8]}", "admin")
    data = unique_copy((corpus / "thinkpython2.pdf").read_bytes())
    response = upload(ingest_stub, admin, data, "Think Python", filename="thinkpython2.pdf")
    job = wait_terminal(ingest_stub, admin, response.job.job_id, timeout=600)
    assert job.state == ingest_pb.INGEST_JOB_STATE_SUCCEEDED, job.error_message
    return job.book_id


@pytest.fixture
def reader(auth: Callable[..., list[tuple[str, str]]]) -> list[tuple[str, str]]:
    return auth(f"teacher-{uuid.uuid4().hex[:8]}", "teacher")
