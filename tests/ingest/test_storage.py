"""Storage backends: the local folder and GCS through the real local emulator (gcp-storage-emulator)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage as gcs

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


Objects = Callable[[], set[str]]


@pytest.fixture(params=["folder", "gcs"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[ObjectStorage, Objects]:
    """A storage and what is stored under its root, as seen independently of it (temporary objects too)."""
    if request.param == "folder":
        return storage_from_url(tmp_path.as_uri()), lambda: {
            str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()
        }
    endpoint = request.getfixturevalue("gcs_endpoint")
    prefix = f"raw-{os.urandom(4).hex()}"
    client = gcs.Client(project="test", credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                        client_options={"api_endpoint": endpoint})
    return storage_from_url(f"gs://uploads/{prefix}", endpoint), lambda: {
        blob.name.removeprefix(f"{prefix}/") for blob in client.list_blobs("uploads", prefix=f"{prefix}/")
    }


def test_commit_makes_the_object_visible(backend: tuple[ObjectStorage, Objects]) -> None:
    storage, objects = backend
    data = os.urandom(9 * 1024 * 1024 + 17)  # several resumable-upload chunks
    pending = storage.begin_upload()
    for start in range(0, len(data), 1024 * 1024):
        pending.write(data[start : start + 1024 * 1024])
    assert not storage.exists("uploads/book.pdf")
    pending.commit("uploads/book.pdf")
    assert storage.exists("uploads/book.pdf")
    assert objects() == {"uploads/book.pdf"}  # the temporary object is gone
    with storage.local_copy("uploads/book.pdf") as path:
        assert path.read_bytes() == data
    storage.delete("uploads/book.pdf")
    assert not storage.exists("uploads/book.pdf")
    assert objects() == set()


@pytest.mark.parametrize("size", [pytest.param(100, id="below-one-chunk"),
                                  pytest.param(6 * 1024 * 1024, id="above-one-chunk")])
def test_abort_leaves_nothing(backend: tuple[ObjectStorage, Objects], size: int) -> None:
    storage, objects = backend
    pending = storage.begin_upload()
    pending.write(os.urandom(size))
    pending.abort()
    pending.abort()
    assert objects() == set()


def test_list_names_stored_and_temporary_objects_with_their_age(backend: tuple[ObjectStorage, Objects]) -> None:
    # What the sweeper (ingest_svc.sweeper) reads: keys relative to the root, by prefix, with a recent time.
    storage, _objects = backend
    before = time.time() - 60
    for key in ("uploads/a.pdf", "uploads/b.pdf"):
        pending = storage.begin_upload()
        pending.write(b"%PDF-1.4")
        pending.commit(key)
    partial = storage.begin_upload()
    partial.write(b"%PDF-1.4 still streaming")
    stored = storage.list("uploads/")
    assert sorted(f.key for f in stored) == ["uploads/a.pdf", "uploads/b.pdf"]
    assert all(before < f.modified < time.time() + 60 for f in stored)
    assert storage.list("elsewhere/") == []
    partial.abort()
    storage.check()


def test_bad_storage_urls() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        storage_from_url("s3://bucket/x")
    with pytest.raises(ValueError, match="no bucket"):
        storage_from_url("gs:///x")
