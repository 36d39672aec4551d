"""UserService's reference rules without a stack: what a write checks, and what the library's answer
becomes (a violation per unknown reference on writes, dangling references on reads)."""

from __future__ import annotations

import uuid

import pytest

from common.errors import InvalidArgument
from content_svc.rules.reading import MAX_BATCH_SIZE
from user_svc.rules import limits, references
from user_svc.rules.references import Found, ReferenceCheck
from user_svc.rules.types import ArtifactContent, ArtifactKind, ArtifactPatch, AtomReference

BOOK_A, BOOK_B = uuid.UUID(int=1), uuid.UUID(int=2)
ATOM_A = AtomReference(BOOK_A, str(uuid.UUID(int=11)))
ATOM_B = AtomReference(BOOK_B, str(uuid.UUID(int=12)))
STRATEGY = str(uuid.UUID(int=21))
CONTENT = ArtifactContent(kind=ArtifactKind.QUIZ, title="t", body={}, book_ids=(BOOK_A, BOOK_B),
                          atom_references=(ATOM_A, ATOM_B), pedagogy_strategy_id=STRATEGY)
EVERYTHING = Found(books=frozenset({BOOK_A, BOOK_B}), atoms=frozenset({ATOM_A, ATOM_B}), strategy=True)


def test_an_artifact_cites_its_books_atoms_and_strategy_by_field() -> None:
    cited = references.of_content(CONTENT)
    assert cited.books == (("book_ids[0]", BOOK_A), ("book_ids[1]", BOOK_B))
    assert cited.atoms == (("atom_references[0]", ATOM_A), ("atom_references[1]", ATOM_B))
    assert cited.strategy == ("pedagogy_strategy_id", STRATEGY)


@pytest.mark.parametrize(("patch", "books", "atoms", "strategy"), [
    pytest.param(ArtifactPatch(title="t"), (), (), None, id="title-only-writes-no-reference"),
    pytest.param(ArtifactPatch(book_ids=(BOOK_B,)), (("book_ids[0]", BOOK_B),), (), None, id="books"),
    pytest.param(ArtifactPatch(atom_references=(ATOM_B,)), (), (("atom_references[0]", ATOM_B),), None, id="atoms"),
    pytest.param(ArtifactPatch(pedagogy_strategy_id=STRATEGY), (), (), ("pedagogy_strategy_id", STRATEGY),
                 id="strategy"),
    pytest.param(ArtifactPatch(pedagogy_strategy_id="", book_ids=()), (), (), None, id="clearing-needs-no-check"),
])
def test_an_update_checks_only_what_it_writes(
    patch: ArtifactPatch, books: tuple[object, ...], atoms: tuple[object, ...], strategy: object
) -> None:
    written = references.written_by(patch)
    assert (written.books, written.atoms, written.strategy) == (books, atoms, strategy)
    assert bool(written) == bool(books or atoms or strategy)


def test_known_references_pass_and_read_as_resolved() -> None:
    cited = references.of_content(CONTENT)
    references.check_written(cited, EVERYTHING)
    assert references.status(cited, EVERYTHING) == references.ReferenceStatus(ReferenceCheck.RESOLVED, {})


def test_every_unknown_reference_is_named() -> None:
    cited = references.of_content(CONTENT)
    found = Found(books=frozenset({BOOK_A}), atoms=frozenset({ATOM_B}), strategy=False)
    expected = {
        "book_ids[1]": f"no book {BOOK_B} in the library",
        "atom_references[0]": f"book {BOOK_A} has no atom {ATOM_A.atom_id}",
        "pedagogy_strategy_id": f"no pedagogy strategy {STRATEGY} is visible to you",
    }
    with pytest.raises(InvalidArgument) as error:
        references.check_written(cited, found)
    assert error.value.violations == {f"artifact.{path}": why for path, why in expected.items()}
    assert references.status(cited, found) == references.ReferenceStatus(ReferenceCheck.DANGLING, expected)


def test_an_artifacts_references_fit_one_batch_call_of_contentservice() -> None:
    """user_svc.library looks each kind of reference up in one batch call."""
    assert limits.LIST_MAX_ITEMS <= MAX_BATCH_SIZE
