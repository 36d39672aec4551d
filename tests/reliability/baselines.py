"""A well-formed request for every RPC, addressing the caller's own resources, for the bad-input
matrix to corrupt one field at a time (so a case fails on the field it corrupts, not on a missing id).

Generic first: REQUIRED fields (google.api.field_behavior) are filled, ids by their field name from
the caller's resources. A few RPCs need more to be valid (an artifact body, update masks); their
requests are completed below. A new RPC gets the generic request and is in the matrix at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from google.api import field_behavior_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from teaching.content.v1 import content_service_pb2 as content_pb
from teaching.user.v1 import user_service_pb2 as user_pb
from tests.reliability.rpcs import Rpc, behaviors

INTEGER_TYPES = {
    FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED32, FieldDescriptor.TYPE_SFIXED64,
    FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_FIXED64,
}


@dataclass(frozen=True)
class Ids:
    """The caller's resources a request can name."""

    book_id: str
    node_id: str
    atom_id: str
    strategy_id: str
    artifact_id: str
    job_id: str
    etag: Callable[[], str]  # the artifact's current etag (successful cases may change it)

    def by_field_name(self, name: str) -> str | None:
        singular = name.removesuffix("s") if name.endswith("_ids") else name
        singular = singular.removeprefix("default_pedagogy_").removeprefix("pedagogy_").removeprefix("current_")
        values = {"book_id": self.book_id, "node_id": self.node_id, "atom_id": self.atom_id,
                  "strategy_id": self.strategy_id, "artifact_id": self.artifact_id, "job_id": self.job_id}
        if singular == "etag":
            return self.etag()
        return values.get(singular)


def _fill_required(message: Message, ids: Ids) -> None:
    for field in message.DESCRIPTOR.fields:
        if field_behavior_pb2.REQUIRED not in behaviors(field):
            continue
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            child = getattr(message, field.name)
            if field.is_repeated:
                child = child.add()
            child.SetInParent()
            _fill_required(child, ids)
        elif field.type == FieldDescriptor.TYPE_STRING:
            value = ids.by_field_name(field.name) or "matrix"
            if field.is_repeated:
                getattr(message, field.name).append(value)
            else:
                setattr(message, field.name, value)
        elif field.type == FieldDescriptor.TYPE_ENUM and field.enum_type is not None:
            setattr(message, field.name, field.enum_type.values[1].number)
        elif field.type in INTEGER_TYPES:
            setattr(message, field.name, 1)


def _quiz(ids: Ids) -> user_pb.ClassArtifact:
    return user_pb.ClassArtifact(
        kind=user_pb.ARTIFACT_KIND_QUIZ, title="Matrix quiz",
        quiz=user_pb.Quiz(questions=[user_pb.QuizQuestion(
            prompt="What is 1/2 + 1/4?", choices=["3/4", "2/6"], correct_choice_index=0, answer="3/4",
            explanation="Common denominators.",
        )]),
        book_ids=[ids.book_id], atom_references=[user_pb.AtomReference(book_id=ids.book_id, atom_id=ids.atom_id)],
        pedagogy_strategy_id=ids.strategy_id,
    )


def _strategy(ids: Ids) -> content_pb.PedagogyStrategy:
    return content_pb.PedagogyStrategy(name="Matrix strategy", description="d", instructions="i", tags=["t"])


def _complete(rpc_name: str, request: Message, ids: Ids) -> None:
    """What the generic filling cannot know: bodies and update masks that make the request valid."""
    if rpc_name == "SearchContent":
        request.query = "fractions"  # type: ignore[attr-defined]
    elif rpc_name == "CreatePedagogyStrategy":
        request.strategy.CopyFrom(_strategy(ids))  # type: ignore[attr-defined]
    elif rpc_name == "UpdatePedagogyStrategy":
        request.strategy.CopyFrom(_strategy(ids))  # type: ignore[attr-defined]
        request.strategy.strategy_id = ids.strategy_id  # type: ignore[attr-defined]
        request.update_mask.paths[:] = ["name", "description", "instructions", "tags"]  # type: ignore[attr-defined]
    elif rpc_name == "CreateArtifact":
        request.artifact.CopyFrom(_quiz(ids))  # type: ignore[attr-defined]
    elif rpc_name == "UpdateArtifact":
        request.artifact.CopyFrom(_quiz(ids))  # type: ignore[attr-defined]
        request.artifact.artifact_id = ids.artifact_id  # type: ignore[attr-defined]
        request.artifact.etag = ids.etag()  # type: ignore[attr-defined]
        request.update_mask.paths[:] = [  # type: ignore[attr-defined]
            "title", "quiz", "book_ids", "atom_references", "pedagogy_strategy_id"]
    elif rpc_name == "UpdateProfile":
        request.profile.CopyFrom(user_pb.TeacherProfile(  # type: ignore[attr-defined]
            display_name="Matrix", grade_levels=["5"], subjects=["math"], language="en",
            default_pedagogy_strategy_id=ids.strategy_id,
            active_books=[user_pb.ActiveBook(book_id=ids.book_id, current_node_id=ids.node_id, current_page=1)],
        ))
        request.update_mask.paths[:] = [  # type: ignore[attr-defined]
            "display_name", "grade_levels", "subjects", "language", "default_pedagogy_strategy_id", "active_books"]
    elif rpc_name == "UploadBook":
        request.metadata.SetInParent()  # type: ignore[attr-defined]
        request.metadata.authors.append("Matrix Author")  # type: ignore[attr-defined]
        request.metadata.subject = "math"  # type: ignore[attr-defined]
        request.metadata.grade_level = "5"  # type: ignore[attr-defined]
        _fill_required(request.metadata, ids)  # type: ignore[attr-defined]


def baseline(rpc: Rpc, ids: Ids) -> Message:
    request = rpc.request()
    _fill_required(request, ids)
    _complete(rpc.name, request, ids)
    return request
