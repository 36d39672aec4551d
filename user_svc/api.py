"""gRPC layer of UserService: translates messages to use-case calls and back, nothing else.

Every call acts on the caller's own data: the owner is always the token's subject, and every RPC
needs the teacher (or admin) role.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from common.auth import require_teacher
from common.convert import timestamp
from common.ids import parse_id, parse_optional_id
from teaching.user.v1 import user_service_pb2 as pb
from teaching.user.v1 import user_service_pb2_grpc
from user_svc.rules import artifacts, limits, profiles
from user_svc.rules.artifacts import BODY_FIELD
from user_svc.rules.references import CheckedArtifact, ReferenceCheck
from user_svc.rules.types import (
    ActiveBookDraft,
    ArchivedRevision,
    Artifact,
    ArtifactDraft,
    ArtifactFilter,
    ArtifactKind,
    AtomReferenceDraft,
    Profile,
    ProfileDraft,
)
from user_svc.usecases import UserUseCases

KINDS: dict[pb.ArtifactKind.ValueType, ArtifactKind] = {
    pb.ARTIFACT_KIND_QUIZ: ArtifactKind.QUIZ,
    pb.ARTIFACT_KIND_LESSON_PLAN: ArtifactKind.LESSON_PLAN,
    pb.ARTIFACT_KIND_WORKSHEET: ArtifactKind.WORKSHEET,
}
_KIND_VALUES = {kind: value for value, kind in KINDS.items()}
_REFERENCE_CHECKS: dict[ReferenceCheck, pb.ReferenceCheck.ValueType] = {
    ReferenceCheck.RESOLVED: pb.REFERENCE_CHECK_RESOLVED,
    ReferenceCheck.DANGLING: pb.REFERENCE_CHECK_DANGLING,
    ReferenceCheck.UNAVAILABLE: pb.REFERENCE_CHECK_UNAVAILABLE,
}
BODY_TYPES: dict[ArtifactKind, type[Message]] = {
    ArtifactKind.QUIZ: pb.Quiz,
    ArtifactKind.LESSON_PLAN: pb.LessonPlan,
    ArtifactKind.WORKSHEET: pb.Worksheet,
}


class UserServicer(user_service_pb2_grpc.UserServiceServicer):  # type: ignore[misc]
    def __init__(self, usecases: UserUseCases) -> None:
        self._usecases = usecases

    # Profiles

    def GetProfile(self, request: pb.GetProfileRequest, context: grpc.ServicerContext) -> pb.GetProfileResponse:
        owner = _caller()
        return pb.GetProfileResponse(profile=profile_message(self._usecases.get_profile(owner)))

    def UpdateProfile(
        self, request: pb.UpdateProfileRequest, context: grpc.ServicerContext
    ) -> pb.UpdateProfileResponse:
        owner = _caller()
        patch = profiles.profile_patch(profile_draft(request.profile), request.update_mask.paths)
        return pb.UpdateProfileResponse(profile=profile_message(self._usecases.update_profile(owner, patch)))

    # Artifacts

    def CreateArtifact(
        self, request: pb.CreateArtifactRequest, context: grpc.ServicerContext
    ) -> pb.CreateArtifactResponse:
        owner = _caller()
        content = artifacts.new_content(artifact_draft(request.artifact))
        created = self._usecases.create_artifact(owner, content, _authorization(context))
        return pb.CreateArtifactResponse(artifact=checked_message(created))

    def GetArtifact(self, request: pb.GetArtifactRequest, context: grpc.ServicerContext) -> pb.GetArtifactResponse:
        owner = _caller()
        artifact_id = parse_id(request.artifact_id, "artifact_id")
        found = self._usecases.get_artifact(owner, artifact_id, _authorization(context))
        return pb.GetArtifactResponse(artifact=checked_message(found))

    def ListArtifacts(
        self, request: pb.ListArtifactsRequest, context: grpc.ServicerContext
    ) -> pb.ListArtifactsResponse:
        owner = _caller()
        kind = None
        if request.kind != pb.ARTIFACT_KIND_UNSPECIFIED:
            kind = artifacts.known_kind(KINDS.get(request.kind), "kind")
        where = ArtifactFilter(kind=kind, book_id=parse_optional_id(request.book_id, "book_id"))
        page = self._usecases.list_artifacts(owner, where, request.page_size, request.page_token)
        return pb.ListArtifactsResponse(
            artifacts=[artifact_message(a) for a in page.items], next_page_token=page.next_page_token
        )

    def UpdateArtifact(
        self, request: pb.UpdateArtifactRequest, context: grpc.ServicerContext
    ) -> pb.UpdateArtifactResponse:
        owner = _caller()
        artifact_id = parse_id(request.artifact.artifact_id, "artifact.artifact_id")
        patch = artifacts.artifact_patch(artifact_draft(request.artifact), request.update_mask.paths)
        updated = self._usecases.update_artifact(owner, artifact_id, request.artifact.etag, patch,
                                                 _authorization(context))
        return pb.UpdateArtifactResponse(artifact=checked_message(updated))

    def DeleteArtifact(
        self, request: pb.DeleteArtifactRequest, context: grpc.ServicerContext
    ) -> pb.DeleteArtifactResponse:
        owner = _caller()
        self._usecases.delete_artifact(owner, parse_id(request.artifact_id, "artifact_id"), request.etag)
        return pb.DeleteArtifactResponse()

    def ListArtifactRevisions(
        self, request: pb.ListArtifactRevisionsRequest, context: grpc.ServicerContext
    ) -> pb.ListArtifactRevisionsResponse:
        owner = _caller()
        artifact_id = parse_id(request.artifact_id, "artifact_id")
        page = self._usecases.list_revisions(owner, artifact_id, request.page_size, request.page_token)
        return pb.ListArtifactRevisionsResponse(
            revisions=[revision_message(r) for r in page.items], next_page_token=page.next_page_token
        )

    def GetArtifactRevision(
        self, request: pb.GetArtifactRevisionRequest, context: grpc.ServicerContext
    ) -> pb.GetArtifactRevisionResponse:
        owner = _caller()
        artifact_id = parse_id(request.artifact_id, "artifact_id")
        artifacts.require_revision(request.revision)
        archived = self._usecases.get_revision(owner, artifact_id, request.revision)
        return pb.GetArtifactRevisionResponse(revision=revision_message(archived))

    def RollbackArtifact(
        self, request: pb.RollbackArtifactRequest, context: grpc.ServicerContext
    ) -> pb.RollbackArtifactResponse:
        owner = _caller()
        artifact_id = parse_id(request.artifact_id, "artifact_id")
        artifacts.require_revision(request.revision)
        artifacts.require_etag(request.etag)
        restored = self._usecases.rollback_artifact(owner, artifact_id, request.revision, request.etag,
                                                    _authorization(context))
        return pb.RollbackArtifactResponse(artifact=checked_message(restored))


def _caller() -> str:
    return require_teacher().user_id


def _authorization(context: grpc.ServicerContext) -> str:
    """The caller's bearer header (verified by the interceptor), forwarded to ContentService."""
    return next((str(value) for key, value in context.invocation_metadata() if key == "authorization"), "")


# Protobuf -> drafts (checked by the rules)


def artifact_draft(artifact: pb.ClassArtifact) -> ArtifactDraft:
    body_field = artifact.WhichOneof("body")
    body: Message | None = getattr(artifact, body_field) if body_field else None
    size = body.ByteSize() if body is not None else 0
    return ArtifactDraft(
        kind=KINDS.get(artifact.kind),
        title=artifact.title,
        body_field=body_field,
        # An oversized body is refused on its size alone: not worth converting.
        body=body_json(body) if body is not None and size <= limits.BODY_MAX_BYTES else {},
        body_bytes=size,
        book_ids=tuple(artifact.book_ids),
        atom_references=tuple(AtomReferenceDraft(ref.book_id, ref.atom_id) for ref in artifact.atom_references),
        pedagogy_strategy_id=artifact.pedagogy_strategy_id,
        etag=artifact.etag,
    )


def profile_draft(profile: pb.TeacherProfile) -> ProfileDraft:
    return ProfileDraft(
        display_name=profile.display_name,
        grade_levels=tuple(profile.grade_levels),
        subjects=tuple(profile.subjects),
        language=profile.language,
        default_pedagogy_strategy_id=profile.default_pedagogy_strategy_id,
        active_books=tuple(ActiveBookDraft(b.book_id, b.current_node_id, b.current_page) for b in profile.active_books),
    )


def body_json(message: Message) -> dict[str, Any]:
    """A body message as stored and as the rules see it: proto JSON with the .proto's field names."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def body_message(kind: ArtifactKind, body: dict[str, Any]) -> Message:
    """A stored body (see body_json) as its message again.

    The message constructor takes that JSON as it is (nested dicts and lists) in ~6 us where
    json_format.ParseDict takes ~110 us for a five-question quiz (a third of GetArtifact's own
    cost). It is exact because body messages hold only strings, 32-bit integers and nested messages,
    whose proto JSON is their plain value; a unit test checks that on the descriptors.
    """
    return BODY_TYPES[kind](**body)


# Domain -> protobuf


def profile_message(profile: Profile) -> pb.TeacherProfile:
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


def artifact_message(artifact: Artifact, *, with_etag: bool = True) -> pb.ClassArtifact:
    content = artifact.content
    body: Any = body_message(content.kind, content.body)
    return pb.ClassArtifact(
        artifact_id=str(artifact.artifact_id),
        owner_id=artifact.owner_id,
        kind=_KIND_VALUES[content.kind],
        title=content.title,
        book_ids=[str(book_id) for book_id in content.book_ids],
        atom_references=[
            pb.AtomReference(book_id=str(ref.book_id), atom_id=ref.atom_id) for ref in content.atom_references
        ],
        pedagogy_strategy_id=content.pedagogy_strategy_id,
        revision=artifact.revision,
        etag=artifacts.etag_of(artifact) if with_etag else "",
        create_time=timestamp(artifact.create_time),
        update_time=timestamp(artifact.update_time),
        **{BODY_FIELD[content.kind]: body},
    )


def checked_message(checked: CheckedArtifact) -> pb.ClassArtifact:
    """An artifact with what the library said of its references."""
    message = artifact_message(checked.artifact)
    message.reference_check = _REFERENCE_CHECKS[checked.references.check]
    message.dangling_references.extend(
        pb.DanglingReference(field=path, description=why) for path, why in checked.references.dangling.items()
    )
    return message


def revision_message(archived: ArchivedRevision) -> pb.ArtifactRevision:
    # An archived version's etag would be stale by definition, so it carries none.
    return pb.ArtifactRevision(
        artifact_id=str(archived.artifact.artifact_id),
        revision=archived.artifact.revision,
        artifact=artifact_message(archived.artifact, with_etag=False),
        archive_time=timestamp(archived.archive_time),
    )
