"""ContentService's use cases: each opens its connection, calls the rules and the repository, and
goes through the read cache where a read is cacheable. Called by the thin api.py."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pydantic
from psycopg import Connection
from psycopg_pool import ConnectionPool

from common.auth import Identity
from common.errors import NotFound
from common.pagination import Page, PageTokens, page_size
from content_svc import writer
from content_svc.cache import ReadCache
from content_svc.contract import Embedder
from content_svc.repository import books, pedagogy, reading, retrieval
from content_svc.rules import cache_keys, strategies
from content_svc.rules import reading as reading_rules
from content_svc.rules import search as search_rules
from content_svc.rules.reading import AtomContext, AtomKey, Batch, MissingReferences, NodeView
from content_svc.rules.search import FusionWeights
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
)

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
        fusion: FusionWeights | None = None,
    ) -> None:
        self._pool = pool
        self._embedder = embedder
        self._cache = cache
        self._tokens = page_tokens
        self._fusion = fusion or FusionWeights()

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
        # Cached outlines are keyed by the book's load_id and the book row is gone: nothing stale
        # can be served, so there is nothing to evict.

    def outline(self, book_id: uuid.UUID) -> list[Node]:
        with self._pool.connection() as conn:
            book = _ready_book(conn, book_id)
            return self._cache.get_or_load(
                cache_keys.outline_key(book_id, book.load_id), lambda: books.outline(conn, book_id), _OUTLINE
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
            _ready_book(conn, book_id)
            lineage = reading.lineage(conn, book_id, node_id)
            if not lineage:
                raise NotFound("structure node", f"books/{book_id}/nodes/{node_id}")
            *ancestors, node = lineage
            return NodeView(node=node, ancestors=ancestors, children=reading.children(conn, book_id, node))

    def list_atoms(
        self, book_id: uuid.UUID, node_id: uuid.UUID | None, requested_page_size: int, page_token: str
    ) -> Page[Atom]:
        """The book's atoms, or those of the node's subtree, one page at a time in reading order."""
        with self._pool.connection() as conn:
            _ready_book(conn, book_id)
            subtree = None
            if node_id is not None:
                subtree = books.get_subtree(conn, [book_id], node_id)
                if subtree is None:
                    raise NotFound("structure node", f"books/{book_id}/nodes/{node_id}")
            return self._tokens.paginate(
                requested_page_size, page_token, query={"list": "atoms", "book": book_id, "node": node_id},
                cursor=_READING_CURSOR,
                fetch=lambda after, limit: reading.atoms_in_reading_order(conn, book_id, subtree, limit, after),
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
            return AtomContext(
                before=reading.atoms_before(conn, book_id, position, radius), atom=atom,
                after=reading.atoms_in_reading_order(conn, book_id, None, radius, position),
            )

    # --- search --------------------------------------------------------------------------------

    def search(self, query: SearchQuery) -> list[SearchHit]:
        valid = search_rules.validate_search(query)
        book_ids = valid.book_ids
        with self._pool.connection() as conn:
            found = books.get_ready_books(conn, book_ids)
            for book_id in book_ids:
                if book_id not in found:
                    raise NotFound("book", str(book_id))
            subtree = None
            if valid.node_id is not None:
                subtree = books.get_subtree(conn, book_ids, valid.node_id)
                if subtree is None:
                    raise NotFound("node", str(valid.node_id))
                book_ids = [subtree.book_id]

            depth = valid.depth(self._fusion)
            vector_ranking: list[Candidate] = []
            text_ranking: list[Candidate] = []
            if valid.mode in (SearchMode.VECTOR, SearchMode.HYBRID):
                dimension, vector = self._query_vector(valid, [found[book_id] for book_id in book_ids])
                vector_ranking = retrieval.vector_candidates(conn, book_ids, dimension, vector, depth, subtree)
            if valid.mode in (SearchMode.TEXT, SearchMode.HYBRID) and valid.text:
                lexemes = retrieval.query_lexemes(conn, valid.text)
                text_ranking = retrieval.bm25_candidates(conn, book_ids, lexemes, depth, subtree)
            ranked = search_rules.ranked(valid.mode, vector_ranking, text_ranking, self._fusion)[: valid.top_k]
            atoms = books.atoms_by_keys(conn, [(c.book_id, c.atom_id) for c in ranked])
        return [
            SearchHit(atom=atoms[(c.book_id, c.atom_id)], score=c.score)
            for c in ranked
            if (c.book_id, c.atom_id) in atoms
        ]

    def _query_vector(self, valid: search_rules.ValidSearch, searched: list[Book]) -> tuple[int, Any]:
        """The books' dimension and the query vector: the raw one given, or the query text embedded."""
        model, dimension = search_rules.embedding_of(searched)
        if valid.vector is not None:
            search_rules.check_query_vector(valid.vector, dimension)
            return dimension, valid.vector
        search_rules.check_query_embedder((model, dimension), (self._embedder.model_name, self._embedder.dimension))
        return dimension, self._embedder.embed([valid.text])[0]

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
        with self._pool.connection() as conn:
            return pedagogy.insert_strategy(conn, uuid.uuid4(), owner_id, clean)

    def update_strategy(
        self, caller: Identity, strategy_id: uuid.UUID, fields: StrategyFields, paths: list[str]
    ) -> Strategy:
        changes = strategies.changes(fields, paths)
        with self._pool.connection() as conn:
            strategies.check_writable(caller, strategy_id, pedagogy.lock_strategy(conn, strategy_id))
            return pedagogy.update_strategy(conn, strategy_id, changes)

    def delete_strategy(self, caller: Identity, strategy_id: uuid.UUID) -> None:
        with self._pool.connection() as conn:
            strategy = strategies.check_writable(caller, strategy_id, pedagogy.lock_strategy(conn, strategy_id))
            pedagogy.delete_strategy(conn, strategy)


def _ready_book(conn: Connection[Any], book_id: uuid.UUID) -> Book:
    book = books.get_ready_book(conn, book_id)
    if book is None:
        raise NotFound("book", str(book_id))
    return book
