"""An artifact's references are checked with ContentService, as the caller: unknown books, atoms and
strategies (another teacher's private one included) are refused with a field violation each and
nothing is written; a cited book deleted later leaves the artifact readable, its references flagged."""

from __future__ import annotations

import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from prometheus_client.parser import text_string_to_metric_families

from devstack import Stack
from teaching.content.v1 import content_service_pb2 as content_pb
from teaching.user.v1 import user_service_pb2 as pb
from tests.content.support import load, textbook_parsed
from tests.envoy.web import http_request
from tests.status import field_violations
from tests.user.support import GLOBAL_STRATEGY_ID, Library, Teacher, atom_of, quiz

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NewTeacher = Callable[[], Teacher]


def private_strategy(content_stub: Any, teacher: Teacher) -> str:
    strategy = content_stub.CreatePedagogyStrategy(content_pb.CreatePedagogyStrategyRequest(
        strategy=content_pb.PedagogyStrategy(name=f"Private of {teacher.user_id}", instructions="mine")),
        metadata=teacher.metadata).strategy
    return str(strategy.strategy_id)


def citing(books: list[str], atoms: list[tuple[str, str]], strategy_id: str = "") -> pb.ClassArtifact:
    artifact = quiz("Cited")
    artifact.book_ids[:] = books
    del artifact.atom_references[:]
    artifact.atom_references.extend(pb.AtomReference(book_id=b, atom_id=a) for b, a in atoms)
    artifact.pedagogy_strategy_id = strategy_id
    return artifact


def _update(artifact: pb.ClassArtifact, etag: str, *paths: str) -> pb.UpdateArtifactRequest:
    artifact.etag = etag
    return pb.UpdateArtifactRequest(artifact=artifact, update_mask=field_mask_pb2.FieldMask(paths=list(paths)))


# --- writes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """What a case can cite: two real books, ids that exist nowhere, another teacher's private strategy."""

    good: str
    second: str
    unknown_book: str
    other_unknown_book: str
    unknown_atom: str
    theirs: str


Citation = tuple[list[str], list[tuple[str, str]], str]


@pytest.mark.parametrize(("cite", "expected"), [
    pytest.param(lambda w: ([w.good, w.unknown_book], [(w.good, atom_of(w.good))], GLOBAL_STRATEGY_ID),
                 {"artifact.book_ids[1]"}, id="unknown-book"),
    pytest.param(lambda w: ([w.good], [(w.good, atom_of(w.good)), (w.good, w.unknown_atom)], GLOBAL_STRATEGY_ID),
                 {"artifact.atom_references[1]"}, id="unknown-atom"),
    pytest.param(lambda w: ([w.good], [(w.good, atom_of(w.second))], GLOBAL_STRATEGY_ID),
                 {"artifact.atom_references[0]"}, id="atom-of-another-book"),
    pytest.param(lambda w: ([w.good], [(w.unknown_book, atom_of(w.good))], GLOBAL_STRATEGY_ID),
                 {"artifact.atom_references[0]"}, id="atom-of-an-unknown-book"),
    pytest.param(lambda w: ([w.good], [], w.unknown_atom), {"artifact.pedagogy_strategy_id"}, id="unknown-strategy"),
    pytest.param(lambda w: ([w.good], [], w.theirs), {"artifact.pedagogy_strategy_id"},
                 id="another-teachers-private-strategy"),
    pytest.param(lambda w: ([w.unknown_book, w.good, w.other_unknown_book],
                            [(w.good, w.unknown_atom), (w.good, atom_of(w.good)), (w.second, atom_of(w.good))],
                            w.theirs),
                 {"artifact.book_ids[0]", "artifact.book_ids[2]", "artifact.atom_references[0]",
                  "artifact.atom_references[2]", "artifact.pedagogy_strategy_id"}, id="all-at-once"),
])
def test_unknown_references_are_refused_with_a_violation_each_and_nothing_is_written(
    new_teacher: NewTeacher, library: Library, content_stub: Any, cite: Callable[[World], Citation],
    expected: set[str],
) -> None:
    teacher = new_teacher()
    world = World(good=library.book(), second=library.book(), unknown_book=str(uuid.uuid4()),
                  other_unknown_book=str(uuid.uuid4()), unknown_atom=str(uuid.uuid4()),
                  theirs=private_strategy(content_stub, new_teacher()))
    error = teacher.fails("CreateArtifact", pb.CreateArtifactRequest(artifact=citing(*cite(world))), INVALID)
    assert set(field_violations(error)) == expected
    assert teacher.list_all() == []


@pytest.mark.parametrize("strategy", ["global", "own-private", "none"])
def test_known_references_are_accepted(
    new_teacher: NewTeacher, library: Library, content_stub: Any, strategy: str
) -> None:
    teacher = new_teacher()
    first, second = library.book(), library.book()
    strategy_id = {"global": GLOBAL_STRATEGY_ID, "own-private": private_strategy(content_stub, teacher), "none": ""}
    created = teacher.create(citing([first, second], [(second, atom_of(second)), (first, atom_of(first))],
                                    strategy_id[strategy]))
    assert created.reference_check == pb.REFERENCE_CHECK_RESOLVED and not created.dangling_references
    assert created.pedagogy_strategy_id == strategy_id[strategy]


def test_an_update_checks_the_references_it_writes_and_changes_nothing_when_refused(
    new_teacher: NewTeacher, library: Library, content_stub: Any
) -> None:
    teacher, other = new_teacher(), new_teacher()
    book = library.book()
    original = teacher.create(citing([book], [(book, atom_of(book))], GLOBAL_STRATEGY_ID))
    bad = citing([book, str(uuid.uuid4())], [(book, str(uuid.uuid4()))], private_strategy(content_stub, other))
    bad.artifact_id = original.artifact_id
    error = teacher.fails("UpdateArtifact", _update(bad, original.etag, "book_ids", "atom_references",
                                                     "pedagogy_strategy_id"), INVALID)
    assert set(field_violations(error)) == {"artifact.book_ids[1]", "artifact.atom_references[0]",
                                            "artifact.pedagogy_strategy_id"}
    assert teacher.get(original.artifact_id) == original and teacher.revisions(original.artifact_id) == []

    mine = private_strategy(content_stub, teacher)
    good = pb.ClassArtifact(artifact_id=original.artifact_id, pedagogy_strategy_id=mine)
    updated = teacher.call("UpdateArtifact", _update(good, original.etag, "pedagogy_strategy_id")).artifact
    assert updated.pedagogy_strategy_id == mine and updated.reference_check == pb.REFERENCE_CHECK_RESOLVED


# --- a cited book deleted later ------------------------------------------------------------------


def read_until(teacher: Teacher, artifact_id: str, check: int, seconds: float = 60.0) -> pb.ClassArtifact:
    """The artifact once a read says `check`: a read counts what ContentService confirmed within
    REFERENCE_CACHE_SECONDS as still there, so a deletion shows that much later at most."""
    deadline = time.monotonic() + seconds
    while True:
        read = teacher.get(artifact_id)
        if read.reference_check == check or time.monotonic() > deadline:
            assert read.reference_check == check, f"not {check} within {seconds:.0f} s"
            return read
        time.sleep(0.2)


def test_a_deleted_book_leaves_the_artifact_readable_with_dangling_references_flagged(
    new_teacher: NewTeacher, library: Library, stack: Stack, content_stub: Any, auth: Callable[..., Any]
) -> None:
    teacher = new_teacher()
    doomed = str(load(stack.settings.content_conninfo(), textbook_parsed("Doomed")))
    kept = library.book()
    created = teacher.create(citing([kept, doomed], [(doomed, atom_of(doomed)), (kept, atom_of(kept))],
                                    GLOBAL_STRATEGY_ID))
    assert created.reference_check == pb.REFERENCE_CHECK_RESOLVED
    content_stub.DeleteBook(content_pb.DeleteBookRequest(book_id=doomed), metadata=auth("librarian", "admin"))

    read = read_until(teacher, created.artifact_id, pb.REFERENCE_CHECK_DANGLING)
    assert {d.field: d.description for d in read.dangling_references} == {
        "book_ids[1]": f"no book {doomed} in the library",
        "atom_references[0]": f"book {doomed} has no atom {atom_of(doomed)}",
    }
    assert list(read.book_ids) == [kept, doomed] and read.title == created.title
    assert [a.artifact_id for a in teacher.list_all(book_id=doomed)] == [created.artifact_id]

    # Edits that leave the references alone still work; writing the dangling ones again does not.
    retitled = teacher.call("UpdateArtifact", _update(
        pb.ClassArtifact(artifact_id=created.artifact_id, title="Renamed"), read.etag, "title")).artifact
    assert retitled.title == "Renamed" and retitled.reference_check == pb.REFERENCE_CHECK_DANGLING
    error = teacher.fails("UpdateArtifact", _update(
        pb.ClassArtifact(artifact_id=created.artifact_id, book_ids=[doomed]), retitled.etag, "book_ids"), INVALID)
    assert set(field_violations(error)) == {"artifact.book_ids[0]"}

    # A rollback to a version citing the deleted book is allowed, and flagged.
    without = citing([kept], [(kept, atom_of(kept))])
    without.artifact_id = created.artifact_id
    current = teacher.call("UpdateArtifact", _update(without, retitled.etag, "book_ids", "atom_references")).artifact
    assert current.reference_check == pb.REFERENCE_CHECK_RESOLVED
    restored = teacher.call("RollbackArtifact", pb.RollbackArtifactRequest(
        artifact_id=created.artifact_id, revision=1, etag=current.etag)).artifact
    assert list(restored.book_ids) == [kept, doomed] and restored.reference_check == pb.REFERENCE_CHECK_DANGLING
    assert {d.field for d in restored.dangling_references} == {"book_ids[1]", "atom_references[0]"}


# --- through Envoy -------------------------------------------------------------------------------


def test_json_clients_get_the_same_checks_with_their_own_identity(
    stack: Stack, library: Library, content_stub: Any, new_teacher: NewTeacher, make_token: Callable[..., str]
) -> None:
    owner = new_teacher()
    token = make_token(owner.user_id, "teacher")
    mine, theirs = private_strategy(content_stub, owner), private_strategy(content_stub, new_teacher())
    book = library.book()

    def create(strategy_id: str) -> Any:
        body = {"kind": "ARTIFACT_KIND_WORKSHEET", "title": "JSON", "worksheet": {"items": [{"prompt": "1+1?"}]},
                "bookIds": [book], "atomReferences": [{"bookId": book, "atomId": atom_of(book)}],
                "pedagogyStrategyId": strategy_id}
        return http_request(stack.address("envoy"), "POST", "/v1/artifacts", body=body, token=token)

    refused = create(theirs)
    assert refused.status == 400, refused.body
    violations = [v for d in refused.json()["details"] if d["@type"].endswith("BadRequest")
                  for v in d["fieldViolations"]]
    assert [v["field"] for v in violations] == ["artifact.pedagogy_strategy_id"]
    accepted = create(mine)
    assert accepted.status == 200, accepted.body
    assert accepted.json()["artifact"]["referenceCheck"] == "REFERENCE_CHECK_RESOLVED"


# --- one round trip, and reads from recent confirmations ------------------------------------------


def test_check_references_lists_what_does_not_exist_for_the_caller(
    new_teacher: NewTeacher, library: Library, content_stub: Any, stack: Stack
) -> None:
    teacher = new_teacher()
    good, second, unknown = library.book(), library.book(), str(uuid.uuid4())
    mine, theirs = private_strategy(content_stub, teacher), private_strategy(content_stub, new_teacher())
    request = content_pb.CheckReferencesRequest(
        book_ids=[good, unknown, second],
        atoms=[content_pb.GetContentAtomRequest(book_id=b, atom_id=a)
               for b, a in ((good, atom_of(good)), (good, atom_of(second)), (unknown, atom_of(good)))],
        pedagogy_strategy_ids=[GLOBAL_STRATEGY_ID, theirs, mine, unknown],
    )
    answer = content_stub.CheckReferences(request, metadata=teacher.metadata)
    assert list(answer.missing_book_ids) == [unknown]
    assert [(a.book_id, a.atom_id) for a in answer.missing_atoms] == [(good, atom_of(second)), (unknown, atom_of(good))]
    assert list(answer.missing_pedagogy_strategy_ids) == [theirs, unknown]

    token = teacher.metadata[0][1].removeprefix("Bearer ")
    reply = http_request(stack.address("envoy"), "POST", "/v1/content:checkReferences", token=token, body={
        "bookIds": [unknown, good], "atoms": [{"bookId": second, "atomId": atom_of(second)}],
        "pedagogyStrategyIds": [theirs]})
    assert reply.status == 200, reply.body
    assert reply.json() == {"missingBookIds": [unknown], "missingAtoms": [], "missingPedagogyStrategyIds": [theirs]}


@pytest.mark.parametrize(("request_", "fields"), [
    pytest.param(content_pb.CheckReferencesRequest(
        book_ids=[str(uuid.uuid4()), "nope"], atoms=[content_pb.GetContentAtomRequest(book_id=str(uuid.uuid4()))],
        pedagogy_strategy_ids=["x"]),
        {"book_ids[1]", "atoms[0].atom_id", "pedagogy_strategy_ids[0]"}, id="malformed-ids"),
    pytest.param(content_pb.CheckReferencesRequest(book_ids=[str(uuid.uuid4()) for _ in range(101)]),
                 {"book_ids"}, id="too-many"),
])
def test_check_references_refuses_bad_requests(
    new_teacher: NewTeacher, content_stub: Any, request_: content_pb.CheckReferencesRequest, fields: set[str]
) -> None:
    with pytest.raises(grpc.RpcError) as error:
        content_stub.CheckReferences(request_, metadata=new_teacher().metadata)
    assert error.value.code() == INVALID
    assert set(field_violations(error.value)) == fields


def content_checks(stack: Stack) -> float:
    """CheckReferences calls ContentService answered, from its metrics endpoint."""
    with urllib.request.urlopen(stack.metrics_urls()["content"], timeout=5) as response:
        text = response.read().decode()
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == "grpc_server_handled_total" and sample.labels["grpc_method"] == "CheckReferences")


def test_writes_ask_content_once_and_reads_answer_from_recent_confirmations(
    new_teacher: NewTeacher, library: Library, stack: Stack
) -> None:
    teacher, book = new_teacher(), library.book()
    quiz_ = citing([book], [(book, atom_of(book))], GLOBAL_STRATEGY_ID)
    before = content_checks(stack)
    created = teacher.create(quiz_)
    assert content_checks(stack) == before + 1  # one round trip for a book, an atom and a strategy
    started, reads = time.monotonic(), 20
    for _ in range(reads):
        assert teacher.get(created.artifact_id).reference_check == pb.REFERENCE_CHECK_RESOLVED
    # Each confirmation serves the reads of the next REFERENCE_CACHE_SECONDS.
    asked = content_checks(stack) - before - 1
    assert asked <= (time.monotonic() - started) / stack.settings.reference_cache_seconds + 1 < reads
    teacher.create(quiz_)
    assert content_checks(stack) == before + 2 + asked  # a write always asks
