"""Named points where a test can hold one book's upload or job, to act on it deterministically."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

# A step held at a hold point looks for its marker this often.
HOLD_POLL_SECONDS = 0.05


class HoldPoints:
    """Only when a folder is configured (INGEST_HOLD_DIR, tests only): while the file
    `<folder>/<content_sha256>.<point>` exists, the upload or step of that book's job that reaches
    `point` waits, announcing itself with `<that file>.<pid>.waiting` until it moves on.
    """

    # UploadBook: the job is recorded (committed), the call has not answered yet.
    UPLOAD_RECORDED = "upload-recorded"
    # A page range's result is committed, the step has not ended yet.
    RANGE_DONE = "range-done"

    def __init__(self, folder: Path | None) -> None:
        self._folder = folder

    @classmethod
    def from_folder(cls, folder: str) -> HoldPoints:
        return cls(Path(folder) if folder else None)

    def wait(self, point: str, content_sha256: str) -> None:
        if self._folder is None:
            return
        marker = self._folder / f"{content_sha256}.{point}"
        if not marker.exists():
            return
        waiting = marker.with_name(f"{marker.name}.{os.getpid()}.waiting")
        waiting.touch()
        try:
            log.info("holding at %s while %s exists", point, marker)
            while marker.exists():
                time.sleep(HOLD_POLL_SECONDS)
        finally:
            waiting.unlink(missing_ok=True)
