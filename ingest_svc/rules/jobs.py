"""Ingest jobs: their states, stages, failure reasons and the rules about them."""

from __future__ import annotations

import datetime as dt
import enum
import re
import uuid
from dataclasses import dataclass
from typing import Protocol

from common.errors import InvalidArgument
from content_svc.contract import BookMetadata


class JobState(enum.StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
IN_FLIGHT_STATES = frozenset({JobState.QUEUED, JobState.RUNNING})


class Stage(enum.StrEnum):
    UNSPECIFIED = "UNSPECIFIED"
    PARSING = "PARSING"
    EMBEDDING = "EMBEDDING"
    LOADING = "LOADING"
    DONE = "DONE"


class FailureReason(enum.StrEnum):
    UNSPECIFIED = "UNSPECIFIED"
    ENCRYPTED = "ENCRYPTED"
    NO_TEXT = "NO_TEXT"
    CORRUPT = "CORRUPT"
    INTERNAL = "INTERNAL"


class IngestFailed(Exception):
    """The book cannot be built from this file; the job fails with a reason an admin can act on."""

    def __init__(self, reason: FailureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __reduce__(self) -> tuple[type[IngestFailed], tuple[FailureReason, str]]:
        # Celery hands on_failure a pickled copy of the exception: keep both fields.
        return IngestFailed, (self.reason, self.message)


class JobCancelled(Exception):
    """The job was cancelled; the running step stops without writing anything more."""


@dataclass(frozen=True, kw_only=True)
class Job(BookMetadata):
    job_id: uuid.UUID
    book_id: uuid.UUID
    state: JobState
    stage: Stage
    filename: str
    content_sha256: str
    size_bytes: int
    storage_key: str
    pages_total: int
    pages_done: int
    atoms_written: int
    failure_reason: FailureReason
    error_message: str
    created_by: str
    create_time: dt.datetime
    update_time: dt.datetime
    end_time: dt.datetime | None


MAX_TITLE_CHARS = 500
MAX_FIELD_CHARS = 200
MAX_AUTHORS = 50
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, kw_only=True)
class UploadMetadata(BookMetadata):
    filename: str
    expected_sha256: str = ""

    def validated(self) -> UploadMetadata:
        """Trimmed copy; InvalidArgument naming every bad field."""
        title = self.title.strip()
        filename = self.filename.strip()
        authors = [a.strip() for a in self.authors]
        expected = self.expected_sha256.strip().lower()
        problems: dict[str, str] = {}
        if not title:
            problems["metadata.title"] = "required"
        elif len(title) > MAX_TITLE_CHARS:
            problems["metadata.title"] = f"at most {MAX_TITLE_CHARS} characters"
        if not filename:
            problems["metadata.filename"] = "required"
        elif len(filename) > MAX_FIELD_CHARS:
            problems["metadata.filename"] = f"at most {MAX_FIELD_CHARS} characters"
        if len(authors) > MAX_AUTHORS:
            problems["metadata.authors"] = f"at most {MAX_AUTHORS} authors"
        elif any(not a or len(a) > MAX_FIELD_CHARS for a in authors):
            problems["metadata.authors"] = f"each author must be 1 to {MAX_FIELD_CHARS} characters"
        for name, value in (("subject", self.subject), ("grade_level", self.grade_level)):
            if len(value.strip()) > MAX_FIELD_CHARS:
                problems[f"metadata.{name}"] = f"at most {MAX_FIELD_CHARS} characters"
        if expected and not _SHA256.match(expected):
            problems["metadata.expected_sha256"] = "must be 64 hexadecimal characters"
        if problems:
            raise InvalidArgument(problems)
        return UploadMetadata(
            title=title, filename=filename, authors=authors, subject=self.subject.strip(),
            grade_level=self.grade_level.strip(), expected_sha256=expected,
        )


class DispatchFailed(Exception):
    """The broker did not take a message (down, frozen or refusing): the outbox publishes it later."""


class Dispatcher(Protocol):
    """Hands a job's steps to the workers (Celery in production; see worker.py). Each method gives up
    within seconds, raising DispatchFailed, when the broker cannot take the message."""

    def prepare(self, job_id: uuid.UUID) -> None: ...

    def process_range(self, job_id: uuid.UUID, first_page: int, last_page: int) -> None: ...

    def finalize(self, job_id: uuid.UUID) -> None: ...
