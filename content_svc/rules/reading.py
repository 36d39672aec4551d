"""Reading rules: what a reader may ask for (batch sizes, context radius), and how a batch's answer
is put together. Reading order is page number, then the atom's position in the book (its ordinal)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from common.errors import InvalidArgument
from content_svc.rules.types import Atom, Node

# AIP-231: a batch is bounded; callers split longer lists.
MAX_BATCH_SIZE = 100
DEFAULT_CONTEXT_RADIUS = 3
MAX_CONTEXT_RADIUS = 50

K = TypeVar("K")
V = TypeVar("V")

AtomKey = tuple[uuid.UUID, uuid.UUID]
"""(book_id, atom_id): atoms are keyed by book, like every content table."""

ReadingPosition = tuple[int, int]
"""(page_number, ordinal): an atom's place in its book's reading order, the keyset of reading."""


@dataclass(frozen=True)
class Batch(Generic[K, V]):
    """A batch get's answer: what was found and what was not, each in request order."""

    found: list[V]
    missing: list[K]


@dataclass(frozen=True)
class NodeView:
    node: Node
    # From the top-level node down to the node's parent.
    ancestors: list[Node]
    children: list[Node]


@dataclass(frozen=True)
class AtomContext:
    before: list[Atom]
    atom: Atom
    after: list[Atom]


def check_batch_size(count: int, field: str) -> None:
    if count == 0:
        raise InvalidArgument({field: "at least one is required"})
    if count > MAX_BATCH_SIZE:
        raise InvalidArgument({field: f"at most {MAX_BATCH_SIZE} per call, got {count}"})


@dataclass(frozen=True)
class MissingReferences:
    """What a reference check did not find for the caller, each kind in request order."""

    book_ids: list[uuid.UUID]
    atoms: list[AtomKey]
    strategy_ids: list[uuid.UUID]


def check_reference_counts(counts: Mapping[str, int]) -> None:
    """At most MAX_BATCH_SIZE references of each kind (field name -> count); none at all is fine."""
    violations = {field: f"at most {MAX_BATCH_SIZE} per call, got {count}"
                  for field, count in counts.items() if count > MAX_BATCH_SIZE}
    if violations:
        raise InvalidArgument(violations)


def batch(requested: Sequence[K], found: Mapping[K, V]) -> Batch[K, V]:
    """`requested` split into the values found (in request order, repeats answered again) and the
    keys that found nothing."""
    return Batch(
        found=[found[key] for key in requested if key in found],
        missing=[key for key in requested if key not in found],
    )


def context_radius(requested: int) -> int:
    """0 means the default; negative or larger than the maximum is refused (a window is read whole)."""
    if requested < 0:
        raise InvalidArgument({"radius": "must not be negative"})
    if requested > MAX_CONTEXT_RADIUS:
        raise InvalidArgument({"radius": f"at most {MAX_CONTEXT_RADIUS}"})
    return requested or DEFAULT_CONTEXT_RADIUS


def reading_position(atom: Atom) -> ReadingPosition:
    return (atom.page_number, atom.ordinal)

