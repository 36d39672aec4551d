"""gRPC layer of UserService: translates messages to domain calls and back.

Every call acts on the caller's own data: the owner is always the token's subject.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from common.auth import require_teacher
from common.convert import timestamp
from common.errors import InvalidArgument
from common.pagination import page_size
from teaching.user.v1 import user_service_pb2 as pb
from teaching.user.v1 import user_service_pb2_grpc
from user_svc import limits, validation
from user_svc.domain import (
    PROFILE_MUTABLE_FIELDS,
    ActiveBook,
    ArchivedRevision,
    Artifact,
    ArtifactContent,
    ArtifactFilter,
    ArtifactKind,
    ArtifactPatch,
    AtomReference,
    Profile,
    UserDomain,
)
from user_svc.validation import BODY_FIELD, Violations, parse_uuid

ARTIFACT_MASK_PATHS = ("title", "quiz", "lesson_plan", "worksheet", "book_ids", "atom_references",
                       "pedagogy_strategy_id")
_KIND_OF_BODY = {field: kind for kind, field in BODY_FIELD.items()}
_BODY_TYPES: dict[ArtifactKind, type[Message]] = {
    ArtifactKind.QUIZ: pb.Quiz,
    ArtifactKind.LESSON_PLAN: pb.LessonPlan,
    ArtifactKind.WORKSHEET: pb.Worksheet,
}
_KIND_NAMES = ", ".join(pb.ArtifactKind.Name(kind) for kind in BODY_FIELD)


class UserServicer(user_service_pb2_grpc.UserServiceServicer):  # type: ignore[misc]
    def __init__(self, domain: UserDomain) -> None:
        self._domain = domain

    # Profiles

    def GetProfile(self, request: pb.GetProfileRequest, context: grpc.ServicerContext) -> pb.GetProfileResponse:
        return pb.GetProfileResponse(profile=profile_pb(self._domain.get_profile(_caller())))

    def UpdateProfile(
        self, request: pb.UpdateProfileRequest, context: grpc.ServicerContext
    ) -> pb.UpdateProfileResponse:
        v = Violations()
        paths = validation.mask_paths(v, request.update_mask.paths, PROFILE_MUTABLE_FIELDS)
        known = [path for path in paths if path in PROFILE_MUTABLE_FIELDS]
        validation.profile_fields(v, request.profile, known)
        v.raise_if_any()
        changes = {path: _profile_value(request.profile, path) for path in known}
        return pb.UpdateProfileResponse(profile=profile_pb(self._domain.update_profile(_caller(), changes)))

    # Artifacts

    def CreateArtifact(
        self, request: pb.CreateArtifactRequest, context: grpc.ServicerContext
    ) -> pb.CreateArtifactResponse:
        content = _new_content(request.artifact)
        return pb.CreateArtifactResponse(artifact=artifact_pb(self._domain.create_artifact(_caller(), content)))

    def GetArtifact(self, request: pb.GetArtifactRequest, context: grpc.ServicerContext) -> pb.GetArtifactResponse:
        artifact_id = parse_uuid(request.artifact_id, "artifact_id")
        return pb.GetArtifactResponse(artifact=artifact_pb(self._domain.get_artifact(_caller(), artifact_id)))

    def ListArtifacts(
        self, request: pb.ListArtifactsRequest, context: grpc.ServicerContext
    ) -> pb.ListArtifactsResponse:
        size = page_size(request.page_size)
        kind = None
        if request.kind != pb.ARTIFACT_KIND_UNSPECIFIED:
            kind = _kind(request.kind, "kind")
        book_id = parse_uuid(request.book_id, "book_id") if request.book_id else None
        artifacts, next_token = self._domain.list_artifacts(
            _caller(), ArtifactFilter(kind=kind, book_id=book_id), size, request.page_token
        )
        return pb.ListArtifactsResponse(artifacts=[artifact_pb(a) for a in artifacts], next_page_token=next_token)

    def UpdateArtifact(
        self, request: pb.UpdateArtifactRequest, context: grpc.ServicerContext
    ) -> pb.UpdateArtifactResponse:
        artifact = request.artifact
        artifact_id = parse_uuid(artifact.artifact_id, "artifact.artifact_id")
        v = Violations()
        paths = validation.mask_paths(v, request.update_mask.paths, ARTIFACT_MASK_PATHS)
        if not artifact.etag:
            v.add("artifact.etag", "is required: send the etag of the version you read (AIP-154)")
        body_paths = [path for path in paths if path in _KIND_OF_BODY]
        if len(body_paths) > 1:
            v.add("update_mask", f"names {len(body_paths)} bodies; an artifact has exactly one")
        set_body = artifact.WhichOneof("body")
        if body_paths and set_body not in (None, body_paths[0]):
            v.add(f"artifact.{set_body}", f"is set but update_mask names {body_paths[0]!r}")
        patch: dict[str, Any] = {}
        for path in paths:
            field = f"artifact.{path}"
            if path == "title":
                validation.text(v, artifact.title, field, limits.TITLE_MAX_CHARS, required=True)
                patch["title"] = artifact.title
            elif path in _KIND_OF_BODY:
                message: Message = getattr(artifact, path)
                validation.body(v, message, field)
                patch["body"] = (_kind(_KIND_OF_BODY[path], field), body_json(message))
            elif path == "book_ids":
                validation.book_ids(v, artifact.book_ids, field)
            elif path == "atom_references":
                validation.atom_references(v, artifact.atom_references, field)
            elif path == "pedagogy_strategy_id":
                validation.uuid_text(v, artifact.pedagogy_strategy_id, field, required=False)
        v.raise_if_any()
        if "book_ids" in paths:
            patch["book_ids"] = _book_ids(artifact.book_ids)
        if "atom_references" in paths:
            patch["atom_references"] = _atom_references(artifact.atom_references)
        if "pedagogy_strategy_id" in paths:
            patch["pedagogy_strategy_id"] = _canonical(artifact.pedagogy_strategy_id)
        updated = self._domain.update_artifact(_caller(), artifact_id, artifact.etag, ArtifactPatch(**patch))
        return pb.UpdateArtifactResponse(artifact=artifact_pb(updated))

    def DeleteArtifact(
        self, request: pb.DeleteArtifactRequest, context: grpc.ServicerContext
    ) -> pb.DeleteArtifactResponse:
        artifact_id = parse_uuid(request.artifact_id, "artifact_id")
        self._domain.delete_artifact(_caller(), artifact_id, request.etag)
        return pb.DeleteArtifactResponse()

    def ListArtifactRevisions(
        self, request: pb.ListArtifactRevisionsRequest, context: grpc.ServicerContext
    ) -> pb.ListArtifactRevisionsResponse:
        artifact_id = parse_uuid(request.artifact_id, "artifact_id")
        size = page_size(request.page_size)
        revisions, next_token = self._domain.list_revisions(_caller(), artifact_id, size, request.page_token)
        return pb.ListArtifactRevisionsResponse(
            revisions=[revision_pb(r) for r in revisions], next_page_token=next_token
        )

    def GetArtifactRevision(
        self, request: pb.GetArtifactRevisionRequest, context: grpc.ServicerContext
    ) -> pb.GetArtifactRevisionResponse:
        artifact_id = parse_uuid(request.artifact_id, "artifact_id")
        _require_revision(request.revision)
        archived = self._domain.get_revision(_caller(), artifact_id, request.revision)
        return pb.GetArtifactRevisionResponse(revision=revision_pb(archived))

    def RollbackArtifact(
        self, request: pb.RollbackArtifactRequest, context: grpc.ServicerContext
    ) -> pb.RollbackArtifactResponse:
        artifact_id = parse_uuid(request.artifact_id, "artifact_id")
        _require_revision(request.revision)
        if not request.etag:
            raise InvalidArgument({"etag": "is required: send the artifact's current etag"})
        restored = self._domain.rollback_artifact(_caller(), artifact_id, request.revision, request.etag)
        return pb.RollbackArtifactResponse(artifact=artifact_pb(restored))


def _caller() -> str:
    return require_teacher().user_id


def _require_revision(revision: int) -> None:
    if revision < 1:
        raise InvalidArgument({"revision": "must be a revision number (1 or more)"})


def _kind(value: int, field: str) -> ArtifactKind:
    if value not in BODY_FIELD:
        raise InvalidArgument({field: f"must be one of {_KIND_NAMES}"})
    return ArtifactKind(pb.ArtifactKind.Name(pb.ArtifactKind.ValueType(value)).removeprefix("ARTIFACT_KIND_"))


def _kind_pb(kind: ArtifactKind) -> Any:
    return pb.ArtifactKind.Value(f"ARTIFACT_KIND_{kind.value}")


def _new_content(artifact: pb.ClassArtifact) -> ArtifactContent:
    """Validated content of a new artifact; OUTPUT_ONLY fields in the request are ignored (AIP-203)."""
    v = Violations()
    set_body = artifact.WhichOneof("body")
    if artifact.kind not in BODY_FIELD:
        v.add("artifact.kind", f"must be one of {_KIND_NAMES}")
    elif set_body is None:
        v.add(f"artifact.{BODY_FIELD[artifact.kind]}", "is required: set the body matching kind")
    elif set_body != BODY_FIELD[artifact.kind]:
        v.add("artifact.kind", f"is {pb.ArtifactKind.Name(artifact.kind)} but the body set is {set_body!r}")
    validation.text(v, artifact.title, "artifact.title", limits.TITLE_MAX_CHARS, required=True)
    if set_body is not None:
        validation.body(v, getattr(artifact, set_body), f"artifact.{set_body}")
    validation.book_ids(v, artifact.book_ids, "artifact.book_ids")
    validation.atom_references(v, artifact.atom_references, "artifact.atom_references")
    validation.uuid_text(v, artifact.pedagogy_strategy_id, "artifact.pedagogy_strategy_id", required=False)
    v.raise_if_any()
    assert set_body is not None
    return ArtifactContent(
        kind=_kind(artifact.kind, "artifact.kind"),
        title=artifact.title,
        body=body_json(getattr(artifact, set_body)),
        book_ids=_book_ids(artifact.book_ids),
        atom_references=_atom_references(artifact.atom_references),
        pedagogy_strategy_id=_canonical(artifact.pedagogy_strategy_id),
    )


def _canonical(optional_uuid: str) -> str:
    """The canonical (lower-case, hyphenated) form of a validated UUID; empty stays empty."""
    return str(parse_uuid(optional_uuid, "id")) if optional_uuid else ""


def _book_ids(ids: Any) -> tuple[Any, ...]:
    return tuple(parse_uuid(book_id, "book_ids") for book_id in ids)


def _atom_references(refs: Any) -> tuple[AtomReference, ...]:
    return tuple(AtomReference(parse_uuid(ref.book_id, "atom_references"), _canonical(ref.atom_id)) for ref in refs)


def _profile_value(profile: pb.TeacherProfile, path: str) -> Any:
    if path == "active_books":
        return tuple(
            ActiveBook(parse_uuid(b.book_id, "active_books"), _canonical(b.current_node_id), b.current_page)
            for b in profile.active_books
        )
    if path == "default_pedagogy_strategy_id":
        return _canonical(profile.default_pedagogy_strategy_id)
    value = getattr(profile, path)
    return value if isinstance(value, str) else tuple(value)


# Domain -> protobuf


def body_json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def profile_pb(profile: Profile) -> pb.TeacherProfile:
    return pb.TeacherProfile(
        user_id=profile.user_id,
        display_name=profile.display_name,
        grade_levels=profile.grade_levels,
        subjects=profile.subjects,
        language=profile.language,
        default_pedagogy_strategy_id=profile.default_pedagogy_strategy_id,
        active_books=[
            pb.ActiveBook(book_id=str(b.book_id), current_node_id=b.current_node_id, current_page=b.current_page)
            for b in profile.active_books
        ],
        create_time=timestamp(profile.create_time),
        update_time=timestamp(profile.update_time),
    )


def artifact_pb(artifact: Artifact, *, with_etag: bool = True) -> pb.ClassArtifact:
    content = artifact.content
    message = pb.ClassArtifact(
        artifact_id=str(artifact.artifact_id),
        owner_id=artifact.owner_id,
        kind=_kind_pb(content.kind),
        title=content.title,
        book_ids=[str(book_id) for book_id in content.book_ids],
        atom_references=[
            pb.AtomReference(book_id=str(ref.book_id), atom_id=ref.atom_id) for ref in content.atom_references
        ],
        pedagogy_strategy_id=content.pedagogy_strategy_id,
        revision=artifact.revision,
        etag=artifact.etag if with_etag else "",
        create_time=timestamp(artifact.create_time),
        update_time=timestamp(artifact.update_time),
    )
    body_field = BODY_FIELD[_kind_pb(content.kind)]
    getattr(message, body_field).CopyFrom(json_format.ParseDict(content.body, _BODY_TYPES[content.kind]()))
    return message


def revision_pb(archived: ArchivedRevision) -> pb.ArtifactRevision:
    # An archived version's etag would be stale by definition, so it carries none.
    return pb.ArtifactRevision(
        artifact_id=str(archived.artifact.artifact_id),
        revision=archived.artifact.revision,
        artifact=artifact_pb(archived.artifact, with_etag=False),
        archive_time=timestamp(archived.archive_time),
    )
