"""ContentService's use cases: each opens its connection, calls the rules and the repository, and
goes through the read cache where a read is cacheable. Called by the thin api.py."""

from __future__ import annotations

import datetime
import functools
import uuid
from collections.abc import Callable
from typing import Any

import pydantic
from psycopg import Connection
from psycopg_pool import ConnectionPool

from common.auth import Identity
from common.errors import NotFound
from common.pagination import Page, PageTokens, page_size
from content_svc import writer
from content_svc.cache import ReadCache
from content_svc.catalogue import Catalogue
from content_svc.contract import Embedder
from content_svc.repository import books, pedagogy, reading, retrieval
from content_svc.rules import cache_keys, strategies
from content_svc.rules import reading as reading_rules
from content_svc.rules import search as search_rules
from content_svc.rules.reading import AtomContext, AtomKey, Batch, MissingReferences, NodeView
from content_svc.rules.search import Bm25, FusionWeights, RetrievalSettings, SearchScope, VectorRoute
from content_svc.rules.types import (
    Atom,
    Book,
    Candidate,
    Node,
    Scope,
    SearchHit,
    SearchMode,
    SearchQuery,
    Strategy,
    StrategyFields,
    Subtree,
)
from content_svc.vectors import VectorCache

_BOOKS_CURSOR = pydantic.TypeAdapter(tuple[datetime.datetime, uuid.UUID])
_STRATEGIES_CURSOR = pydantic.TypeAdapter(tuple[str, uuid.UUID])
_OUTLINE = pydantic.TypeAdapter(list[Node])
_STRATEGY_PAGE = pydantic.TypeAdapter(Page[Strategy])
_READING_CURSOR = pydantic.TypeAdapter(tuple[int, int])


class ContentUseCases:
    def __init__(
        self,
        pool: ConnectionPool[Connection[Any]],
        embedder: Embedder,
        cache: ReadCache,
        page_tokens: PageTokens,
        catalogue: Catalogue,
        vectors: VectorCache,
        *,
        retrieval_settings: RetrievalSettings | None = None,
        ef_search: int = 1000,
        fusion: FusionWeights | None = None,
        bm25: Bm25 | None = None,
    ) -> None:
        self._pool = pool
        self._embedder = embedder
        self._cache = cache
        self._tokens = page_tokens
        self._catalogue = catalogue
        self._vectors = vectors
        self._retrieval = retrieval_settings or RetrievalSettings(cache_bytes=vectors.budget_bytes)
        self._ef_search = ef_search
        self._fusion = fusion or FusionWeights()
        self._bm25 = bm25 or Bm25()

    # --- books ---------------------------------------------------------------------------------

    def list_books(self, requested_page_size: int, page_token: str) -> Page[Book]:
        with self._pool.connection() as conn:
            return self._tokens.paginate(
                requested_page_size, page_token, query={"list": "books"}, cursor=_BOOKS_CURSOR,
                fetch=lambda after, limit: books.list_ready_books(conn, limit, after),
                cursor_of=lambda book: (book.create_time, book.book_id),
            )

    def get_book(self, book_id: uuid.UUID) -> Book:
        with self._pool.connection() as conn:
            return _ready_book(conn, book_id)

    def batch_get_books(self, book_ids: list[uuid.UUID]) -> Batch[uuid.UUID, Book]:
        reading_rules.check_batch_size(len(book_ids), "book_ids")
        with self._pool.connection() as conn:
            found = books.get_ready_books(conn, book_ids)
        return reading_rules.batch(book_ids, found)

    def delete_book(self, book_id: uuid.UUID) -> None:
        with self._pool.connection() as conn:
            if not writer.delete_book(conn, book_id):
                raise NotFound("book", str(book_id))
        self._catalogue.invalidate()  # the notification reaches every process; this one need not wait for it
        # Cached outlines are keyed by the book's load_id and the book row is gone: nothing stale
        # can be served, so there is nothing to evict.

    def outline(self, book_id: uuid.UUID) -> list[Node]:
        with self._pool.connection() as conn:
            book = _ready_book(conn, book_id)
            return self._cache.get_or_load(
                cache_keys.outline_key(book_id, book.load_id), lambda: books.outline(conn, book.book_no), _OUTLINE
            )

    def get_atom(self, book_id: uuid.UUID, atom_id: uuid.UUID) -> Atom:
        with self._pool.connection() as conn:
            atom = books.get_atom(conn, book_id, atom_id)
        if atom is None:
            raise NotFound("content atom", f"books/{book_id}/atoms/{atom_id}")
        return atom

    # --- reading -------------------------------------------------------------------------------

    def get_node(self, book_id: uuid.UUID, node_id: uuid.UUID) -> NodeView:
        with self._pool.connection() as conn:
            book = _ready_book(conn, book_id)
            lineage = reading.lineage(conn, book.book_no, node_id)
            if not lineage:
                raise NotFound("structure node", f"books/{book_id}/nodes/{node_id}")
            *ancestors, node = lineage
            return NodeView(node=node, ancestors=ancestors, children=reading.children(conn, book.book_no, node))

    def list_atoms(
        self, book_id: uuid.UUID, node_id: uuid.UUID | None, requested_page_size: int, page_token: str
    ) -> Page[Atom]:
        """The book's atoms, or those of the node's subtree, one page at a time in reading order."""
        with self._pool.connection() as conn:
            book = _ready_book(conn, book_id)
            subtree = None
            if node_id is not None:
                subtree = books.get_subtree(conn, [book.book_no], node_id)
                if subtree is None:
                    raise NotFound("structure node", f"books/{book_id}/nodes/{node_id}")
            return self._tokens.paginate(
                requested_page_size, page_token, query={"list": "atoms", "book": book_id, "node": node_id},
                cursor=_READING_CURSOR,
                fetch=lambda after, limit: reading.atoms_in_reading_order(conn, book.book_no, subtree, limit, after),
                cursor_of=reading_rules.reading_position,
            )

    def batch_get_atoms(self, keys: list[AtomKey]) -> Batch[AtomKey, Atom]:
        reading_rules.check_batch_size(len(keys), "requests")
        with self._pool.connection() as conn:
            found = books.atoms_by_keys(conn, keys)
        return reading_rules.batch(keys, found)

    def check_references(
        self, caller: Identity, book_ids: list[uuid.UUID], atoms: list[AtomKey], strategy_ids: list[uuid.UUID]
    ) -> MissingReferences:
        """Which references do not exist for the caller: one connection, a statement per kind given."""
        reading_rules.check_reference_counts(
            {"book_ids": len(book_ids), "atoms": len(atoms), "pedagogy_strategy_ids": len(strategy_ids)})
        with self._pool.connection() as conn:
            found_books = books.get_ready_books(conn, book_ids) if book_ids else {}
            found_atoms = books.atoms_by_keys(conn, atoms) if atoms else {}
            visible = pedagogy.visible_strategy_ids(conn, caller.user_id, strategy_ids) if strategy_ids else set()
        return MissingReferences(
            book_ids=[book_id for book_id in book_ids if book_id not in found_books],
            atoms=[key for key in atoms if key not in found_atoms],
            strategy_ids=[strategy_id for strategy_id in strategy_ids if strategy_id not in visible],
        )

    def atom_context(self, book_id: uuid.UUID, atom_id: uuid.UUID, requested_radius: int) -> AtomContext:
        radius = reading_rules.context_radius(requested_radius)
        atom = self.get_atom(book_id, atom_id)
        position = reading_rules.reading_position(atom)
        with self._pool.connection() as conn:
            book = _ready_book(conn, book_id)
            return AtomContext(
                before=reading.atoms_before(conn, book.book_no, position, radius), atom=atom,
                after=reading.atoms_in_reading_order(conn, book.book_no, None, radius, position),
            )

    # --- search --------------------------------------------------------------------------------

    def search(self, query: SearchQuery) -> list[SearchHit]:
        """Two round trips (retrieval.read_candidates, then retrieval.atoms_at) from the in-memory
        catalogue, ranked in between; asked again with a fresh catalogue when a listed book is gone."""
        valid = search_rules.validate_search(query)
        query_embedder = (self._embedder.model_name, self._embedder.dimension)
        with self._pool.connection() as conn:
            for attempt in range(3):
                catalogue = self._catalogue.books(conn)
                unknown = search_rules.unknown_books(valid, catalogue)
                if unknown and books.any_ready(conn, unknown):  # loaded since the catalogue was read
                    catalogue = self._catalogue.refresh(conn)
                scope = search_rules.search_scope(valid, catalogue, query_embedder)
                if not scope.books:
                    return []
                book_ids = {book.book_no: book.book_id for book in scope.books}
                ranking = self._ranking(conn, valid, scope)[: valid.top_k]
                # A library-wide read sees a book loaded since the catalogue was read: ask again knowing it.
                if any(c.book_no not in book_ids for c in ranking) and attempt < 2:
                    self._catalogue.refresh(conn)
                    continue
                listed = None if scope.whole_library else scope.book_nos
                present, atoms = retrieval.atoms_at(conn, [(c.book_no, c.ordinal) for c in ranking], listed)
                if present is None or present == len(scope.books):
                    break
                self._catalogue.refresh(conn)  # a listed book was deleted: the next pass says which
        return [
            SearchHit(atom=_atom(atoms[key], book_ids[candidate.book_no]), score=candidate.score)
            for candidate in ranking
            if (key := (candidate.book_no, candidate.ordinal)) in atoms and candidate.book_no in book_ids
        ]

    def _ranking(self, conn: Connection[Any], valid: search_rules.ValidSearch, scope: SearchScope) -> list[Candidate]:
        """The mode's ranking of the scope (or of the node's subtree within it)."""
        subtree: Subtree | None = None
        if valid.node_id is not None:
            subtree = books.get_subtree(conn, scope.book_nos, valid.node_id)
            if subtree is None:
                raise NotFound("node", str(valid.node_id))
            scope = SearchScope([b for b in scope.books if b.book_no == subtree.book_no], scope.embedding, False)
        depth = valid.depth(self._fusion)
        vector_query: retrieval.VectorQuery | None = None
        nearest: Callable[[], list[Candidate]] = list
        if scope.embedding is not None:
            vector = valid.vector if valid.vector is not None else self._embedder.embed([valid.text])[0]
            route = search_rules.vector_route(scope, subtree is not None, self._retrieval)
            if route is VectorRoute.IN_PROCESS:
                blocks = self._vectors.blocks(scope.books, lambda book_nos: retrieval.vector_blocks(conn, book_nos))
                nearest = functools.partial(search_rules.nearest, blocks, vector, depth, subtree)
            else:
                vector_query = retrieval.VectorQuery(route, vector, scope.embedding[1], depth, self._ef_search)
        text = valid.text if valid.mode is not SearchMode.VECTOR else ""
        if not (text or vector_query or subtree):
            return search_rules.ranked(valid.mode, nearest(), [], self._fusion, 0)
        # The in-process vector ranking is computed while Postgres reads the posting lists.
        reads, in_process = retrieval.read_candidates(
            conn, text, None if scope.whole_library else scope.book_nos, vector_query, subtree, nearest
        )
        atoms, mean_length = search_rules.bm25_statistics(scope.books)
        text_ranking = search_rules.bm25(reads.terms, atoms, mean_length, self._bm25, depth, reads.subtree_ordinals)
        vector_ranking = reads.vector_ranking if vector_query is not None else in_process
        return search_rules.ranked(valid.mode, vector_ranking, text_ranking, self._fusion, reads.query_lexemes)

    # --- pedagogy strategies -------------------------------------------------------------------

    def list_strategies(
        self, caller: Identity, scope: Scope, requested_page_size: int, page_token: str
    ) -> Page[Strategy]:
        def load(conn: Connection[Any]) -> Page[Strategy]:
            return self._tokens.paginate(
                requested_page_size, page_token,
                query={"list": "pedagogy", "scope": scope.value, "user": caller.user_id},
                cursor=_STRATEGIES_CURSOR,
                fetch=lambda after, limit: pedagogy.list_visible_strategies(conn, caller.user_id, scope, limit, after),
                cursor_of=lambda strategy: (strategy.name, strategy.strategy_id),
            )

        with self._pool.connection() as conn:
            if not self._cache.enabled:
                return load(conn)
            versions = pedagogy.list_versions(conn, caller.user_id)
            key = cache_keys.strategies_key(
                caller.user_id, scope, page_size(requested_page_size), page_token, *versions
            )
            return self._cache.get_or_load(key, lambda: load(conn), _STRATEGY_PAGE)

    def get_strategy(self, caller: Identity, strategy_id: uuid.UUID) -> Strategy:
        with self._pool.connection() as conn:
            strategy = pedagogy.get_visible_strategy(conn, caller.user_id, strategy_id)
        if strategy is None:
            raise NotFound("pedagogy strategy", str(strategy_id))
        return strategy

    def create_strategy(self, caller: Identity, scope: Scope, fields: StrategyFields) -> Strategy:
        owner_id = strategies.owner_for_new(caller, scope)
        clean = strategies.validate_fields(fields)
        with self._pool.connection() as conn, conn.transaction():
            return pedagogy.insert_strategy(conn, uuid.uuid4(), owner_id, clean)

    def update_strategy(
        self, caller: Identity, strategy_id: uuid.UUID, fields: StrategyFields, paths: list[str]
    ) -> Strategy:
        changes = strategies.changes(fields, paths)
        with self._pool.connection() as conn, conn.transaction():
            strategies.check_writable(caller, strategy_id, pedagogy.lock_strategy(conn, strategy_id))
            return pedagogy.update_strategy(conn, strategy_id, changes)

    def delete_strategy(self, caller: Identity, strategy_id: uuid.UUID) -> None:
        with self._pool.connection() as conn, conn.transaction():
            strategy = strategies.check_writable(caller, strategy_id, pedagogy.lock_strategy(conn, strategy_id))
            pedagogy.delete_strategy(conn, strategy)


def _atom(row: retrieval.AtomRow, book_id: uuid.UUID) -> Atom:
    return Atom(atom_id=row.atom_id, book_id=book_id, node_id=row.node_id, text=row.text,
                page_number=row.page_number, ordinal=row.ordinal, node_path=row.node_path)


def _ready_book(conn: Connection[Any], book_id: uuid.UUID) -> Book:
    book = books.get_ready_book(conn, book_id)
    if book is None:
        raise NotFound("book", str(book_id))
    return book
