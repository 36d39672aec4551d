"""Books: list pagination, get, delete (admin); the writer's idempotency, de-duplication and transactions."""

from __future__ import annotations

import base64
import uuid

import grpc
import psycopg
import pytest

from common.errors import InvalidArgument
from common.status import status_code
from content_svc.contract import DuplicateBook
from content_svc.repository.library import CONTENT_TABLES
from content_svc.writer import find_book_by_hash, load_book
from teaching.content.v1 import content_service_pb2 as pb
from tests.content.support import EMBEDDER, load, textbook_parsed, unique_sha
from tests.status import expect_error, field_violations


def _all_books(content_stub, metadata, page_size: int) -> list[pb.Book]:
    books: list[pb.Book] = []
    token = ""
    while True:
        page = content_stub.ListBooks(pb.ListBooksRequest(page_size=page_size, page_token=token), metadata=metadata)
        assert len(page.books) <= page_size
        books += page.books
        token = page.next_page_token
        if not token:
            return books


def test_list_books_pagination_round_trip(conninfo, content_stub, teacher):
    loaded = [load(conninfo, textbook_parsed(f"Paged {i}")) for i in range(5)]
    everything = _all_books(content_stub, teacher, page_size=200)
    paged = _all_books(content_stub, teacher, page_size=2)
    assert [b.book_id for b in paged] == [b.book_id for b in everything]
    assert len({b.book_id for b in paged}) == len(paged)
    ids = [b.book_id for b in everything]
    assert {str(b) for b in loaded} <= set(ids)
    # Newest first.
    times = [b.create_time.ToDatetime() for b in everything]
    assert times == sorted(times, reverse=True)
    mine = [i for i in ids if i in {str(b) for b in loaded}]
    assert mine == [str(b) for b in reversed(loaded)]


def _tampered(token: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[-3] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


@pytest.mark.parametrize("spoil", [
    pytest.param(_tampered, id="one-bit-flipped"),
    pytest.param(lambda token: "garbage!", id="garbage"),
    pytest.param(lambda token: token[:-4], id="truncated"),
])
def test_tampered_page_tokens_are_rejected(conninfo, content_stub, teacher, spoil):
    load(conninfo, textbook_parsed("Token A"))
    load(conninfo, textbook_parsed("Token B"))
    token = content_stub.ListBooks(pb.ListBooksRequest(page_size=1), metadata=teacher).next_page_token
    assert token
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, content_stub.ListBooks,
                         pb.ListBooksRequest(page_size=1, page_token=spoil(token)), metadata=teacher)
    assert "page_token" in field_violations(error)


def test_foreign_page_tokens_and_bad_page_sizes_are_rejected(conninfo, content_stub, teacher):
    load(conninfo, textbook_parsed("Token C"))
    load(conninfo, textbook_parsed("Token D"))
    token = content_stub.ListBooks(pb.ListBooksRequest(page_size=1), metadata=teacher).next_page_token
    assert token
    # A books token is no good for listing strategies.
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, content_stub.ListPedagogyStrategies,
                         pb.ListPedagogyStrategiesRequest(page_token=token), metadata=teacher)
    assert "page_token" in field_violations(error)
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, content_stub.ListBooks,
                         pb.ListBooksRequest(page_size=-1), metadata=teacher)
    assert "page_size" in field_violations(error)


def test_get_book_reports_what_the_loader_wrote(conninfo, content_stub, teacher):
    parsed = textbook_parsed("Described")
    book_id = load(conninfo, parsed)
    book = content_stub.GetBook(pb.GetBookRequest(book_id=str(book_id)), metadata=teacher).book
    assert (book.title, list(book.authors), book.subject, book.grade_level, book.page_count) == (
        "Described", ["A. Author", "B. Author"], "biology", "9", 40
    )
    assert book.content_sha256 == parsed.content_sha256
    assert (book.embedding_model, book.embedding_dimension) == (EMBEDDER.model_name, 384)
    assert (book.node_count, book.atom_count) == (len(parsed.nodes), len(parsed.atoms))
    expect_error(grpc.StatusCode.NOT_FOUND, content_stub.GetBook,
                 pb.GetBookRequest(book_id=str(uuid.uuid4())), metadata=teacher)
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, content_stub.GetBook,
                         pb.GetBookRequest(book_id="12345"), metadata=teacher)
    assert "book_id" in field_violations(error)


def test_loader_is_idempotent_and_refuses_duplicate_files(conninfo, content_stub, teacher):
    parsed = textbook_parsed("Once")
    book_id = load(conninfo, parsed)
    load(conninfo, parsed, book_id=book_id)  # a retried task: no error, no second copy
    with psycopg.connect(conninfo) as conn:
        atoms = conn.execute(
            "SELECT count(*) FROM content_atoms JOIN books USING (book_no) WHERE book_id = %s", (book_id,)
        ).fetchone()
        assert atoms == (len(parsed.atoms),)
        with pytest.raises(DuplicateBook) as info:
            load_book(conn, uuid.uuid4(), parsed, EMBEDDER.embed([a.text for a in parsed.atoms]), EMBEDDER)
        assert info.value.existing_book_id == book_id
        assert status_code(info.value) == grpc.StatusCode.ALREADY_EXISTS
        assert find_book_by_hash(conn, parsed.content_sha256) == book_id
        assert find_book_by_hash(conn, unique_sha()) is None


def test_load_commits_with_the_callers_transaction(conninfo):
    """Ingest loads a book and marks its job done in one transaction: a rollback takes the book with it."""
    parsed = textbook_parsed("Rolled back")
    book_id = uuid.uuid4()
    with psycopg.connect(conninfo) as conn:
        with conn.transaction():  # psycopg.Rollback below rolls it back and is swallowed by it
            load_book(conn, book_id, parsed, EMBEDDER.embed([a.text for a in parsed.atoms]), EMBEDDER)
            assert find_book_by_hash(conn, parsed.content_sha256) == book_id
            raise psycopg.Rollback()
        assert find_book_by_hash(conn, parsed.content_sha256) is None
        assert conn.execute("SELECT count(*) FROM books WHERE book_id = %s", (book_id,)).fetchone() == (0,)


def test_failed_load_leaves_nothing_behind(conninfo, content_stub, teacher):
    parsed = textbook_parsed("Broken")
    book_id = uuid.uuid4()
    with psycopg.connect(conninfo) as conn:
        vectors = EMBEDDER.embed([a.text for a in parsed.atoms])
        vectors[0, 0] = float("nan")
        with pytest.raises(InvalidArgument, match="NaN"):
            load_book(conn, book_id, parsed, vectors, EMBEDDER)
        assert conn.execute("SELECT count(*) FROM books WHERE book_id = %s", (book_id,)).fetchone() == (0,)
    # Nothing half-written blocks a correct load of the same book afterwards.
    load(conninfo, parsed, book_id=book_id)
    assert content_stub.GetBook(pb.GetBookRequest(book_id=str(book_id)), metadata=teacher).book.atom_count == 9


def test_delete_book_is_admin_only_and_removes_everything(conninfo, content_stub, teacher, admin):
    parsed = textbook_parsed("Doomed")
    book_id = str(load(conninfo, parsed))
    with psycopg.connect(conninfo) as conn:
        book_no = conn.execute("SELECT book_no FROM books WHERE book_id = %s", (book_id,)).fetchone()[0]  # type: ignore[index]
        for table in CONTENT_TABLES:
            assert conn.execute(f"SELECT count(*) FROM {table} WHERE book_no = %s", (book_no,)).fetchone() != (0,)
    outline = content_stub.GetBookOutline(pb.GetBookOutlineRequest(book_id=book_id), metadata=teacher)
    assert len(outline.nodes) == 7  # also warms the outline cache
    # A search warms the catalogue and the vector cache of the service.
    search = pb.SearchContentRequest(query="cell", book_ids=[book_id])
    assert content_stub.SearchContent(search, metadata=teacher).results

    expect_error(grpc.StatusCode.PERMISSION_DENIED, content_stub.DeleteBook,
                 pb.DeleteBookRequest(book_id=book_id), metadata=teacher)
    content_stub.DeleteBook(pb.DeleteBookRequest(book_id=book_id), metadata=admin)

    expect_error(grpc.StatusCode.NOT_FOUND, content_stub.GetBook, pb.GetBookRequest(book_id=book_id), metadata=teacher)
    expect_error(grpc.StatusCode.NOT_FOUND, content_stub.GetBookOutline,
                 pb.GetBookOutlineRequest(book_id=book_id), metadata=teacher)
    expect_error(grpc.StatusCode.NOT_FOUND, content_stub.SearchContent,
                 pb.SearchContentRequest(query="cell", book_ids=[book_id]), metadata=teacher)
    expect_error(grpc.StatusCode.NOT_FOUND, content_stub.DeleteBook,
                 pb.DeleteBookRequest(book_id=book_id), metadata=admin)
    listed = _all_books(content_stub, teacher, page_size=200)
    assert book_id not in {b.book_id for b in listed}
    with psycopg.connect(conninfo) as conn:
        for table in CONTENT_TABLES:
            count = conn.execute(f"SELECT count(*) FROM {table} WHERE book_no = %s", (book_no,)).fetchone()
            assert count == (0,)

    # The same file can be ingested again (new id or the same one), and is served fresh, not from cache.
    reloaded = load(conninfo, parsed, book_id=uuid.UUID(book_id))
    again = content_stub.GetBookOutline(pb.GetBookOutlineRequest(book_id=str(reloaded)), metadata=teacher)
    assert [n.title for n in again.nodes] == [n.title for n in outline.nodes]
