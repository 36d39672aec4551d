"""ContentService rules: visibility, validation, retrieval and rank fusion, caching policy."""

from __future__ import annotations

import datetime
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy
from psycopg import Connection
from psycopg_pool import ConnectionPool

from common.auth import Identity
from common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from common.pagination import PageTokens, page_size
from content_svc import loader, store
from content_svc.cache import ReadCache
from content_svc.domain.types import (
    Atom,
    Book,
    Node,
    Page,
    Scope,
    SearchHit,
    SearchMode,
    SearchQuery,
    Strategy,
    StrategyFields,
    Subtree,
)
from content_svc.embedding import Embedder

MAX_TOP_K = 100
DEFAULT_TOP_K = 10
MAX_BOOKS_PER_SEARCH = 100
MAX_QUERY_CHARS = 4000

MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 4000
MAX_INSTRUCTIONS_CHARS = 20000
MAX_TAGS = 32
MAX_TAG_CHARS = 64
UPDATABLE_STRATEGY_FIELDS = ("name", "description", "instructions", "tags")


@dataclass(frozen=True)
class FusionWeights:
    """Reciprocal rank fusion: score = sum(weight / (k + rank)) over the rankers that found an atom.

    Lexical evidence gets the larger weight: with the default hashing embedder BM25 is the stronger
    ranker (DESIGN.md §4), and the vector ranker mostly breaks ties and adds near-synonym recall.
    """

    text: float = 1.0
    vector: float = 0.5
    k: int = 60
    # Each ranker contributes this many candidates (at least top_k).
    depth: int = 50
    # Text candidates scoring below this fraction of the best BM25 score matched only common words;
    # ranks alone cannot tell that, and letting them vote buries a passage with the rare exact term.
    text_relative_cutoff: float = 0.2


def parse_uuid(value: str, field: str) -> uuid.UUID:
    if not value:
        raise InvalidArgument({field: "is required"})
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise InvalidArgument({field: "must be a UUID"}) from exc


def _key(*parts: object) -> str:
    """Cache key from arbitrary parts (user ids and tokens are hashed, never spliced in raw)."""
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()


def _encode_nodes(nodes: list[Node]) -> bytes:
    return json.dumps([
        [str(n.node_id), str(n.parent_node_id) if n.parent_node_id else None, n.level, n.ordinal, n.title,
         n.first_page, n.last_page, n.preorder, n.subtree_end]
        for n in nodes
    ]).encode()


def _decode_nodes(raw: bytes) -> list[Node]:
    return [
        Node(node_id=uuid.UUID(r[0]), parent_node_id=uuid.UUID(r[1]) if r[1] else None, level=r[2], ordinal=r[3],
             title=r[4], first_page=r[5], last_page=r[6], preorder=r[7], subtree_end=r[8])
        for r in json.loads(raw)
    ]


def _encode_strategies(page: Page[Strategy]) -> bytes:
    return json.dumps({
        "next": page.next_page_token,
        "items": [
            [str(s.strategy_id), s.owner_id, s.name, s.description, s.instructions, s.tags,
             s.create_time.isoformat(), s.update_time.isoformat()]
            for s in page.items
        ],
    }).encode()


def _decode_strategies(raw: bytes) -> Page[Strategy]:
    data = json.loads(raw)
    return Page(
        items=[
            Strategy(strategy_id=uuid.UUID(r[0]), owner_id=r[1], name=r[2], description=r[3], instructions=r[4],
                     tags=list(r[5]), create_time=datetime.datetime.fromisoformat(r[6]),
                     update_time=datetime.datetime.fromisoformat(r[7]))
            for r in data["items"]
        ],
        next_page_token=data["next"],
    )


def _validate_fields(fields: StrategyFields, paths: Sequence[str]) -> StrategyFields:
    """Trimmed, checked copy of the fields named in `paths`."""
    violations: dict[str, str] = {}
    name = fields.name.strip()
    if "name" in paths:
        if not name:
            violations["strategy.name"] = "is required"
        elif len(name) > MAX_NAME_CHARS:
            violations["strategy.name"] = f"at most {MAX_NAME_CHARS} characters"
    if "description" in paths and len(fields.description) > MAX_DESCRIPTION_CHARS:
        violations["strategy.description"] = f"at most {MAX_DESCRIPTION_CHARS} characters"
    if "instructions" in paths and len(fields.instructions) > MAX_INSTRUCTIONS_CHARS:
        violations["strategy.instructions"] = f"at most {MAX_INSTRUCTIONS_CHARS} characters"
    tags = [tag.strip() for tag in fields.tags]
    if "tags" in paths:
        if len(tags) > MAX_TAGS:
            violations["strategy.tags"] = f"at most {MAX_TAGS} tags"
        elif any(not tag or len(tag) > MAX_TAG_CHARS for tag in tags):
            violations["strategy.tags"] = f"tags must be 1..{MAX_TAG_CHARS} characters"
    if violations:
        raise InvalidArgument(violations)
    return StrategyFields(name=name, description=fields.description, instructions=fields.instructions,
                          tags=list(dict.fromkeys(tags)))


class ContentService:
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
        size = page_size(requested_page_size)
        cursor = self._tokens.decode(page_token, query={"list": "books"})
        after = None
        if cursor is not None:
            try:
                after = (datetime.datetime.fromisoformat(cursor["t"]), uuid.UUID(cursor["id"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise InvalidArgument({"page_token": "malformed page token"}) from exc
        with self._pool.connection() as conn:
            books = store.list_ready_books(conn, size + 1, after)
        next_token = ""
        if len(books) > size:
            books = books[:size]
            last = books[-1]
            next_token = self._tokens.encode(
                {"t": last.create_time.isoformat(), "id": str(last.book_id)}, query={"list": "books"}
            )
        return Page(items=books, next_page_token=next_token)

    def get_book(self, book_id: uuid.UUID) -> Book:
        with self._pool.connection() as conn:
            book = store.get_ready_book(conn, book_id)
        if book is None:
            raise NotFound("book", str(book_id))
        return book

    def delete_book(self, book_id: uuid.UUID) -> None:
        with self._pool.connection() as conn:
            if not loader.delete_book(conn, book_id):
                raise NotFound("book", str(book_id))
        # Cached outlines are keyed by the book's load_id and the book row is gone: nothing stale
        # can be served, so there is nothing to evict.

    def outline(self, book_id: uuid.UUID) -> list[Node]:
        with self._pool.connection() as conn:
            book = store.get_ready_book(conn, book_id)
            if book is None:
                raise NotFound("book", str(book_id))
            if not self._cache.enabled:
                return store.outline(conn, book_id)
            return self._cache.get_or_load(
                _key("outline", book_id, book.load_id),
                lambda: store.outline(conn, book_id),
                _encode_nodes,
                _decode_nodes,
            )

    def get_atom(self, book_id: uuid.UUID, atom_id: uuid.UUID) -> Atom:
        with self._pool.connection() as conn:
            atom = store.get_atom(conn, book_id, atom_id)
        if atom is None:
            raise NotFound("content atom", f"books/{book_id}/atoms/{atom_id}")
        return atom

    # --- search --------------------------------------------------------------------------------

    def search(self, query: SearchQuery) -> list[SearchHit]:
        text = query.text.strip()
        violations: dict[str, str] = {}
        if not query.book_ids:
            violations["book_ids"] = "at least one book id is required"
        elif len(set(query.book_ids)) > MAX_BOOKS_PER_SEARCH:
            violations["book_ids"] = f"at most {MAX_BOOKS_PER_SEARCH} books per search"
        if not text and not query.vector:
            violations["query"] = "give query text or a query_vector"
        if len(query.text) > MAX_QUERY_CHARS:
            violations["query"] = f"at most {MAX_QUERY_CHARS} characters"
        if not 1 <= query.top_k <= MAX_TOP_K:
            violations["top_k"] = f"must be between 1 and {MAX_TOP_K}"
        if query.mode is SearchMode.TEXT and not text:
            violations["query"] = "text search needs query text"
        raw_vector: numpy.ndarray[Any, Any] | None = None
        if query.vector:
            raw_vector = numpy.asarray(query.vector, dtype=numpy.float32)
            if not numpy.isfinite(raw_vector).all():
                violations["query_vector"] = "must contain only finite numbers"
            elif not numpy.any(raw_vector):
                violations["query_vector"] = "must not be all zeros"
        if violations:
            raise InvalidArgument(violations)
        book_ids = list(dict.fromkeys(query.book_ids))

        with self._pool.connection() as conn:
            books = store.get_ready_books(conn, book_ids)
            for book_id in book_ids:
                if book_id not in books:
                    raise NotFound("book", str(book_id))
            subtree: Subtree | None = None
            if query.node_id is not None:
                subtree = store.get_node(conn, book_ids, query.node_id)
                if subtree is None:
                    raise NotFound("node", str(query.node_id))
                book_ids = [subtree.book_id]
            searched = [books[book_id] for book_id in book_ids]

            vector_ranking: list[store.Candidate] = []
            text_ranking: list[store.Candidate] = []
            single = query.mode is not SearchMode.HYBRID
            depth = query.top_k if single else max(query.top_k, self._fusion.depth)
            if query.mode in (SearchMode.VECTOR, SearchMode.HYBRID):
                vector, dimension = self._query_vector(text, raw_vector, searched)
                vector_ranking = store.vector_candidates(conn, book_ids, dimension, vector, depth, subtree)
            if query.mode in (SearchMode.TEXT, SearchMode.HYBRID) and text:
                lexemes = store.query_lexemes(conn, text)
                text_ranking = store.bm25_candidates(conn, book_ids, lexemes, depth, subtree)

            if query.mode is SearchMode.VECTOR:
                ranked = vector_ranking
            elif query.mode is SearchMode.TEXT:
                ranked = text_ranking
            else:
                ranked = self._fuse(vector_ranking, text_ranking)
            ranked = ranked[: query.top_k]
            atoms = store.atoms_by_keys(conn, [(book_id, atom_id) for book_id, atom_id, _ in ranked])
        return [
            SearchHit(atom=atoms[(book_id, atom_id)], score=score)
            for book_id, atom_id, score in ranked
            if (book_id, atom_id) in atoms
        ]

    def _query_vector(
        self, text: str, raw_vector: numpy.ndarray[Any, Any] | None, books: Sequence[Book]
    ) -> tuple[numpy.ndarray[Any, Any], int]:
        """The query vector and its dimension; refuses to compare vectors from different embedders."""
        models = {(book.embedding_model, book.embedding_dimension) for book in books}
        if len(models) > 1:
            raise FailedPrecondition(
                "the selected books were embedded with different models "
                f"({', '.join(sorted(f'{m}/{d}' for m, d in models))}); search them separately",
                violation_type="EMBEDDING_MODEL_MISMATCH",
            )
        ((model, dimension),) = models
        if raw_vector is not None:
            if raw_vector.shape[0] != dimension:
                raise InvalidArgument(
                    {"query_vector": f"has {raw_vector.shape[0]} dimensions; the books use {dimension}"}
                )
            return raw_vector, dimension
        if (model, dimension) != (self._embedder.model_name, self._embedder.dimension):
            raise FailedPrecondition(
                f"the books were embedded with {model} ({dimension} dimensions) but this service embeds "
                f"queries with {self._embedder.model_name} ({self._embedder.dimension} dimensions); "
                "re-ingest the books or configure the same embedder",
                violation_type="EMBEDDING_MODEL_MISMATCH",
                subject=model,
            )
        return self._embedder.embed([text])[0], dimension

    def _fuse(
        self, vector_ranking: list[store.Candidate], text_ranking: list[store.Candidate]
    ) -> list[store.Candidate]:
        if text_ranking:
            floor = text_ranking[0][2] * self._fusion.text_relative_cutoff
            text_ranking = [candidate for candidate in text_ranking if candidate[2] >= floor]
        fused: dict[tuple[uuid.UUID, uuid.UUID], float] = {}
        for weight, ranking in ((self._fusion.vector, vector_ranking), (self._fusion.text, text_ranking)):
            for rank, (book_id, atom_id, _score) in enumerate(ranking, start=1):
                key = (book_id, atom_id)
                fused[key] = fused.get(key, 0.0) + weight / (self._fusion.k + rank)
        ordered = sorted(fused.items(), key=lambda item: (-item[1], str(item[0][1])))
        return [(book_id, atom_id, score) for (book_id, atom_id), score in ordered]

    # --- pedagogy strategies -------------------------------------------------------------------

    def list_strategies(
        self, caller: Identity, scope: Scope, requested_page_size: int, page_token: str
    ) -> Page[Strategy]:
        size = page_size(requested_page_size)
        token_query = {"list": "pedagogy", "scope": scope.value, "user": caller.user_id}
        cursor = self._tokens.decode(page_token, query=token_query)
        after = None
        if cursor is not None:
            try:
                after = (str(cursor["name"]), uuid.UUID(cursor["id"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise InvalidArgument({"page_token": "malformed page token"}) from exc

        def load(conn: Connection[Any]) -> Page[Strategy]:
            items = store.list_visible_strategies(conn, caller.user_id, scope, size + 1, after)
            next_token = ""
            if len(items) > size:
                items = items[:size]
                next_token = self._tokens.encode(
                    {"name": items[-1].name, "id": str(items[-1].strategy_id)}, query=token_query
                )
            return Page(items=items, next_page_token=next_token)

        with self._pool.connection() as conn:
            if not self._cache.enabled:
                return load(conn)
            global_version, own_version = store.list_versions(conn, caller.user_id)
            versions = {
                Scope.ANY: (global_version, own_version),
                Scope.GLOBAL: (global_version, 0),
                Scope.PRIVATE: (0, own_version),
            }[scope]
            key = _key("pedagogy", caller.user_id, scope.value, size, page_token, *versions)
            return self._cache.get_or_load(key, lambda: load(conn), _encode_strategies, _decode_strategies)

    def get_strategy(self, caller: Identity, strategy_id: uuid.UUID) -> Strategy:
        with self._pool.connection() as conn:
            strategy = store.get_visible_strategy(conn, caller.user_id, strategy_id)
        if strategy is None:
            raise NotFound("pedagogy strategy", str(strategy_id))
        return strategy

    def create_strategy(self, caller: Identity, scope: Scope, fields: StrategyFields) -> Strategy:
        if scope is Scope.GLOBAL and not caller.is_admin:
            raise PermissionDenied("only admins can create global pedagogy strategies")
        clean = _validate_fields(fields, UPDATABLE_STRATEGY_FIELDS)
        owner_id = None if scope is Scope.GLOBAL else caller.user_id
        with self._pool.connection() as conn:
            return store.insert_strategy(conn, uuid.uuid4(), owner_id, clean)

    def _writable(self, conn: Connection[Any], caller: Identity, strategy_id: uuid.UUID) -> Strategy:
        strategy = store.lock_strategy(conn, strategy_id)
        # Someone else's private strategy is reported as missing: its existence is not revealed.
        if strategy is None or (strategy.owner_id is not None and strategy.owner_id != caller.user_id):
            raise NotFound("pedagogy strategy", str(strategy_id))
        if strategy.is_global and not caller.is_admin:
            raise PermissionDenied("only admins can change global pedagogy strategies")
        return strategy

    def update_strategy(
        self, caller: Identity, strategy_id: uuid.UUID, fields: StrategyFields, paths: Sequence[str]
    ) -> Strategy:
        if not paths:
            raise InvalidArgument({"update_mask": "name at least one of " + ", ".join(UPDATABLE_STRATEGY_FIELDS)})
        unknown = [p for p in paths if p not in UPDATABLE_STRATEGY_FIELDS]
        if unknown:
            raise InvalidArgument({
                "update_mask": f"cannot update {', '.join(unknown)}; updatable: "
                + ", ".join(UPDATABLE_STRATEGY_FIELDS)
            })
        clean = _validate_fields(fields, paths)
        changes: dict[str, Any] = {path: getattr(clean, path) for path in dict.fromkeys(paths)}
        with self._pool.connection() as conn:
            self._writable(conn, caller, strategy_id)
            return store.update_strategy(conn, strategy_id, changes)

    def delete_strategy(self, caller: Identity, strategy_id: uuid.UUID) -> None:
        with self._pool.connection() as conn:
            strategy = self._writable(conn, caller, strategy_id)
            store.delete_strategy(conn, strategy)
