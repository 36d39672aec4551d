"""Checks on an upload while it streams: chunk and total size, PDF signature, end marker, SHA-256."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

from common.errors import InvalidArgument, ResourceExhausted

PDF_SIGNATURE = b"%PDF-"
# PDF readers accept the header anywhere in the first KiB; a complete file ends with %%EOF near its end.
HEAD_WINDOW = 1024
TAIL_WINDOW = 2048
EOF_MARKER = b"%%EOF"


class UploadChecks:
    """Feeds on chunks as they arrive (nothing but a small head and tail stays in memory)."""

    def __init__(self, *, max_bytes: int, chunk_max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.chunk_max_bytes = chunk_max_bytes
        self.size = 0
        self._sha = hashlib.sha256()
        self._head = b""
        self._tail = b""

    def add(self, chunk: bytes) -> None:
        if len(chunk) > self.chunk_max_bytes:
            raise InvalidArgument(
                {"chunk": f"a chunk carries at most {self.chunk_max_bytes} bytes, got {len(chunk)}"}
            )
        if self.size + len(chunk) > self.max_bytes:
            raise ResourceExhausted(
                f"file too large: the limit is {self.max_bytes} bytes ({self.max_bytes // (1024 * 1024)} MiB)"
            )
        self.size += len(chunk)
        self._sha.update(chunk)
        if len(self._head) < HEAD_WINDOW:
            self._head = (self._head + chunk)[:HEAD_WINDOW]
            if len(self._head) >= HEAD_WINDOW and PDF_SIGNATURE not in self._head:
                raise self._not_pdf()
        self._tail = (self._tail + chunk)[-TAIL_WINDOW:]

    def _not_pdf(self) -> InvalidArgument:
        return InvalidArgument({"chunk": "not a PDF: the file does not start with the %PDF- signature"})

    def finish(self, expected_sha256: str) -> str:
        """The file's hex SHA-256 once every check passed."""
        if self.size == 0:
            raise InvalidArgument({"chunk": "the upload carried no file content"})
        if PDF_SIGNATURE not in self._head:
            raise self._not_pdf()
        digest = self._sha.hexdigest()
        if expected_sha256 and digest != expected_sha256:
            raise InvalidArgument(
                {"metadata.expected_sha256": f"the received file has SHA-256 {digest}; the upload is incomplete "
                 "or damaged"}
            )
        if EOF_MARKER not in self._tail:
            raise InvalidArgument(
                {"chunk": "the PDF is truncated: it does not end with %%EOF; the upload stopped early "
                 "or the file is incomplete"}
            )
        return digest


# Where a job's PDF is stored: one object per job, named by the job.
STORED_PREFIX = "uploads/"
_STORED_KEY = re.compile(r"^uploads/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.pdf$")


def storage_key(job_id: uuid.UUID) -> str:
    return f"{STORED_PREFIX}{job_id}.pdf"


def job_of_key(key: str) -> uuid.UUID | None:
    """The job a stored object belongs to, None for a name no job ever had."""
    match = _STORED_KEY.match(key)
    return uuid.UUID(match.group(1)) if match else None


@dataclass(frozen=True)
class StoredFile:
    key: str
    modified: float  # seconds since the epoch


def abandoned(files: list[StoredFile], now: float, grace_seconds: float) -> list[StoredFile]:
    """The files nobody wrote to for `grace_seconds`: an upload that stalled that long is dead."""
    return [f for f in files if now - f.modified > grace_seconds]
