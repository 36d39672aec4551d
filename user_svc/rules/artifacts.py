"""Artifact rules: what a new artifact or an update may hold, how an update applies, etags, tenancy.

Tenancy: every artifact belongs to the caller that created it, and a caller never learns that
someone else's artifact exists: it is NOT_FOUND with the same message as an id that exists nowhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import fields, replace
from typing import Any
from uuid import UUID

from common.errors import Aborted, InvalidArgument, NotFound
from common.ids import parse_id
from user_svc.rules import limits, validation
from user_svc.rules.types import (
    Artifact,
    ArtifactContent,
    ArtifactDraft,
    ArtifactKind,
    ArtifactPatch,
    AtomReference,
    AtomReferenceDraft,
)
from user_svc.rules.validation import Violations

# UpdateArtifact's update_mask paths: what a teacher may change (the kind never changes).
ARTIFACT_MASK_PATHS = ("title", "quiz", "lesson_plan", "worksheet", "book_ids", "atom_references",
                       "pedagogy_strategy_id")
# The body field (oneof `body` of ClassArtifact) that goes with each kind.
BODY_FIELD: dict[ArtifactKind, str] = {
    ArtifactKind.QUIZ: "quiz",
    ArtifactKind.LESSON_PLAN: "lesson_plan",
    ArtifactKind.WORKSHEET: "worksheet",
}
_KIND_OF_BODY = {field: kind for kind, field in BODY_FIELD.items()}
_KIND_NAMES = ", ".join(f"ARTIFACT_KIND_{kind.value}" for kind in ArtifactKind)


def known_kind(kind: ArtifactKind | None, field: str) -> ArtifactKind:
    if kind is None:
        raise InvalidArgument({field: f"must be one of {_KIND_NAMES}"})
    return kind


def new_content(draft: ArtifactDraft) -> ArtifactContent:
    """The validated content of a new artifact."""
    v = Violations()
    if draft.kind is None:
        v.add("artifact.kind", f"must be one of {_KIND_NAMES}")
    elif draft.body_field is None:
        v.add(f"artifact.{BODY_FIELD[draft.kind]}", "is required: set the body matching kind")
    elif draft.body_field != BODY_FIELD[draft.kind]:
        v.add("artifact.kind", f"is ARTIFACT_KIND_{draft.kind.value} but the body set is {draft.body_field!r}")
    validation.text(v, draft.title, "artifact.title", limits.TITLE_MAX_CHARS, required=True)
    if draft.body_field is not None:
        _check_body(v, draft, draft.body_field)
    validation.book_ids(v, draft.book_ids, "artifact.book_ids")
    validation.atom_references(v, draft.atom_references, "artifact.atom_references")
    validation.uuid_text(v, draft.pedagogy_strategy_id, "artifact.pedagogy_strategy_id", required=False)
    v.raise_if_any()
    assert draft.kind is not None
    return ArtifactContent(
        kind=draft.kind,
        title=draft.title,
        body=draft.body,
        book_ids=_book_ids(draft.book_ids),
        atom_references=_atom_references(draft.atom_references),
        pedagogy_strategy_id=canonical_id(draft.pedagogy_strategy_id),
    )


def artifact_patch(draft: ArtifactDraft, mask: Iterable[str]) -> ArtifactPatch:
    """The change an UpdateArtifact asks for, validated whole: mask, etag and every masked field.

    Fields outside the mask are ignored; a masked field left empty is cleared (AIP-134).
    """
    v = Violations()
    paths = validation.mask_paths(v, mask, ARTIFACT_MASK_PATHS)
    if not draft.etag:
        v.add("artifact.etag", "is required: send the etag of the version you read (AIP-154)")
    body_paths = [path for path in paths if path in _KIND_OF_BODY]
    if len(body_paths) > 1:
        v.add("update_mask", f"names {len(body_paths)} bodies; an artifact has exactly one")
    if body_paths and draft.body_field not in (None, body_paths[0]):
        v.add(f"artifact.{draft.body_field}", f"is set but update_mask names {body_paths[0]!r}")
    for path in paths:
        field = f"artifact.{path}"
        if path == "title":
            validation.text(v, draft.title, field, limits.TITLE_MAX_CHARS, required=True)
        elif path in _KIND_OF_BODY:
            _check_body(v, draft, path)
        elif path == "book_ids":
            validation.book_ids(v, draft.book_ids, field)
        elif path == "atom_references":
            validation.atom_references(v, draft.atom_references, field)
        elif path == "pedagogy_strategy_id":
            validation.uuid_text(v, draft.pedagogy_strategy_id, field, required=False)
    v.raise_if_any()
    changes: dict[str, Any] = {}
    if "title" in paths:
        changes["title"] = draft.title
    if body_paths:
        # An unset body field in the mask clears the body (an empty message of that kind).
        body = draft.body if draft.body_field == body_paths[0] else {}
        changes["body"] = (_KIND_OF_BODY[body_paths[0]], body)
    if "book_ids" in paths:
        changes["book_ids"] = _book_ids(draft.book_ids)
    if "atom_references" in paths:
        changes["atom_references"] = _atom_references(draft.atom_references)
    if "pedagogy_strategy_id" in paths:
        changes["pedagogy_strategy_id"] = canonical_id(draft.pedagogy_strategy_id)
    return ArtifactPatch(**changes)


def _check_body(v: Violations, draft: ArtifactDraft, body_field: str) -> None:
    """The body at `body_field`: the one set in the draft, or an empty one of that kind when unset."""
    is_set = draft.body_field == body_field
    validation.body(v, _KIND_OF_BODY[body_field], draft.body if is_set else {}, draft.body_bytes if is_set else 0,
                    f"artifact.{body_field}")


def apply_patch(current: ArtifactContent, patch: ArtifactPatch) -> ArtifactContent:
    changes = {field.name: value for field in fields(patch) if (value := getattr(patch, field.name)) is not None}
    if patch.body is not None:
        body_kind, changes["body"] = patch.body
        if body_kind != current.kind:
            raise InvalidArgument(
                {"update_mask": f"the artifact is a {current.kind.value}; a {body_kind.value} body does not fit it"}
            )
    return replace(current, **changes)


# Etags and revisions (AIP-154)


def etag_of(artifact: Artifact) -> str:
    """Opaque but derived from the revision, so it survives backups and restarts."""
    return hashlib.sha256(f"{artifact.artifact_id}:{artifact.revision}".encode()).hexdigest()[:20]


def check_etag(current: Artifact, etag: str) -> None:
    """ABORTED when the caller's `etag` is not the current version's: someone changed it since."""
    if etag != etag_of(current):
        raise Aborted(
            f"artifact {current.artifact_id} changed since it was read (now revision {current.revision}): "
            "re-read it and retry with the new etag"
        )


def require_etag(etag: str) -> None:
    if not etag:
        raise InvalidArgument({"etag": "is required: send the artifact's current etag"})


def require_revision(revision: int) -> None:
    if revision < 1:
        raise InvalidArgument({"revision": "must be a revision number (1 or more)"})


def artifact_not_found(artifact_id: UUID) -> NotFound:
    """The one answer for a missing artifact and for someone else's."""
    return NotFound("artifact", str(artifact_id))


def revision_not_found(artifact_id: UUID, revision: int) -> NotFound:
    return NotFound("artifact revision", f"{artifact_id}/revisions/{revision}")


# Ids: validated above, stored and returned in canonical (lower-case, hyphenated) form.


def canonical_id(optional_id: str) -> str:
    """The canonical form of a validated optional UUID; empty stays empty."""
    return str(parse_id(optional_id, "id")) if optional_id else ""


def _book_ids(ids: Sequence[str]) -> tuple[UUID, ...]:
    return tuple(parse_id(book_id, "book_ids") for book_id in ids)


def _atom_references(refs: Sequence[AtomReferenceDraft]) -> tuple[AtomReference, ...]:
    return tuple(AtomReference(parse_id(ref.book_id, "atom_references"), canonical_id(ref.atom_id)) for ref in refs)
