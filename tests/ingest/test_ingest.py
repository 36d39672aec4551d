"""IngestService end to end: real gRPC service, Redis, Celery worker, Postgres and storage folder."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest

from teaching.content.v1 import content_service_pb2 as cpb
from teaching.ingest.v1 import ingest_service_pb2 as pb
from tests.ingest.helpers import (
    TERMINAL,
    HeldJob,
    requests,
    stored_files,
    unique_copy,
    upload,
    wait_for,
    wait_terminal,
)

Auth = Callable[..., list[tuple[str, str]]]


@pytest.fixture(scope="module")
def admin(auth: Auth) -> list[tuple[str, str]]:
    return auth(f"admin-{uuid.uuid4().hex[:8]}", "admin")


@pytest.fixture(scope="module")
def thinkpython(corpus: Path) -> bytes:
    return (corpus / "thinkpython2.pdf").read_bytes()


@pytest.fixture(scope="module")
def thinkpython_ingest(ingest_stub: Any, admin: list[tuple[str, str]], thinkpython: bytes) -> dict[str, Any]:
    """Ingest thinkpython2 once (a fresh copy, so earlier sessions' books do not deduplicate it),
    watching the job; returns the upload response and every state the watch stream reported."""
    response = upload(ingest_stub, admin, unique_copy(thinkpython), "Think Python", filename="thinkpython2.pdf")
    assert not response.deduplicated
    updates = [
        r.job for r in ingest_stub.WatchIngestJob(
            pb.WatchIngestJobRequest(job_id=response.job.job_id), metadata=admin, timeout=300)
    ]
    return {"response": response, "updates": updates}


def _content_conn(stack: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(stack.settings.content_conninfo(), autocommit=True)


def _books_with_sha(stack: Any, sha: str) -> list[Any]:
    with _content_conn(stack) as conn:
        return conn.execute("SELECT book_id, atom_count FROM books WHERE content_sha256 = %s", (sha,)).fetchall()


# --- the real book -------------------------------------------------------------------------------


def test_thinkpython_ingests_with_progress(thinkpython_ingest: dict[str, Any]) -> None:
    response, updates = thinkpython_ingest["response"], thinkpython_ingest["updates"]
    assert response.job.state == pb.INGEST_JOB_STATE_QUEUED
    assert response.book_id == response.job.book_id
    final = updates[-1]
    assert final.state == pb.INGEST_JOB_STATE_SUCCEEDED, final.error_message
    assert final.stage == pb.INGEST_STAGE_DONE
    assert final.pages_total == final.pages_done == 288
    assert final.atoms_written > 300
    assert final.end_time.seconds > 0
    # The watch stream reported changes as they happened, then ended after the terminal state.
    assert len(updates) >= 3
    assert all(u.state not in TERMINAL for u in updates[:-1])
    assert [u.pages_done for u in updates] == sorted(u.pages_done for u in updates)


def test_thinkpython_outline_has_chapters_and_sections_in_order(
    thinkpython_ingest: dict[str, Any], content_stub: Any, auth: Auth
) -> None:
    book_id = thinkpython_ingest["response"].book_id
    outline = content_stub.GetBookOutline(cpb.GetBookOutlineRequest(book_id=book_id),
                                          metadata=auth("t-reader", "teacher")).nodes
    titles = [n.title for n in outline]
    for earlier, later in [("Preface", "The way of the program"), ("The way of the program", "What is a program?"),
                           ("What is a program?", "Running Python"),
                           ("The way of the program", "Variables, expressions and statements")]:
        assert titles.index(earlier) < titles.index(later)
    chapter = next(n for n in outline if n.title == "The way of the program")
    section = next(n for n in outline if n.title == "What is a program?")
    assert chapter.level == 1 and section.level == 2 and section.parent_node_id == chapter.node_id
    assert chapter.first_page == section.first_page == 21
    assert len(outline) >= 240
    book = content_stub.GetBook(cpb.GetBookRequest(book_id=book_id), metadata=auth("t-reader", "teacher")).book
    assert book.page_count == 288 and book.title == "Think Python"
    assert book.atom_count == thinkpython_ingest["updates"][-1].atoms_written


def test_thinkpython_search_returns_breadcrumbs_and_pages(
    thinkpython_ingest: dict[str, Any], content_stub: Any, auth: Auth
) -> None:
    book_id = thinkpython_ingest["response"].book_id
    reader = auth("t-reader", "teacher")
    outline = content_stub.GetBookOutline(cpb.GetBookOutlineRequest(book_id=book_id), metadata=reader).nodes
    nodes = {n.node_id: n for n in outline}
    results = content_stub.SearchContent(cpb.SearchContentRequest(
        query="a program is a sequence of instructions that specifies how to perform a computation",
        book_ids=[book_id], top_k=5, mode=cpb.SEARCH_MODE_TEXT), metadata=reader).results
    assert results
    top = results[0]
    assert list(top.node_path) == ["The way of the program", "What is a program?"]
    node = nodes[top.node_id]
    assert node.first_page <= top.page_number <= node.last_page
    for result in results:
        assert result.node_path[-1] == nodes[result.node_id].title
        assert nodes[result.node_id].first_page <= result.page_number <= nodes[result.node_id].last_page


def test_same_file_again_returns_the_existing_book(
    thinkpython_ingest: dict[str, Any], ingest_stub: Any, admin: list[tuple[str, str]], stack: Any
) -> None:
    first = thinkpython_ingest["response"]
    before = stored_files(Path(stack.data_dir) / "uploads")
    sha = first.job.content_sha256
    data = (Path(stack.data_dir) / "uploads" / f"uploads/{first.job.job_id}.pdf").read_bytes()
    again = upload(ingest_stub, admin, data, "Think Python again")
    assert again.deduplicated
    assert again.book_id == first.book_id and again.job.job_id == first.job.job_id
    assert again.job.state == pb.INGEST_JOB_STATE_SUCCEEDED
    assert len(_books_with_sha(stack, sha)) == 1
    assert stored_files(Path(stack.data_dir) / "uploads") == before


# --- the small corpus ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "state", "titles"),
    [
        ("toc.pdf", pb.INGEST_JOB_STATE_SUCCEEDED, ["One", "One-A", "One-B", "One-B-I", "One-B-II", "Two",
                                                    "Three", "Three-A", "Three-B"]),
        ("text.pdf", pb.INGEST_JOB_STATE_SUCCEEDED, ["Page 1", "Page 2"]),
        ("multipage.pdf", pb.INGEST_JOB_STATE_SUCCEEDED, ["Page 1", "Page 2", "Page 3"]),
        ("empty.pdf", pb.INGEST_JOB_STATE_FAILED, []),
    ],
)
def test_small_corpus(name: str, state: int, titles: list[str], corpus: Path, ingest_stub: Any,
                      content_stub: Any, admin: list[tuple[str, str]], auth: Auth, stack: Any) -> None:
    response = upload(ingest_stub, admin, unique_copy((corpus / name).read_bytes()), f"small {name}", filename=name)
    job = wait_terminal(ingest_stub, admin, response.job.job_id)
    assert job.state == state, job.error_message
    reader = auth("t-reader", "teacher")
    if state == pb.INGEST_JOB_STATE_SUCCEEDED:
        outline = content_stub.GetBookOutline(cpb.GetBookOutlineRequest(book_id=job.book_id), metadata=reader)
        assert [n.title for n in outline.nodes] == titles
        assert job.atoms_written >= 1
    else:
        assert job.failure_reason == pb.INGEST_FAILURE_REASON_NO_TEXT
        assert "no page has extractable text" in job.error_message
        with pytest.raises(grpc.RpcError) as raised:
            content_stub.GetBook(cpb.GetBookRequest(book_id=job.book_id), metadata=reader)
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_encrypted_pdf_fails_with_reason(corpus: Path, ingest_stub: Any, admin: list[tuple[str, str]],
                                         tmp_path: Path) -> None:
    import pypdf  # writes the encrypted test PDF (pypdfium2 cannot encrypt)

    writer = pypdf.PdfWriter(clone_from=str(corpus / "text.pdf"))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    path = tmp_path / "locked.pdf"
    with path.open("wb") as handle:
        writer.write(handle)
    response = upload(ingest_stub, admin, unique_copy(path.read_bytes()), "locked", filename="locked.pdf")
    job = wait_terminal(ingest_stub, admin, response.job.job_id)
    assert job.state == pb.INGEST_JOB_STATE_FAILED
    assert job.failure_reason == pb.INGEST_FAILURE_REASON_ENCRYPTED
    assert "password" in job.error_message


def test_corrupt_pdf_fails_with_reason(ingest_stub: Any, admin: list[tuple[str, str]]) -> None:
    data = b"%PDF-1.7\n" + uuid.uuid4().bytes * 100 + b"\n%%EOF\n"
    job = wait_terminal(ingest_stub, admin, upload(ingest_stub, admin, data, "garbage").job.job_id)
    assert job.state == pb.INGEST_JOB_STATE_FAILED
    assert job.failure_reason == pb.INGEST_FAILURE_REASON_CORRUPT


# --- refused at the door ------------------------------------------------------------------------


def _job_titles(ingest_stub: Any, admin: list[tuple[str, str]]) -> set[str]:
    jobs = ingest_stub.ListIngestJobs(pb.ListIngestJobsRequest(page_size=200), metadata=admin).jobs
    return {j.title for j in jobs}


def _toc(corpus: Path) -> bytes:
    return (corpus / "toc.pdf").read_bytes()


# Each case: the request stream (from the corpus' toc.pdf and a unique title), the status and words expected.
REFUSED_AT_THE_DOOR = [
    pytest.param(lambda toc, title: requests(b"hello, I am a text file\n" * 100, title, sha=False),
                 grpc.StatusCode.INVALID_ARGUMENT, "not a PDF", id="not-a-pdf"),
    pytest.param(lambda toc, title: requests(toc[: len(toc) // 2], title, sha=False),
                 grpc.StatusCode.INVALID_ARGUMENT, "truncated", id="truncated"),
    pytest.param(lambda toc, title: iter([next(requests(toc, title)), pb.UploadBookRequest(chunk=toc[:-10])]),
                 grpc.StatusCode.INVALID_ARGUMENT, "expected_sha256", id="sha-mismatch"),
    pytest.param(lambda toc, title: requests(toc + b"x" * (2 * 1024 * 1024), title, chunk=2 * 1024 * 1024),
                 grpc.StatusCode.INVALID_ARGUMENT, "at most 1048576 bytes", id="chunk-too-big"),
    pytest.param(lambda toc, title: iter([pb.UploadBookRequest(chunk=toc)]),
                 grpc.StatusCode.INVALID_ARGUMENT, "metadata", id="no-metadata"),
    pytest.param(lambda toc, title: requests(toc, ""), grpc.StatusCode.INVALID_ARGUMENT, "metadata.title",
                 id="no-title"),
]


@pytest.mark.parametrize(("stream", "code", "words"), REFUSED_AT_THE_DOOR)
def test_refused_at_the_door_leaves_nothing(stream: Callable[[bytes, str], Iterator[pb.UploadBookRequest]],
                                            code: grpc.StatusCode, words: str, corpus: Path, ingest_stub: Any,
                                            admin: list[tuple[str, str]], stack: Any) -> None:
    uploads = Path(stack.data_dir) / "uploads"
    before = stored_files(uploads)
    tag = uuid.uuid4().hex[:8]
    with pytest.raises(grpc.RpcError) as raised:
        ingest_stub.UploadBook(stream(_toc(corpus), f"refused {tag}"), metadata=admin, timeout=60)
    assert raised.value.code() == code
    assert words in str(raised.value.details())
    assert not any(tag in title for title in _job_titles(ingest_stub, admin))
    assert stored_files(uploads) == before


def test_teachers_cannot_upload(corpus: Path, ingest_stub: Any, admin: list[tuple[str, str]], auth: Auth,
                                stack: Any) -> None:
    uploads = Path(stack.data_dir) / "uploads"
    before = stored_files(uploads)
    tag = uuid.uuid4().hex[:8]
    with pytest.raises(grpc.RpcError) as raised:
        ingest_stub.UploadBook(requests(_toc(corpus), f"teacher {tag}"), metadata=auth("t-1", "teacher"), timeout=60)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert not any(tag in title for title in _job_titles(ingest_stub, admin))
    assert stored_files(uploads) == before


def test_client_that_stops_halfway_leaves_nothing(corpus: Path, ingest_stub: Any, admin: list[tuple[str, str]],
                                                  stack: Any) -> None:
    uploads = Path(stack.data_dir) / "uploads"
    before = stored_files(uploads)
    data = unique_copy((corpus / "thinkpython2.pdf").read_bytes())
    tag = uuid.uuid4().hex[:8]
    half_sent = threading.Event()
    release = threading.Event()

    def stalling() -> Iterator[pb.UploadBookRequest]:
        for index, message in enumerate(requests(data, f"stopped {tag}", chunk=256 * 1024)):
            yield message
            if index == 2:
                half_sent.set()
                release.wait(30)
                return

    future = ingest_stub.UploadBook.future(stalling(), metadata=admin, timeout=60)
    assert half_sent.wait(30)
    # The temporary object exists while the stream is open ...
    wait_for(lambda: any(".tmp" in name for name in stored_files(uploads) - before), "the temporary object")
    future.cancel()
    release.set()
    with pytest.raises(grpc.FutureCancelledError):
        future.result()
    # ... and is gone once the server noticed the cancellation; no job was recorded.
    wait_for(lambda: stored_files(uploads) == before, "the temporary object to go")
    assert not any(tag in title for title in _job_titles(ingest_stub, admin))


# --- concurrency, cancellation, recovery ---------------------------------------------------------


def test_concurrent_uploads_of_one_file_make_one_book(corpus: Path, ingest_stub: Any,
                                                      admin: list[tuple[str, str]], stack: Any) -> None:
    data = unique_copy((corpus / "toc.pdf").read_bytes())
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda i: upload(ingest_stub, admin, data, f"twin {i}"), range(4)))
    assert len({r.book_id for r in responses}) == 1
    assert len({r.job.job_id for r in responses}) == 1
    assert sum(not r.deduplicated for r in responses) == 1
    job = wait_terminal(ingest_stub, admin, responses[0].job.job_id)
    assert job.state == pb.INGEST_JOB_STATE_SUCCEEDED
    assert len(_books_with_sha(stack, job.content_sha256)) == 1


def test_cancel_mid_book_leaves_no_book(thinkpython: bytes, ingest_stub: Any, admin: list[tuple[str, str]],
                                        content_stub: Any, auth: Auth, stack: Any) -> None:
    data = unique_copy(thinkpython)
    with HeldJob(stack, data) as hold:
        response = upload(ingest_stub, admin, data, "to be cancelled")
        # Held after their first range: some pages are done, not all, and nothing moves until released.
        hold.wait_until_held()
        job_id = response.job.job_id
        mid_book = ingest_stub.GetIngestJob(pb.GetIngestJobRequest(job_id=job_id), metadata=admin).job
        assert mid_book.state == pb.INGEST_JOB_STATE_RUNNING
        assert 0 < mid_book.pages_done < mid_book.pages_total
        cancelled = ingest_stub.CancelIngestJob(pb.CancelIngestJobRequest(job_id=job_id), metadata=admin).job
        assert cancelled.state == pb.INGEST_JOB_STATE_CANCELLED
        assert not (Path(stack.data_dir) / "uploads" / f"uploads/{job_id}.pdf").exists()
        # The steps that were running go on, find the job ended, and stop without loading the book.
        hold.release()
        hold.wait_until_moved_on()
    job = wait_terminal(ingest_stub, admin, job_id)
    assert job.state == pb.INGEST_JOB_STATE_CANCELLED
    assert _books_with_sha(stack, job.content_sha256) == []
    with pytest.raises(grpc.RpcError) as raised:
        content_stub.GetBook(cpb.GetBookRequest(book_id=job.book_id), metadata=auth("t-1", "teacher"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_cancel_unknown_job_is_not_found(ingest_stub: Any, admin: list[tuple[str, str]]) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        ingest_stub.CancelIngestJob(pb.CancelIngestJobRequest(job_id=str(uuid.uuid4())), metadata=admin)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


# --- job listing ---------------------------------------------------------------------------------


def test_list_jobs_paginates_and_filters(thinkpython_ingest: dict[str, Any], ingest_stub: Any,
                                         admin: list[tuple[str, str]], auth: Auth) -> None:
    seen: list[str] = []
    token = ""
    while True:
        page = ingest_stub.ListIngestJobs(pb.ListIngestJobsRequest(page_size=2, page_token=token), metadata=admin)
        assert len(page.jobs) <= 2
        seen += [j.job_id for j in page.jobs]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen))
    assert thinkpython_ingest["response"].job.job_id in seen
    succeeded = ingest_stub.ListIngestJobs(
        pb.ListIngestJobsRequest(state=pb.INGEST_JOB_STATE_SUCCEEDED, page_size=200), metadata=admin).jobs
    assert succeeded and all(j.state == pb.INGEST_JOB_STATE_SUCCEEDED for j in succeeded)
    times = [(j.create_time.seconds, j.create_time.nanos) for j in succeeded]
    assert times == sorted(times, reverse=True)


@pytest.mark.parametrize(("method", "request_"), [
    pytest.param("GetIngestJob", pb.GetIngestJobRequest(job_id=str(uuid.uuid4())), id="get"),
    pytest.param("ListIngestJobs", pb.ListIngestJobsRequest(), id="list"),
    pytest.param("CancelIngestJob", pb.CancelIngestJobRequest(job_id=str(uuid.uuid4())), id="cancel"),
])
def test_jobs_are_for_admins_only(method: str, request_: Any, ingest_stub: Any, auth: Auth) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        getattr(ingest_stub, method)(request_, metadata=auth("t-1", "teacher"))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("job_id", [pytest.param("not-a-uuid", id="not-a-uuid"), pytest.param("", id="empty")])
def test_bad_job_ids_are_invalid(job_id: str, ingest_stub: Any, admin: list[tuple[str, str]]) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        ingest_stub.GetIngestJob(pb.GetIngestJobRequest(job_id=job_id), metadata=admin)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
