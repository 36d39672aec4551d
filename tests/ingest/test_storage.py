"""Storage backends: the local folder and GCS through the real local emulator (gcp-storage-emulator)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest_svc.storage import ObjectStorage, storage_from_url


@pytest.fixture(scope="module")
def gcs_endpoint() -> Iterator[str]:
    from gcp_storage_emulator import server as server_module

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = server_module.create_server("127.0.0.1", port, in_memory=True, default_bucket="uploads")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _names(storage: ObjectStorage) -> set[str]:
    bucket = storage._bucket  # type: ignore[attr-defined]
    return {blob.name for blob in bucket.client.list_blobs(bucket.name)}


@pytest.fixture(params=["folder", "gcs"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, ObjectStorage]:
    if request.param == "folder":
        return "folder", storage_from_url(tmp_path.as_uri())
    endpoint = request.getfixturevalue("gcs_endpoint")
    return "gcs", storage_from_url(f"gs://uploads/raw-{os.urandom(4).hex()}", endpoint)


def test_commit_makes_the_object_visible(backend: tuple[str, ObjectStorage]) -> None:
    _kind, storage = backend
    data = os.urandom(9 * 1024 * 1024 + 17)  # several resumable-upload chunks
    pending = storage.begin_upload()
    for start in range(0, len(data), 1024 * 1024):
        pending.write(data[start : start + 1024 * 1024])
    assert not storage.exists("uploads/book.pdf")
    pending.commit("uploads/book.pdf")
    assert storage.exists("uploads/book.pdf")
    with storage.local_copy("uploads/book.pdf") as path:
        assert path.read_bytes() == data
    storage.delete("uploads/book.pdf")
    assert not storage.exists("uploads/book.pdf")


def test_abort_leaves_nothing(backend: tuple[str, ObjectStorage], tmp_path: Path) -> None:
    kind, storage = backend
    for size in (100, 6 * 1024 * 1024):  # below and above one resumable chunk
        pending = storage.begin_upload()
        pending.write(os.urandom(size))
        pending.abort()
        pending.abort()
    if kind == "gcs":
        prefix = storage._prefix  # type: ignore[attr-defined]
        assert not {name for name in _names(storage) if name.startswith(prefix)}
    else:
        assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_bad_storage_urls() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        storage_from_url("s3://bucket/x")
    with pytest.raises(ValueError, match="no bucket"):
        storage_from_url("gs:///x")
