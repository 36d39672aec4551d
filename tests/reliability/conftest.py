"""Fixtures of the attack matrices: the front, channels to each service, and callers that own real
resources (a book uploaded through IngestService, a private strategy, an artifact with history)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2

from devstack import Stack
from teaching.content.v1 import content_service_pb2 as content_pb
from teaching.content.v1 import content_service_pb2_grpc
from teaching.ingest.v1 import ingest_service_pb2 as ingest_pb
from teaching.ingest.v1 import ingest_service_pb2_grpc
from teaching.user.v1 import user_service_pb2 as user_pb
from teaching.user.v1 import user_service_pb2_grpc
from tests.ingest.helpers import requests, unique_copy
from tests.reliability.baselines import Ids

Metadata = tuple[tuple[str, str], ...]


@pytest.fixture(scope="session")
def front(stack: Stack) -> str:
    assert stack.with_envoy, "the stack runs without Envoy"
    return stack.address("envoy")


@pytest.fixture(scope="session")
def channels(stack: Stack) -> Iterator[dict[str, grpc.Channel]]:
    """One channel per service process ("content", "user", "ingest"), able to send 16 MiB."""
    options = [("grpc.max_send_message_length", 16 << 20), ("grpc.max_receive_message_length", 16 << 20)]
    opened = {name: grpc.insecure_channel(stack.address(name), options=options)
              for name in ("content", "user", "ingest")}
    yield opened
    for channel in opened.values():
        channel.close()


@dataclass(frozen=True)
class Teacher:
    """A caller with its own user id, token and stubs."""

    user_id: str
    token: str
    content: content_service_pb2_grpc.ContentServiceStub
    user: user_service_pb2_grpc.UserServiceStub
    ingest: ingest_service_pb2_grpc.IngestServiceStub

    @property
    def metadata(self) -> Metadata:
        return (("authorization", f"Bearer {self.token}"),)


@pytest.fixture(scope="session")
def new_teacher(channels: dict[str, grpc.Channel], make_token: Callable[..., str]) -> Callable[..., Teacher]:
    def make(*roles: str, prefix: str = "reliability") -> Teacher:
        user_id = f"{prefix}-{uuid.uuid4().hex[:12]}"
        return Teacher(
            user_id, make_token(user_id, *(roles or ("teacher",))),
            content_service_pb2_grpc.ContentServiceStub(channels["content"]),
            user_service_pb2_grpc.UserServiceStub(channels["user"]),
            ingest_service_pb2_grpc.IngestServiceStub(channels["ingest"]),
        )

    return make


@dataclass(frozen=True)
class Book:
    book_id: str
    job_id: str
    node_id: str
    atom_id: str


@pytest.fixture(scope="session")
def book(new_teacher: Callable[..., Teacher], corpus: Path) -> Iterator[Book]:
    """A small real book (toc.pdf, a unique copy), uploaded and ingested through the public contract."""
    admin = new_teacher("admin", prefix="reliability-admin")
    data = unique_copy((corpus / "toc.pdf").read_bytes())
    uploaded = admin.ingest.UploadBook(requests(data, "Reliability book", filename="toc.pdf"),
                                       metadata=admin.metadata, timeout=120)
    watch = admin.ingest.WatchIngestJob(ingest_pb.WatchIngestJobRequest(job_id=uploaded.job.job_id),
                                        metadata=admin.metadata, timeout=300)
    states = [update.job.state for update in watch]
    assert states[-1] == ingest_pb.INGEST_JOB_STATE_SUCCEEDED, states
    outline = admin.content.GetBookOutline(content_pb.GetBookOutlineRequest(book_id=uploaded.book_id),
                                           metadata=admin.metadata, timeout=15)
    hits = admin.content.SearchContent(
        content_pb.SearchContentRequest(query="Three", book_ids=[uploaded.book_id], mode=content_pb.SEARCH_MODE_TEXT),
        metadata=admin.metadata, timeout=15,
    ).results
    assert outline.nodes and hits
    yield Book(uploaded.book_id, uploaded.job.job_id, outline.nodes[0].node_id, hits[0].atom_id)
    admin.content.DeleteBook(content_pb.DeleteBookRequest(book_id=uploaded.book_id), metadata=admin.metadata,
                             timeout=30)


@dataclass(frozen=True)
class Holdings:
    """A teacher and what they own: a profile, a private strategy, an artifact at revision 2."""

    teacher: Teacher
    book: Book
    strategy: content_pb.PedagogyStrategy
    artifact: user_pb.ClassArtifact

    def current_artifact(self) -> user_pb.ClassArtifact:
        found: user_pb.ClassArtifact = self.teacher.user.GetArtifact(
            user_pb.GetArtifactRequest(artifact_id=self.artifact.artifact_id), metadata=self.teacher.metadata,
            timeout=15).artifact
        return found

    def ids(self) -> Ids:
        return Ids(book_id=self.book.book_id, node_id=self.book.node_id, atom_id=self.book.atom_id,
                   strategy_id=self.strategy.strategy_id, artifact_id=self.artifact.artifact_id,
                   job_id=self.book.job_id, etag=lambda: self.current_artifact().etag)


def holdings_of(teacher: Teacher, book: Book) -> Holdings:
    teacher.user.UpdateProfile(user_pb.UpdateProfileRequest(
        profile=user_pb.TeacherProfile(display_name=f"Profile of {teacher.user_id}", language="en"),
        update_mask=field_mask_pb2.FieldMask(paths=["display_name", "language"]),
    ), metadata=teacher.metadata, timeout=15)
    strategy = teacher.content.CreatePedagogyStrategy(content_pb.CreatePedagogyStrategyRequest(
        strategy=content_pb.PedagogyStrategy(name=f"Private of {teacher.user_id}", description="mine",
                                             instructions="secret", tags=["private"])
    ), metadata=teacher.metadata, timeout=15).strategy
    created = teacher.user.CreateArtifact(user_pb.CreateArtifactRequest(artifact=user_pb.ClassArtifact(
        kind=user_pb.ARTIFACT_KIND_WORKSHEET, title=f"Worksheet of {teacher.user_id}", book_ids=[book.book_id],
        worksheet=user_pb.Worksheet(instructions="Answer", items=[user_pb.WorksheetItem(prompt="1+1?", answer="2")]),
    )), metadata=teacher.metadata, timeout=15).artifact
    updated = teacher.user.UpdateArtifact(user_pb.UpdateArtifactRequest(
        artifact=user_pb.ClassArtifact(artifact_id=created.artifact_id, etag=created.etag, title="Revised"),
        update_mask=field_mask_pb2.FieldMask(paths=["title"]),
    ), metadata=teacher.metadata, timeout=15).artifact
    return Holdings(teacher, book, strategy, updated)


@pytest.fixture(scope="session")
def matrix_caller(new_teacher: Callable[..., Teacher], book: Book) -> Holdings:
    """The bad-input matrix's caller: teacher and admin, so every RPC reaches its input checks."""
    return holdings_of(new_teacher("teacher", "admin", prefix="reliability-matrix"), book)
