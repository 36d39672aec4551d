"""ContentService rules, pure: rank fusion, search and strategy validation, cache keys, loadable books."""

from __future__ import annotations

import datetime
import uuid

import numpy
import pytest

from common.auth import Identity
from common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from content_svc.contract import ParsedAtom, ParsedBook, ParsedNode
from content_svc.embedding import HashingEmbedder
from content_svc.rules import cache_keys, strategies
from content_svc.rules.library import atom_uuid, loadable_book, node_uuid
from content_svc.rules.search import (
    MAX_BOOKS_PER_SEARCH,
    FusionWeights,
    RetrievalSettings,
    SearchScope,
    VectorRoute,
    bm25_statistics,
    check_query_embedder,
    check_query_vector,
    embedding_of,
    fuse,
    nearest,
    ranked,
    search_scope,
    validate_search,
    vector_route,
)
from content_svc.rules.types import (
    Candidate,
    CatalogueEntry,
    Scope,
    SearchMode,
    SearchQuery,
    Strategy,
    StrategyFields,
    Subtree,
    VectorBlock,
)

BOOK = 1
A, B, C, D = 10, 11, 12, 13  # ordinals
TEACHER = Identity(user_id="t1", roles=frozenset({"teacher"}))
OTHER = Identity(user_id="t2", roles=frozenset({"teacher"}))
ADMIN = Identity(user_id="a1", roles=frozenset({"admin"}))


# --- reciprocal rank fusion ------------------------------------------------------------------------


def test_fusion_adds_weighted_reciprocal_ranks() -> None:
    weights = FusionWeights(text=1.0, vector=0.5, k=60, full_vector_lexemes=7)
    fused = fuse([Candidate(BOOK, A, 0.9), Candidate(BOOK, B, 0.8)],
                 [Candidate(BOOK, B, 5.0), Candidate(BOOK, C, 4.0)], weights, 7)
    assert [c.ordinal for c in fused] == [B, C, A]
    assert fused[0].score == pytest.approx(0.5 / 62 + 1.0 / 61)
    assert fused[1].score == pytest.approx(1.0 / 62)
    assert fused[2].score == pytest.approx(0.5 / 61)


def test_fusion_drops_text_candidates_far_below_the_best() -> None:
    # D matched only common words (a tenth of the best BM25 score): it gets no vote.
    fused = fuse([], [Candidate(BOOK, A, 10.0), Candidate(BOOK, D, 1.0)], FusionWeights(text_relative_cutoff=0.2), 2)
    assert [c.ordinal for c in fused] == [A]


def test_fusion_breaks_ties_by_book_then_ordinal() -> None:
    fused = fuse([Candidate(BOOK, B, 0.9), Candidate(BOOK + 1, A, 0.8)],
                 [Candidate(BOOK + 1, A, 3.0), Candidate(BOOK, B, 2.0)], FusionWeights(text=1.0, vector=1.0), 9)
    assert [(c.book_no, c.ordinal) for c in fused] == [(BOOK, B), (BOOK + 1, A)]


@pytest.mark.parametrize(("lexemes", "weight"), [
    pytest.param(0, 0.5, id="no-query-text-full-weight"),
    pytest.param(1, 0.5 / 49, id="one-word"),
    pytest.param(3, 0.5 * 9 / 49, id="three-words"),
    pytest.param(7, 0.5, id="a-sentence-full-weight"),
    pytest.param(20, 0.5, id="longer-capped"),
])
def test_the_vector_weight_grows_with_the_query(lexemes: int, weight: float) -> None:
    assert FusionWeights(vector=0.5, full_vector_lexemes=7).vector_weight(lexemes) == pytest.approx(weight)


def test_a_short_query_is_ranked_by_its_words() -> None:
    vector_first, text_first = [Candidate(BOOK, A, 0.9), Candidate(BOOK, B, 0.8)], [Candidate(BOOK, B, 3.0)]
    assert [c.ordinal for c in fuse(vector_first, text_first, FusionWeights(), 2)] == [B, A]
    # Vector agreement still orders what BM25 alone ties.
    tied = [Candidate(BOOK, C, 3.0), Candidate(BOOK, B, 3.0)]
    assert fuse([Candidate(BOOK, B, 0.9)], tied, FusionWeights(), 2)[0].ordinal == B


@pytest.mark.parametrize(("mode", "expected"), [
    pytest.param(SearchMode.VECTOR, [A], id="vector-only"),
    pytest.param(SearchMode.TEXT, [B], id="text-only"),
    pytest.param(SearchMode.HYBRID, [B, A], id="hybrid-fuses"),
])
def test_each_mode_answers_with_its_ranking(mode: SearchMode, expected: list[int]) -> None:
    result = ranked(mode, [Candidate(BOOK, A, 0.9)], [Candidate(BOOK, B, 2.0)], FusionWeights(), 7)
    assert [c.ordinal for c in result] == expected


# --- search requests -------------------------------------------------------------------------------


BOOK_ID, OTHER_ID = uuid.UUID(int=1), uuid.UUID(int=2)


def test_a_valid_search_is_cleaned() -> None:
    valid = validate_search(SearchQuery(book_ids=[BOOK_ID, BOOK_ID, OTHER_ID], text="  cells  ", top_k=5))
    assert valid.book_ids == [BOOK_ID, OTHER_ID] and valid.text == "cells" and valid.vector is None
    assert valid.depth(FusionWeights(depth=50)) == 50
    assert validate_search(SearchQuery(book_ids=[BOOK_ID], text="x", top_k=5, mode=SearchMode.TEXT)).depth(
        FusionWeights(depth=50)) == 5


def test_no_book_ids_is_a_valid_library_wide_search() -> None:
    assert validate_search(SearchQuery(book_ids=[], text="cells")).book_ids == []


@pytest.mark.parametrize(("query", "field"), [
    pytest.param(SearchQuery(book_ids=[BOOK_ID]), "query", id="no-text-no-vector"),
    pytest.param(SearchQuery(book_ids=[uuid.uuid4() for _ in range(MAX_BOOKS_PER_SEARCH + 1)], text="x"),
                 "book_ids", id="too-many-books-listed"),
    pytest.param(SearchQuery(book_ids=[BOOK_ID], text="x" * 4001), "query", id="text-too-long"),
    pytest.param(SearchQuery(book_ids=[BOOK_ID], text="x", top_k=0), "top_k", id="top-k-zero"),
    pytest.param(SearchQuery(book_ids=[BOOK_ID], text="x", top_k=101), "top_k", id="top-k-too-large"),
    pytest.param(SearchQuery(book_ids=[BOOK_ID], vector=[1.0], mode=SearchMode.TEXT), "query",
                 id="text-mode-without-text"),
    pytest.param(SearchQuery(book_ids=[BOOK_ID], vector=[float("nan"), 1.0]), "query_vector", id="vector-nan"),
    pytest.param(SearchQuery(book_ids=[BOOK_ID], vector=[0.0, 0.0]), "query_vector", id="vector-zero"),
])
def test_invalid_searches_name_the_field(query: SearchQuery, field: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        validate_search(query)
    assert field in raised.value.violations


def _entry(model: str, dimension: int, book_no: int = 1, atoms: int = 10, tokens: int = 100) -> CatalogueEntry:
    return CatalogueEntry(book_id=uuid.uuid4(), book_no=book_no, embedding_model=model, embedding_dimension=dimension,
                          atom_count=atoms, token_count=tokens, load_id=uuid.uuid4())


def test_books_of_different_embedders_are_not_compared() -> None:
    assert embedding_of([_entry("m", 8), _entry("m", 8)]) == ("m", 8)
    with pytest.raises(FailedPrecondition, match="different models"):
        embedding_of([_entry("m", 8), _entry("m", 16)])
    with pytest.raises(FailedPrecondition, match="re-ingest"):
        check_query_embedder(("m", 8), ("other", 8))
    check_query_embedder(("m", 8), ("m", 8))
    with pytest.raises(InvalidArgument, match="3 dimensions"):
        check_query_vector(numpy.ones(3, dtype=numpy.float32), 8)


LIBRARY = {e.book_id: e for e in (_entry("m", 8, 1), _entry("m", 8, 2), _entry("other", 16, 3))}
SERVICE_EMBEDDER = ("m", 8)


def _scope(query: SearchQuery) -> list[int]:
    return search_scope(validate_search(query), LIBRARY, SERVICE_EMBEDDER).book_nos


@pytest.mark.parametrize(("query", "book_nos", "whole_library"), [
    pytest.param(SearchQuery(book_ids=[], text="x", mode=SearchMode.TEXT), [1, 2, 3], True, id="text-every-book"),
    pytest.param(SearchQuery(book_ids=[], text="x"), [1, 2], False, id="hybrid-books-of-the-service-embedder"),
    pytest.param(SearchQuery(book_ids=[], vector=[1.0] * 16, mode=SearchMode.VECTOR), [3], False,
                 id="raw-vector-books-of-its-dimension"),
])
def test_an_empty_book_list_searches_every_comparable_book(
    query: SearchQuery, book_nos: list[int], whole_library: bool
) -> None:
    scope = search_scope(validate_search(query), LIBRARY, SERVICE_EMBEDDER)
    assert (scope.book_nos, scope.whole_library) == (book_nos, whole_library)


def test_listed_books_must_be_ready_and_comparable() -> None:
    first, _, other = LIBRARY
    assert _scope(SearchQuery(book_ids=[first], text="x")) == [1]
    missing = uuid.uuid4()
    with pytest.raises(NotFound, match=str(missing)):
        _scope(SearchQuery(book_ids=[first, missing], text="x"))
    with pytest.raises(FailedPrecondition):
        _scope(SearchQuery(book_ids=[first, other], text="x"))
    assert _scope(SearchQuery(book_ids=[first, other], text="x", mode=SearchMode.TEXT)) == [1, 3]
    with pytest.raises(InvalidArgument):
        _scope(SearchQuery(book_ids=[], vector=[1.0] * 5))


MIB = 2**20


@pytest.mark.parametrize(("atoms", "dimension", "subtree", "cache_mib", "route"), [
    pytest.param(10_000, 384, False, 256, VectorRoute.IN_PROCESS, id="few-atoms-in-process"),
    pytest.param(10_000, 384, False, 0, VectorRoute.EXACT, id="few-atoms-without-cache"),
    pytest.param(10_001, 384, False, 256, VectorRoute.INDEX, id="many-atoms-index"),
    pytest.param(10_001, 384, True, 256, VectorRoute.IN_PROCESS, id="subtree-exact"),
    pytest.param(10_001, 4001, False, 256, VectorRoute.EXACT, id="too-many-dimensions-to-index"),
    # 10,000 x 1,536 float32 is 58.6 MiB: it would evict itself from a 32 MiB cache on every search.
    pytest.param(10_000, 1536, False, 32, VectorRoute.INDEX, id="scope-larger-than-the-cache-index"),
    pytest.param(10_000, 1536, False, 59, VectorRoute.IN_PROCESS, id="scope-that-fits-the-cache"),
    pytest.param(10_000, 1536, True, 32, VectorRoute.IN_PROCESS, id="subtree-in-process-whatever-its-book"),
])
def test_vectors_are_searched_exactly_for_few_atoms(
    atoms: int, dimension: int, subtree: bool, cache_mib: int, route: VectorRoute
) -> None:
    scope = SearchScope([_entry("m", dimension, atoms=atoms)], ("m", dimension), False)
    settings = RetrievalSettings(exact_max_atoms=10_000, cache_bytes=cache_mib * MIB)
    assert vector_route(scope, subtree, settings) is route


def test_nearest_is_exact_with_ties_by_book_and_ordinal() -> None:
    def block(rows: list[list[float]], preorders: list[int]) -> VectorBlock:
        return VectorBlock.from_rows(numpy.arange(len(rows), dtype=numpy.int32),
                                     numpy.asarray(preorders, dtype=numpy.int32), numpy.asarray(rows))

    blocks = [(2, block([[1, 0], [0, 1], [1, 1]], [0, 1, 1])), (1, block([[0, 1], [1, 0.1]], [0, 0]))]
    found = nearest(blocks, numpy.asarray([2.0, 0.0]), 3, None)
    assert [(c.book_no, c.ordinal) for c in found] == [(2, 0), (1, 1), (2, 2)]
    assert found[0].score == pytest.approx(1.0)
    tied = nearest(blocks, numpy.asarray([0.0, 1.0]), 2, None)
    assert [(c.book_no, c.ordinal) for c in tied] == [(1, 0), (2, 1)]
    within = nearest(blocks, numpy.asarray([1.0, 0.0]), 5, Subtree(book_no=2, first=1, last=1))
    assert [(c.book_no, c.ordinal) for c in within] == [(2, 2), (2, 1)]


@pytest.mark.parametrize("non_zero", [pytest.param(3, id="sparse-query"), pytest.param(64, id="dense-query")])
def test_nearest_ranks_as_a_full_scan_whatever_the_query_touches(non_zero: int) -> None:
    rng = numpy.random.default_rng(non_zero)
    rows = [rng.standard_normal((n, 64)) for n in (50, 80)]
    blocks = [
        (book_no, VectorBlock.from_rows(numpy.arange(n, dtype=numpy.int32) * 2, numpy.zeros(n, dtype=numpy.int32), m))
        for book_no, (n, m) in enumerate(((50, rows[0]), (80, rows[1])))
    ]
    query = numpy.zeros(64)
    query[rng.choice(64, non_zero, replace=False)] = rng.standard_normal(non_zero)
    unit_rows = numpy.vstack(rows) / numpy.linalg.norm(numpy.vstack(rows), axis=1, keepdims=True)
    expected = unit_rows @ (query / numpy.linalg.norm(query))
    keys = [(0, 2 * i) for i in range(50)] + [(1, 2 * i) for i in range(80)]
    best = sorted(range(130), key=lambda i: -expected[i])[:10]
    found = nearest(blocks, query, 10, None)
    assert [(c.book_no, c.ordinal) for c in found] == [keys[i] for i in best]
    assert [c.score for c in found] == pytest.approx([float(expected[i]) for i in best], abs=1e-5)


def test_bm25_statistics_are_summed_over_the_searched_books() -> None:
    assert bm25_statistics([_entry("m", 8, atoms=10, tokens=100), _entry("m", 8, atoms=30, tokens=500)]) == (40, 15)
    assert bm25_statistics([]) == (0, 1.0)


# --- pedagogy strategies ---------------------------------------------------------------------------


def test_strategy_fields_are_trimmed_and_tags_deduplicated() -> None:
    clean = strategies.validate_fields(StrategyFields(name="  Drills ", tags=[" a", "b", "a "]))
    assert clean.name == "Drills" and clean.tags == ["a", "b"]


@pytest.mark.parametrize(("fields", "field"), [
    pytest.param(StrategyFields(name=" "), "strategy.name", id="blank-name"),
    pytest.param(StrategyFields(name="x" * 201), "strategy.name", id="long-name"),
    pytest.param(StrategyFields(name="ok", description="x" * 4001), "strategy.description", id="long-description"),
    pytest.param(StrategyFields(name="ok", instructions="x" * 20001), "strategy.instructions",
                 id="long-instructions"),
    pytest.param(StrategyFields(name="ok", tags=["t"] * 33), "strategy.tags", id="too-many-tags"),
    pytest.param(StrategyFields(name="ok", tags=[""]), "strategy.tags", id="empty-tag"),
])
def test_invalid_strategy_fields(fields: StrategyFields, field: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        strategies.validate_fields(fields)
    assert field in raised.value.violations


def test_an_update_writes_only_masked_fields() -> None:
    # The name is blank but not in the mask: it is neither checked nor written.
    assert strategies.changes(StrategyFields(name="", description="new"), ["description", "description"]) == {
        "description": "new"
    }


@pytest.mark.parametrize("paths", [pytest.param([], id="empty"), pytest.param(["owner_id"], id="owner-id"),
                                   pytest.param(["name", "scope"], id="scope")])
def test_bad_update_masks(paths: list[str]) -> None:
    with pytest.raises(InvalidArgument) as raised:
        strategies.changes(StrategyFields(name="n"), paths)
    assert "update_mask" in raised.value.violations


def _strategy(owner_id: str | None) -> Strategy:
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    return Strategy(strategy_id=A, owner_id=owner_id, name="n", description="", instructions="", tags=[],
                    create_time=now, update_time=now)


def test_who_may_create_and_write_which_strategy() -> None:
    assert strategies.owner_for_new(TEACHER, Scope.PRIVATE) == "t1"
    assert strategies.owner_for_new(ADMIN, Scope.GLOBAL) is None
    with pytest.raises(PermissionDenied):
        strategies.owner_for_new(TEACHER, Scope.GLOBAL)
    mine, global_one = _strategy("t1"), _strategy(None)
    assert strategies.check_writable(TEACHER, A, mine) is mine
    assert strategies.check_writable(ADMIN, A, global_one) is global_one
    with pytest.raises(PermissionDenied):
        strategies.check_writable(TEACHER, A, global_one)
    # Someone else's private strategy is missing, for teachers and admins alike.
    for caller in (OTHER, ADMIN):
        with pytest.raises(NotFound):
            strategies.check_writable(caller, A, mine)
    with pytest.raises(NotFound):
        strategies.check_writable(TEACHER, A, None)


# --- cache keys ------------------------------------------------------------------------------------


def test_outline_keys_change_with_every_load() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    assert cache_keys.outline_key(BOOK_ID, first) == cache_keys.outline_key(BOOK_ID, first)
    assert cache_keys.outline_key(BOOK_ID, first) != cache_keys.outline_key(BOOK_ID, second)


@pytest.mark.parametrize(("scope", "global_changes", "own_changes"), [
    pytest.param(Scope.ANY, True, True, id="any"),
    pytest.param(Scope.GLOBAL, True, False, id="global"),
    pytest.param(Scope.PRIVATE, False, True, id="private"),
])
def test_strategy_page_keys_follow_the_lists_they_show(scope: Scope, global_changes: bool, own_changes: bool) -> None:
    key = cache_keys.strategies_key("t1", scope, 50, "", 3, 7)
    assert (cache_keys.strategies_key("t1", scope, 50, "", 4, 7) != key) is global_changes
    assert (cache_keys.strategies_key("t1", scope, 50, "", 3, 8) != key) is own_changes
    assert cache_keys.strategies_key("t2", scope, 50, "", 3, 7) != key
    assert cache_keys.strategies_key("t1", scope, 20, "", 3, 7) != key
    assert cache_keys.strategies_key("t1", scope, 50, "token", 3, 7) != key
    assert "t1" not in key


# --- loadable books --------------------------------------------------------------------------------

EMBEDDER = HashingEmbedder(16)
NODES = [
    ParsedNode(key=1, parent_key=None, level=1, ordinal=0, title="Part", first_page=1, last_page=9),
    ParsedNode(key=2, parent_key=1, level=2, ordinal=0, title="Chapter", first_page=1, last_page=5),
    ParsedNode(key=3, parent_key=2, level=3, ordinal=0, title="Section", first_page=2, last_page=5),
    ParsedNode(key=4, parent_key=1, level=2, ordinal=1, title="Next", first_page=6, last_page=9),
]


def _parsed(nodes: list[ParsedNode] = NODES, atoms: list[ParsedAtom] | None = None, **fields: str) -> ParsedBook:
    atoms = atoms if atoms is not None else [ParsedAtom(node_key=3, ordinal=0, page_number=2, text="a\x00b")]
    return ParsedBook(**{"title": " Title ", "authors": [" A ", " "], "page_count": 9, "content_sha256": "A" * 64,
                         **fields}, nodes=nodes, atoms=atoms)


def _vectors(book: ParsedBook) -> numpy.ndarray:
    return EMBEDDER.embed([a.text for a in book.atoms])


def test_a_loadable_book_has_preorder_subtrees_and_breadcrumbs() -> None:
    book = _parsed()
    loadable = loadable_book(BOOK_ID, book, _vectors(book), EMBEDDER)
    assert (loadable.book.title, loadable.book.authors, loadable.book.content_sha256) == ("Title", ["A"], "a" * 64)
    assert [(n.preorder, n.subtree_end) for n in loadable.nodes] == [(0, 3), (1, 2), (2, 2), (3, 3)]
    assert loadable.nodes[2].path_titles == ["Part", "Chapter", "Section"]
    assert loadable.nodes[2].parent_node_id == node_uuid(BOOK_ID, 2) == loadable.nodes[1].node_id
    (atom,) = loadable.atoms
    assert (atom.atom_id, atom.node_preorder, atom.text) == (atom_uuid(BOOK_ID, 0), 2, "ab")
    # Ids are deterministic per book, so a retried load writes the same ones.
    assert node_uuid(BOOK_ID, 2) != node_uuid(OTHER_ID, 2)


@pytest.mark.parametrize(("book", "field"), [
    pytest.param(_parsed(content_sha256="xyz"), "content_sha256", id="bad-sha"),
    pytest.param(_parsed(title="  "), "title", id="no-title"),
    pytest.param(_parsed(nodes=[ParsedNode(3, None, 2, 0, "P", 1, 9)]), "nodes[0].level", id="top-level-not-level-1"),
    pytest.param(_parsed(nodes=[NODES[0], ParsedNode(3, 1, 3, 0, "S", 1, 9)]), "nodes[1].level", id="level-skips"),
    pytest.param(_parsed(nodes=[NODES[2], *NODES]), "nodes[0].parent_key", id="child-before-parent"),
    pytest.param(_parsed(nodes=[NODES[0], NODES[0]]), "nodes[1].key", id="duplicate-key"),
    pytest.param(_parsed(nodes=[ParsedNode(1, None, 1, 0, "P", 3, 2)]), "nodes[0].pages", id="pages-backwards"),
    pytest.param(_parsed(atoms=[ParsedAtom(node_key=9, ordinal=0, page_number=1, text="x")]), "atoms[0].node_key",
                 id="atom-of-no-node"),
    pytest.param(_parsed(atoms=[ParsedAtom(1, 0, 1, "x"), ParsedAtom(1, 0, 1, "y")]), "atoms[1].ordinal",
                 id="duplicate-ordinal"),
])
def test_inconsistent_books_are_refused(book: ParsedBook, field: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        loadable_book(BOOK_ID, book, _vectors(book), EMBEDDER)
    assert field in raised.value.violations


@pytest.mark.parametrize(("spoil", "words"), [
    pytest.param(lambda v: v[:, :8], "expected shape", id="wrong-dimension"),
    pytest.param(lambda v: v[:0], "expected shape", id="missing-rows"),
    pytest.param(lambda v: v * numpy.nan, "NaN", id="nan"),
])
def test_embeddings_must_match_the_atoms(spoil, words: str) -> None:
    book = _parsed()
    with pytest.raises(InvalidArgument, match=words):
        loadable_book(BOOK_ID, book, spoil(_vectors(book)), EMBEDDER)
