"""UserService test helpers: callers, request builders and error inspection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import grpc
import pytest

from content_svc.contract import ParsedAtom, ParsedBook, ParsedNode
from content_svc.rules.library import atom_uuid
from teaching.user.v1 import user_service_pb2 as pb
from teaching.user.v1 import user_service_pb2_grpc
from tests.content.support import load, unique_sha

# A global strategy every library holds (content_svc migration 0005, "ESL Standard").
GLOBAL_STRATEGY_ID = "a664abba-cd85-5754-925a-e0bede96f967"


@dataclass
class Teacher:
    """A caller with its own user id and a stub call shortcut: `teacher.call("GetArtifact", request)`."""

    user_id: str
    metadata: list[tuple[str, str]]
    stub: user_service_pb2_grpc.UserServiceStub

    def call(self, method: str, request: Any) -> Any:
        return getattr(self.stub, method)(request, metadata=self.metadata, timeout=15)

    def fails(self, method: str, request: Any, code: grpc.StatusCode) -> grpc.RpcError:
        with pytest.raises(grpc.RpcError) as caught:
            self.call(method, request)
        assert caught.value.code() == code, caught.value.details()
        return caught.value

    def create(self, artifact: pb.ClassArtifact) -> pb.ClassArtifact:
        created: pb.ClassArtifact = self.call("CreateArtifact", pb.CreateArtifactRequest(artifact=artifact)).artifact
        return created

    def get(self, artifact_id: str) -> pb.ClassArtifact:
        found: pb.ClassArtifact = self.call("GetArtifact", pb.GetArtifactRequest(artifact_id=artifact_id)).artifact
        return found

    def revisions(self, artifact_id: str) -> list[pb.ArtifactRevision]:
        response = self.call("ListArtifactRevisions", pb.ListArtifactRevisionsRequest(artifact_id=artifact_id))
        return list(response.revisions)

    def list_all(self, **filters: Any) -> list[pb.ClassArtifact]:
        found: list[pb.ClassArtifact] = []
        token = ""
        while True:
            response = self.call("ListArtifacts", pb.ListArtifactsRequest(page_token=token, **filters))
            found.extend(response.artifacts)
            token = response.next_page_token
            if not token:
                return found


def book() -> str:
    """A well-formed book id that names no book (for validation and filters, never for a stored citation)."""
    return str(uuid4())


def atom_of(book_id: str) -> str:
    """The id of a book's first atom (ids are deterministic: content_svc.rules.library.atom_uuid); any
    id when `book_id` is malformed (a validation case)."""
    try:
        return str(atom_uuid(UUID(book_id), 0))
    except ValueError:
        return str(uuid4())


@dataclass
class Library:
    """Real books in db_content for artifacts to cite (artifacts' references are checked): one node
    and one atom each, handed out in turn, so up to len(book_ids) calls in a row are distinct."""

    book_ids: list[str]
    _handed_out: int = field(default=0, repr=False)

    @classmethod
    def load(cls, conninfo: str, count: int) -> Library:
        return cls([str(load(conninfo, _tiny_book(n))) for n in range(count)])

    def book(self) -> str:
        self._handed_out += 1
        return self.book_ids[self._handed_out % len(self.book_ids)]


def _tiny_book(n: int) -> ParsedBook:
    return ParsedBook(
        title=f"User tests book {n}", page_count=1, content_sha256=unique_sha(),
        nodes=[ParsedNode(key=1, parent_key=None, level=1, ordinal=0, title="Chapter", first_page=1, last_page=1)],
        atoms=[ParsedAtom(node_key=1, ordinal=0, page_number=1, text=f"Passage of book {n}.")],
    )


def quiz(title: str = "Fractions check", *, books: tuple[str, ...] = (), questions: int = 2) -> pb.ClassArtifact:
    return pb.ClassArtifact(
        kind=pb.ARTIFACT_KIND_QUIZ,
        title=title,
        quiz=pb.Quiz(
            questions=[
                pb.QuizQuestion(
                    prompt=f"What is {n}/2 + {n}/2?",
                    choices=[str(n), str(n + 1), "0"],
                    correct_choice_index=0,
                    answer=str(n),
                    explanation="Halves add up to a whole.",
                )
                for n in range(1, questions + 1)
            ]
        ),
        book_ids=list(books),
        atom_references=[pb.AtomReference(book_id=b, atom_id=atom_of(b)) for b in books],
        pedagogy_strategy_id=GLOBAL_STRATEGY_ID,
    )


def lesson_plan(title: str = "Photosynthesis", *, books: tuple[str, ...] = ()) -> pb.ClassArtifact:
    return pb.ClassArtifact(
        kind=pb.ARTIFACT_KIND_LESSON_PLAN,
        title=title,
        lesson_plan=pb.LessonPlan(
            objectives=["Explain how plants make sugar"],
            activities=[
                pb.LessonActivity(title="Warm-up", description="Leaves in the dark?", duration_minutes=10),
                pb.LessonActivity(title="Experiment", description="Pondweed bubbles", duration_minutes=30),
            ],
            materials=["pondweed", "lamp"],
        ),
        book_ids=list(books),
    )


def worksheet(title: str = "Verbs", *, books: tuple[str, ...] = ()) -> pb.ClassArtifact:
    return pb.ClassArtifact(
        kind=pb.ARTIFACT_KIND_WORKSHEET,
        title=title,
        worksheet=pb.Worksheet(
            instructions="Underline the verb.",
            items=[pb.WorksheetItem(prompt="The cat sleeps.", answer="sleeps")],
        ),
        book_ids=list(books),
    )
