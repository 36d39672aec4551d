"""Object storage for raw uploads: a local folder (embedded default) or Google Cloud Storage.

Uploads are written to a temporary object while they stream in and become visible under their final
key only on `commit()`, after every check passed; `abort()` leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from common.settings import Settings
from ingest_svc.rules.uploads import StoredFile

_TMP_DIR = ".tmp"
# Where uploads stream to before they are complete and checked (both backends).
TEMPORARY_PREFIX = f"{_TMP_DIR}/"
# GCS resumable uploads send the file in chunks of this size (a multiple of 256 KiB): the memory bound.
_GCS_CHUNK_BYTES = 4 * 1024 * 1024
_CHECK_TIMEOUT_SECONDS = 2.0


class PendingUpload(Protocol):
    def write(self, data: bytes) -> None: ...

    def commit(self, key: str) -> None:
        """Make the written bytes visible under `key`."""

    def abort(self) -> None:
        """Discard the written bytes; safe to call more than once and after commit (then a no-op)."""


class ObjectStorage(Protocol):
    def begin_upload(self) -> PendingUpload: ...

    def local_copy(self, key: str) -> contextlib.AbstractContextManager[Path]:
        """A local file with the object's bytes (pypdfium2 reads files), valid inside the block."""

    def delete(self, key: str) -> None:
        """Remove the object if it exists."""

    def exists(self, key: str) -> bool: ...

    def check(self) -> None:
        """Health probe: raises unless the storage can be read and written."""

    def list(self, prefix: str) -> list[StoredFile]:
        """Every object whose key starts with `prefix` (`uploads/`, TEMPORARY_PREFIX), with its age."""


class LocalUpload:
    def __init__(self, root: Path) -> None:
        self._root = root
        tmp_dir = root / _TMP_DIR
        tmp_dir.mkdir(parents=True, exist_ok=True)
        self._tmp_path = tmp_dir / f"{uuid.uuid4().hex}.part"
        self._file = self._tmp_path.open("wb")
        self._done = False

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def commit(self, key: str) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        final = self._root / key
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._tmp_path, final)
        self._done = True

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._file.close()
        self._tmp_path.unlink(missing_ok=True)


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def begin_upload(self) -> LocalUpload:
        return LocalUpload(self.root)

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        path = self.root / key
        if not path.is_file():
            raise FileNotFoundError(f"stored upload {key!r} is missing")
        yield path

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return (self.root / key).is_file()

    def list(self, prefix: str) -> list[StoredFile]:
        found = []
        for path in (self.root / prefix).rglob("*"):
            with contextlib.suppress(FileNotFoundError):  # removed meanwhile
                if path.is_file():
                    found.append(StoredFile(path.relative_to(self.root).as_posix(), path.stat().st_mtime))
        return found

    def check(self) -> None:
        if not (self.root.is_dir() and os.access(self.root, os.R_OK | os.W_OK | os.X_OK)):
            raise OSError(f"storage folder {self.root} is missing or not writable")


class GcsUpload:
    def __init__(self, bucket: Any, tmp_name: str, object_name: Callable[[str], str]) -> None:
        self._bucket = bucket
        self._object_name = object_name
        self._tmp_blob = bucket.blob(tmp_name, chunk_size=_GCS_CHUNK_BYTES)
        # A resumable upload session: at most one chunk is buffered in memory at a time.
        self._writer = self._tmp_blob.open("wb", content_type="application/pdf", ignore_flush=True)
        self._done = False

    def write(self, data: bytes) -> None:
        self._writer.write(data)

    def commit(self, key: str) -> None:
        self._writer.close()
        # GCS has no rename: a server-side copy, then the temporary object goes.
        self._bucket.copy_blob(self._tmp_blob, self._bucket, self._object_name(key))
        self._done = True
        _delete_blob(self._tmp_blob)

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        # The client library has no public way to cancel a resumable upload, and its writer finishes
        # the upload when closed (or garbage-collected): close it (at most one buffered chunk more is
        # sent) and delete the temporary object. If closing fails, the unfinished session never
        # becomes an object (GCS drops it after a week).
        with contextlib.suppress(Exception):
            self._writer.close()
        _delete_blob(self._tmp_blob)


def _delete_blob(blob: Any) -> None:
    from google.api_core import exceptions

    with contextlib.suppress(exceptions.NotFound):
        blob.delete()


class GcsStorage:
    def __init__(self, bucket_name: str, prefix: str, endpoint: str = "") -> None:
        from google.cloud import storage

        if endpoint:
            from google.auth.credentials import AnonymousCredentials

            client = storage.Client(
                project="local-emulator",
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                client_options={"api_endpoint": endpoint},
            )
        else:
            client = storage.Client()
        self._bucket = client.bucket(bucket_name)
        self._prefix = prefix.strip("/")

    def _name(self, key: str) -> str:
        return f"{self._prefix}/{key}" if self._prefix else key

    def begin_upload(self) -> GcsUpload:
        return GcsUpload(self._bucket, self._name(f"{_TMP_DIR}/{uuid.uuid4().hex}.part"), self._name)

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="ingest-") as folder:
            path = Path(folder) / "source.pdf"
            blob = self._bucket.blob(self._name(key))
            with blob.open("rb") as source, path.open("wb") as target:
                shutil.copyfileobj(source, target, length=_GCS_CHUNK_BYTES)
            yield path

    def delete(self, key: str) -> None:
        _delete_blob(self._bucket.blob(self._name(key)))

    def exists(self, key: str) -> bool:
        return bool(self._bucket.blob(self._name(key)).exists())

    def list(self, prefix: str) -> list[StoredFile]:
        start = len(self._name(""))
        return [StoredFile(blob.name[start:], blob.updated.timestamp())
                for blob in self._bucket.list_blobs(prefix=self._name(prefix))]

    def check(self) -> None:
        # Listing is what the service may do anyway (the sweeper lists); it needs no bucket-level role.
        list(self._bucket.list_blobs(prefix=self._name(""), max_results=1, timeout=_CHECK_TIMEOUT_SECONDS))


def storage_from_url(url: str, gcs_endpoint: str = "") -> ObjectStorage:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStorage(Path(unquote(parsed.path)))
    if parsed.scheme == "gs":
        if not parsed.netloc:
            raise ValueError(f"storage URL {url!r} names no bucket (expected gs://bucket/prefix)")
        return GcsStorage(parsed.netloc, parsed.path, endpoint=gcs_endpoint)
    raise ValueError(f"unsupported storage URL {url!r}: use file:///folder or gs://bucket/prefix")


def storage_from_settings(settings: Settings) -> ObjectStorage:
    return storage_from_url(settings.storage_url, settings.storage_gcs_endpoint)
