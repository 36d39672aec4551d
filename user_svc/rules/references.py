"""Reference rules: which of an artifact's references a write checks with the library (ContentService),
and what the library's answer means: a field violation per unknown reference on a write, dangling
references on a read. The library itself is a port (`Library`), implemented over gRPC in
user_svc.library."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from common.errors import InvalidArgument
from user_svc.rules.types import Artifact, ArtifactContent, ArtifactPatch, AtomReference


@dataclass(frozen=True)
class References:
    """References to look up, each with its field path in the artifact ("book_ids[1]", ...)."""

    books: tuple[tuple[str, UUID], ...] = ()
    atoms: tuple[tuple[str, AtomReference], ...] = ()
    strategy: tuple[str, str] | None = None

    def __bool__(self) -> bool:
        return bool(self.books or self.atoms or self.strategy)


@dataclass(frozen=True)
class Found:
    """What the library holds of some references, as the caller sees it."""

    books: frozenset[UUID] = frozenset()
    atoms: frozenset[AtomReference] = frozenset()
    # The strategy exists and is global or the caller's own.
    strategy: bool = False


class Library(Protocol):
    def find(self, references: References, caller: str, authorization: str) -> Found:
        """Looks the references up now, as the caller (`caller`: the user id of `authorization`, the
        caller's bearer header). Writes check with it.

        Raises common.errors.Unavailable when the library cannot answer in time.
        """
        ...

    def find_recent(self, references: References, caller: str, authorization: str) -> Found:
        """As `find`, but what the library confirmed a short, configured time ago counts as found
        without asking again. Reads check with it; a deletion may be seen that much later."""
        ...


class ReferenceCheck(enum.Enum):
    RESOLVED = "resolved"
    DANGLING = "dangling"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class ReferenceStatus:
    check: ReferenceCheck
    # Field path -> what is missing, for the references that do not resolve.
    dangling: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckedArtifact:
    """An artifact with what the library said of its references when it was read or written."""

    artifact: Artifact
    references: ReferenceStatus


def of_content(content: ArtifactContent) -> References:
    """Every reference of an artifact."""
    return _references(content.book_ids, content.atom_references, content.pedagogy_strategy_id)


def written_by(patch: ArtifactPatch) -> References:
    """The references an update writes (the fields its mask names); the others are not checked again."""
    return _references(patch.book_ids or (), patch.atom_references or (), patch.pedagogy_strategy_id or "")


def _references(books: tuple[UUID, ...], atoms: tuple[AtomReference, ...], strategy_id: str) -> References:
    return References(
        books=tuple((f"book_ids[{i}]", book_id) for i, book_id in enumerate(books)),
        atoms=tuple((f"atom_references[{i}]", atom) for i, atom in enumerate(atoms)),
        strategy=("pedagogy_strategy_id", strategy_id) if strategy_id else None,
    )


def unresolved(references: References, found: Found) -> dict[str, str]:
    """Field path -> why, for every reference the library does not hold (or the caller cannot see)."""
    missing = {path: f"no book {book_id} in the library" for path, book_id in references.books
               if book_id not in found.books}
    missing |= {path: f"book {atom.book_id} has no atom {atom.atom_id}" for path, atom in references.atoms
                if atom not in found.atoms}
    if references.strategy is not None and not found.strategy:
        path, strategy_id = references.strategy
        missing[path] = f"no pedagogy strategy {strategy_id} is visible to you"
    return missing


def check_written(references: References, found: Found) -> None:
    """InvalidArgument with a violation per unknown reference of a create or update."""
    missing = unresolved(references, found)
    if missing:
        raise InvalidArgument({f"artifact.{path}": why for path, why in missing.items()},
                              reason="UNKNOWN_REFERENCE")


def status(references: References, found: Found) -> ReferenceStatus:
    """A read's view of an artifact's references."""
    dangling = unresolved(references, found)
    return ReferenceStatus(ReferenceCheck.DANGLING if dangling else ReferenceCheck.RESOLVED, dangling)
