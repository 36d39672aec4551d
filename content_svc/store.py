"""All SQL of ContentService (db_content), as explicit typed functions over psycopg 3 connections.

Structure and atoms live in one LIST partition per book (see migration 0003); partitions are
created, filled and indexed as standalone tables and attached last, so loading a book holds only a
SHARE UPDATE EXCLUSIVE lock on the parent tables and never blocks searches of other books.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy
import numpy.typing as npt
from pgvector.psycopg import register_vector
from psycopg import Connection, sql

from content_svc.domain.types import Atom, Book, Node, Scope, Strategy, StrategyFields, Subtree

Conn = Connection[Any]

_BOOK_COLUMNS = """book_id, title, authors, subject, grade_level, page_count, content_sha256,
    embedding_model, embedding_dimension, node_count, atom_count, create_time, load_id"""


def configure_connection(conn: Conn) -> None:
    """Pool `configure` hook: pgvector types, and no server-side prepared statements.

    Our search SQL depends on the parameters (partition pruning happens at plan time with the
    actual book ids), so custom plans are what we want.
    """
    conn.autocommit = True
    register_vector(conn)
    conn.prepare_threshold = None
    conn.autocommit = False


def _book(row: Sequence[Any]) -> Book:
    return Book(
        book_id=row[0], title=row[1], authors=list(row[2]), subject=row[3], grade_level=row[4],
        page_count=row[5], content_sha256=row[6], embedding_model=row[7], embedding_dimension=row[8],
        node_count=row[9], atom_count=row[10], create_time=row[11], load_id=row[12],
    )


# --- books -----------------------------------------------------------------------------------------


def get_ready_book(conn: Conn, book_id: uuid.UUID) -> Book | None:
    row = conn.execute(
        f"SELECT {_BOOK_COLUMNS} FROM books WHERE book_id = %s AND status = 'ready'", (book_id,)
    ).fetchone()
    return _book(row) if row else None


def get_ready_books(conn: Conn, book_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Book]:
    rows = conn.execute(
        f"SELECT {_BOOK_COLUMNS} FROM books WHERE book_id = ANY(%s) AND status = 'ready'", (list(book_ids),)
    ).fetchall()
    return {row[0]: _book(row) for row in rows}


def list_ready_books(
    conn: Conn, limit: int, after: tuple[datetime.datetime, uuid.UUID] | None
) -> list[Book]:
    """Newest first, keyset-paginated on (create_time, book_id) descending."""
    if after is None:
        rows = conn.execute(
            f"""SELECT {_BOOK_COLUMNS} FROM books WHERE status = 'ready'
                ORDER BY create_time DESC, book_id DESC LIMIT %s""",
            (limit,),
        ).fetchall()
    else:
        rows = conn.execute(
            f"""SELECT {_BOOK_COLUMNS} FROM books WHERE status = 'ready'
                  AND (create_time, book_id) < (%s, %s)
                ORDER BY create_time DESC, book_id DESC LIMIT %s""",
            (after[0], after[1], limit),
        ).fetchall()
    return [_book(row) for row in rows]


# --- loading and deleting a book -----------------------------------------------------------------


def partition_names(book_id: uuid.UUID) -> tuple[str, str]:
    """(structure_nodes partition, content_atoms partition) of a book."""
    return f"structure_nodes_{book_id.hex}", f"content_atoms_{book_id.hex}"


@dataclass(frozen=True)
class NewBook:
    book_id: uuid.UUID
    title: str
    authors: list[str]
    subject: str
    grade_level: str
    page_count: int
    content_sha256: str
    embedding_model: str
    embedding_dimension: int


def insert_loading_book(conn: Conn, book: NewBook) -> bool:
    """Insert the book row as 'loading'; False when the book_id exists (waits for a concurrent loader).

    A duplicate content_sha256 raises psycopg.errors.UniqueViolation.
    """
    row = conn.execute(
        """INSERT INTO books (book_id, title, authors, subject, grade_level, page_count, content_sha256,
                              embedding_model, embedding_dimension, status)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'loading')
           ON CONFLICT (book_id) DO NOTHING
           RETURNING book_id""",
        (book.book_id, book.title, book.authors, book.subject, book.grade_level, book.page_count,
         book.content_sha256, book.embedding_model, book.embedding_dimension),
    ).fetchone()
    return row is not None


def book_status(conn: Conn, book_id: uuid.UUID) -> str | None:
    row = conn.execute("SELECT status FROM books WHERE book_id = %s", (book_id,)).fetchone()
    return str(row[0]) if row else None


def book_id_by_sha256(conn: Conn, content_sha256: str) -> uuid.UUID | None:
    row = conn.execute("SELECT book_id FROM books WHERE content_sha256 = %s", (content_sha256,)).fetchone()
    return row[0] if row else None


def create_standalone_partitions(conn: Conn, book_id: uuid.UUID) -> None:
    nodes_table, atoms_table = partition_names(book_id)
    for table, parent in ((nodes_table, "structure_nodes"), (atoms_table, "content_atoms")):
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS)"
            ).format(sql.Identifier(table), sql.Identifier(parent))
        )


@dataclass(frozen=True)
class NodeRow:
    node_id: uuid.UUID
    parent_node_id: uuid.UUID | None
    preorder: int
    subtree_end: int
    level: int
    ordinal: int
    title: str
    first_page: int
    last_page: int
    path_titles: list[str]


@dataclass(frozen=True)
class AtomRow:
    atom_id: uuid.UUID
    node_id: uuid.UUID
    node_preorder: int
    ordinal: int
    page_number: int
    text: str


def copy_nodes(conn: Conn, book_id: uuid.UUID, nodes: Iterable[NodeRow]) -> None:
    nodes_table, _ = partition_names(book_id)
    statement = sql.SQL(
        """COPY {} (book_id, node_id, parent_node_id, preorder, subtree_end, level, ordinal, title,
                    first_page, last_page, path_titles) FROM STDIN WITH (FORMAT BINARY)"""
    ).format(sql.Identifier(nodes_table))
    with conn.cursor().copy(statement) as copy:
        copy.set_types(["uuid", "uuid", "uuid", "int4", "int4", "int4", "int4", "text", "int4", "int4", "text[]"])
        for node in nodes:
            copy.write_row((
                book_id, node.node_id, node.parent_node_id, node.preorder, node.subtree_end, node.level,
                node.ordinal, node.title, node.first_page, node.last_page, node.path_titles,
            ))


def copy_atoms(
    conn: Conn, book_id: uuid.UUID, atoms: Sequence[AtomRow], embeddings: npt.NDArray[numpy.float32]
) -> None:
    """Binary COPY, vectors included (pgvector's binary dumper: no text formatting of floats)."""
    register_vector(conn)
    _, atoms_table = partition_names(book_id)
    statement = sql.SQL(
        """COPY {} (book_id, atom_id, node_id, node_preorder, ordinal, page_number, text, embedding)
           FROM STDIN WITH (FORMAT BINARY)"""
    ).format(sql.Identifier(atoms_table))
    with conn.cursor().copy(statement) as copy:
        copy.set_types(["uuid", "uuid", "uuid", "int4", "int4", "int4", "text", "vector"])
        for atom, vector in zip(atoms, embeddings, strict=True):
            copy.write_row((
                book_id, atom.atom_id, atom.node_id, atom.node_preorder, atom.ordinal, atom.page_number,
                atom.text, vector,
            ))


def index_and_attach_partitions(conn: Conn, book_id: uuid.UUID, dimension: int) -> None:
    """HNSW index on the book's vectors (cast to the book's dimension), then attach both partitions.

    Attaching builds the parent's other indexes (primary keys, GIN, node range) on the new tables.
    """
    nodes_table, atoms_table = partition_names(book_id)
    for table in (nodes_table, atoms_table):
        # Fresh statistics, so the planner knows the book's size right away (not at autovacuum's leisure).
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
    conn.execute(
        sql.SQL("CREATE INDEX {} ON {} USING hnsw ((embedding::vector({})) vector_cosine_ops)").format(
            sql.Identifier(f"{atoms_table}_hnsw"), sql.Identifier(atoms_table), sql.Literal(dimension)
        )
    )
    for table, parent in ((nodes_table, "structure_nodes"), (atoms_table, "content_atoms")):
        conn.execute(
            sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES IN ({})").format(
                sql.Identifier(parent), sql.Identifier(table), sql.Literal(str(book_id))
            )
        )


def mark_book_ready(conn: Conn, book_id: uuid.UUID, node_count: int, atom_count: int) -> None:
    _, atoms_table = partition_names(book_id)
    conn.execute(
        sql.SQL(
            """UPDATE books SET status = 'ready', node_count = %s, atom_count = %s,
                 avg_atom_lexemes = coalesce((SELECT avg(length(tsv)) FROM {}), 0)
               WHERE book_id = %s"""
        ).format(sql.Identifier(atoms_table)),
        (node_count, atom_count, book_id),
    )


def delete_book(conn: Conn, book_id: uuid.UUID) -> bool:
    """Drop the book's partitions and its row; False when there was no such book."""
    row = conn.execute("DELETE FROM books WHERE book_id = %s RETURNING book_id", (book_id,)).fetchone()
    if row is None:
        return False
    for table in partition_names(book_id):
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
    return True


# --- structure and atoms -------------------------------------------------------------------------


def outline(conn: Conn, book_id: uuid.UUID) -> list[Node]:
    rows = conn.execute(
        """SELECT node_id, parent_node_id, level, ordinal, title, first_page, last_page, preorder, subtree_end
           FROM structure_nodes WHERE book_id = %s ORDER BY preorder""",
        (book_id,),
    ).fetchall()
    return [Node(*row) for row in rows]


def get_node(conn: Conn, book_ids: Sequence[uuid.UUID], node_id: uuid.UUID) -> Subtree | None:
    row = conn.execute(
        "SELECT book_id, preorder, subtree_end FROM structure_nodes WHERE book_id = ANY(%s) AND node_id = %s",
        (list(book_ids), node_id),
    ).fetchone()
    return Subtree(book_id=row[0], first=row[1], last=row[2]) if row else None


_ATOM_SELECT = """SELECT a.atom_id, a.book_id, a.node_id, a.text, a.page_number, a.ordinal, n.path_titles
    FROM content_atoms a
    JOIN structure_nodes n ON n.book_id = a.book_id AND n.node_id = a.node_id"""


def _atom(row: Sequence[Any]) -> Atom:
    return Atom(atom_id=row[0], book_id=row[1], node_id=row[2], text=row[3], page_number=row[4],
                ordinal=row[5], node_path=list(row[6]))


def get_atom(conn: Conn, book_id: uuid.UUID, atom_id: uuid.UUID) -> Atom | None:
    row = conn.execute(
        f"{_ATOM_SELECT} WHERE a.book_id = %s AND n.book_id = %s AND a.atom_id = %s", (book_id, book_id, atom_id)
    ).fetchone()
    return _atom(row) if row else None


def atoms_by_keys(conn: Conn, keys: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> dict[tuple[uuid.UUID, uuid.UUID], Atom]:
    if not keys:
        return {}
    book_ids = sorted({book_id for book_id, _ in keys})
    rows = conn.execute(
        f"""{_ATOM_SELECT}
            WHERE a.book_id = ANY(%s) AND n.book_id = ANY(%s)
              AND (a.book_id, a.atom_id) IN (SELECT * FROM unnest(%s::uuid[], %s::uuid[]))""",
        (book_ids, book_ids, [k[0] for k in keys], [k[1] for k in keys]),
    ).fetchall()
    return {(row[1], row[0]): _atom(row) for row in rows}


# --- retrieval -----------------------------------------------------------------------------------

Candidate = tuple[uuid.UUID, uuid.UUID, float]  # (book_id, atom_id, score: higher is better)

HNSW_EF_SEARCH_MIN = 128


def vector_candidates(
    conn: Conn,
    book_ids: Sequence[uuid.UUID],
    dimension: int,
    vector: npt.NDArray[numpy.float32],
    limit: int,
    subtree: Subtree | None,
) -> list[Candidate]:
    """Nearest atoms by cosine distance; score = cosine similarity."""
    if subtree is not None:
        # Exact scan of one subtree: `embedding <=> q` (no cast) deliberately does not match the HNSW
        # expression index, so the planner reads the subtree's atoms (a node range index scan) and
        # sorts them, which is complete however small the subtree is.
        rows = conn.execute(
            """SELECT book_id, atom_id, 1 - (embedding <=> %s) AS similarity FROM content_atoms
               WHERE book_id = %s AND node_preorder BETWEEN %s AND %s
               ORDER BY embedding <=> %s, atom_id LIMIT %s""",
            (vector, subtree.book_id, subtree.first, subtree.last, vector, limit),
        ).fetchall()
        return [(row[0], row[1], float(row[2])) for row in rows]
    # ef_search bounds how many neighbours an HNSW scan can return; keep it above the limit. Its floor
    # sets recall: on 1,000-atom partitions of hashing vectors, recall@10 against exact search was
    # 0.90-0.92 at 64, 0.96 at 100 and 0.997 at 200 (`make bench`, docs/benchmarks.md); 128 keeps it
    # above 0.95 for about 1 ms more per 10 books searched.
    conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(max(HNSW_EF_SEARCH_MIN, 2 * limit)),))
    # One branch per book, each pruned at plan time to that book's partition and its HNSW index.
    branch = sql.SQL(
        """(SELECT book_id, atom_id, embedding::vector({dim}) <=> %s AS distance FROM content_atoms
            WHERE book_id = %s ORDER BY embedding::vector({dim}) <=> %s LIMIT %s)"""
    ).format(dim=sql.Literal(dimension))
    statement = sql.SQL("SELECT * FROM ({}) AS hits ORDER BY distance, atom_id LIMIT %s").format(
        sql.SQL(" UNION ALL ").join([branch] * len(book_ids))
    )
    params: list[Any] = []
    for book_id in book_ids:
        params += [vector, book_id, vector, limit]
    params.append(limit)
    rows = conn.execute(statement, params).fetchall()
    return [(row[0], row[1], 1.0 - float(row[2])) for row in rows]


def query_lexemes(conn: Conn, text: str) -> list[str]:
    row = conn.execute("SELECT tsvector_to_array(to_tsvector('english', %s))", (text,)).fetchone()
    return list(row[0]) if row and row[0] else []


def _tsquery_literal(lexemes: Sequence[str]) -> str:
    """OR of already-normalised lexemes, quoted for tsquery input (no re-normalisation)."""
    quoted = ("'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'" for lexeme in lexemes)
    return " | ".join(quoted)


def bm25_candidates(
    conn: Conn,
    book_ids: Sequence[uuid.UUID],
    lexemes: Sequence[str],
    limit: int,
    subtree: Subtree | None,
    *,
    k1: float = 1.2,
    b: float = 0.75,
) -> list[Candidate]:
    """Okapi BM25 over the searched books, computed in SQL from the atoms' tsvectors.

    Candidates are the atoms matching any query lexeme (GIN index); their tsvectors give term
    frequencies, and the candidate set itself gives each term's document frequency. Document length
    is the number of distinct lexemes (what a tsvector knows cheaply), normalised by the book's mean.
    """
    if not lexemes:
        return []
    subtree_filter = sql.SQL("")
    params: dict[str, Any] = {
        "books": list(book_ids), "tsquery": _tsquery_literal(lexemes), "lexemes": list(lexemes),
        "k1": k1, "b": b, "limit": limit,
    }
    if subtree is not None:
        subtree_filter = sql.SQL(
            "WHERE p.book_id = %(sub_book)s AND p.node_preorder BETWEEN %(sub_first)s AND %(sub_last)s"
        )
        params.update(sub_book=subtree.book_id, sub_first=subtree.first, sub_last=subtree.last)
    statement = sql.SQL(
        """WITH corpus AS (
               SELECT sum(atom_count)::float8 AS n,
                      coalesce(sum(avg_atom_lexemes * atom_count) / nullif(sum(atom_count), 0), 1) AS avgdl
               FROM books WHERE book_id = ANY(%(books)s)
           ), postings AS (
               SELECT a.book_id, a.atom_id, a.node_preorder, length(a.tsv)::float8 AS dl, u.lexeme,
                      coalesce(array_length(u.positions, 1), 1)::float8 AS tf
               FROM content_atoms a CROSS JOIN LATERAL unnest(a.tsv) AS u(lexeme, positions, weights)
               WHERE a.book_id = ANY(%(books)s) AND a.tsv @@ %(tsquery)s::tsquery
                 AND u.lexeme = ANY(%(lexemes)s)
           ), document_frequency AS (
               SELECT lexeme, count(*)::float8 AS df FROM postings GROUP BY lexeme
           )
           SELECT p.book_id, p.atom_id,
                  sum(ln(1 + (c.n - d.df + 0.5) / (d.df + 0.5))
                      * p.tf * (%(k1)s + 1) / (p.tf + %(k1)s * (1 - %(b)s + %(b)s * p.dl / c.avgdl))) AS score
           FROM postings p JOIN document_frequency d USING (lexeme) CROSS JOIN corpus c
           {subtree_filter}
           GROUP BY p.book_id, p.atom_id
           ORDER BY score DESC, p.atom_id
           LIMIT %(limit)s"""
    ).format(subtree_filter=subtree_filter)
    rows = conn.execute(statement, params).fetchall()
    return [(row[0], row[1], float(row[2])) for row in rows]


# --- pedagogy strategies -------------------------------------------------------------------------

_STRATEGY_COLUMNS = "strategy_id, owner_id, name, description, instructions, tags, create_time, update_time"


def _strategy(row: Sequence[Any]) -> Strategy:
    return Strategy(strategy_id=row[0], owner_id=row[1], name=row[2], description=row[3],
                    instructions=row[4], tags=list(row[5]), create_time=row[6], update_time=row[7])


def get_visible_strategy(conn: Conn, user_id: str, strategy_id: uuid.UUID) -> Strategy | None:
    row = conn.execute(
        f"""SELECT {_STRATEGY_COLUMNS} FROM pedagogy_strategies
            WHERE strategy_id = %s AND (owner_id IS NULL OR owner_id = %s)""",
        (strategy_id, user_id),
    ).fetchone()
    return _strategy(row) if row else None


def list_visible_strategies(
    conn: Conn, user_id: str, scope: Scope, limit: int, after: tuple[str, uuid.UUID] | None
) -> list[Strategy]:
    """Ordered by (name, strategy_id), keyset-paginated."""
    conditions = {
        Scope.ANY: "(owner_id IS NULL OR owner_id = %(user)s)",
        Scope.GLOBAL: "owner_id IS NULL",
        Scope.PRIVATE: "owner_id = %(user)s",
    }[scope]
    params: dict[str, Any] = {"user": user_id, "limit": limit}
    keyset = ""
    if after is not None:
        keyset = "AND (name, strategy_id) > (%(after_name)s, %(after_id)s)"
        params.update(after_name=after[0], after_id=after[1])
    rows = conn.execute(
        f"""SELECT {_STRATEGY_COLUMNS} FROM pedagogy_strategies WHERE {conditions} {keyset}
            ORDER BY name, strategy_id LIMIT %(limit)s""",
        params,
    ).fetchall()
    return [_strategy(row) for row in rows]


def insert_strategy(conn: Conn, strategy_id: uuid.UUID, owner_id: str | None, fields: StrategyFields) -> Strategy:
    row = conn.execute(
        f"""INSERT INTO pedagogy_strategies (strategy_id, owner_id, name, description, instructions, tags)
            VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_STRATEGY_COLUMNS}""",
        (strategy_id, owner_id, fields.name, fields.description, fields.instructions, fields.tags),
    ).fetchone()
    assert row is not None
    bump_list_version(conn, owner_id)
    return _strategy(row)


def lock_strategy(conn: Conn, strategy_id: uuid.UUID) -> Strategy | None:
    row = conn.execute(
        f"SELECT {_STRATEGY_COLUMNS} FROM pedagogy_strategies WHERE strategy_id = %s FOR UPDATE", (strategy_id,)
    ).fetchone()
    return _strategy(row) if row else None


def update_strategy(conn: Conn, strategy_id: uuid.UUID, changes: dict[str, Any]) -> Strategy:
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column)) for column in changes
    )
    row = conn.execute(
        sql.SQL(
            "UPDATE pedagogy_strategies SET {}, update_time = now() WHERE strategy_id = %(strategy_id)s RETURNING "
        ).format(assignments) + sql.SQL(_STRATEGY_COLUMNS),
        {**changes, "strategy_id": strategy_id},
    ).fetchone()
    assert row is not None
    strategy = _strategy(row)
    bump_list_version(conn, strategy.owner_id)
    return strategy


def delete_strategy(conn: Conn, strategy: Strategy) -> None:
    conn.execute("DELETE FROM pedagogy_strategies WHERE strategy_id = %s", (strategy.strategy_id,))
    bump_list_version(conn, strategy.owner_id)


def bump_list_version(conn: Conn, owner_id: str | None) -> None:
    conn.execute(
        """INSERT INTO pedagogy_list_versions (owner_key, version) VALUES (%s, 1)
           ON CONFLICT (owner_key) DO UPDATE SET version = pedagogy_list_versions.version + 1""",
        (owner_id or "",),
    )


def list_versions(conn: Conn, user_id: str) -> tuple[int, int]:
    """(global list version, this user's list version)."""
    rows = dict(conn.execute(
        "SELECT owner_key, version FROM pedagogy_list_versions WHERE owner_key IN ('', %s)", (user_id,)
    ).fetchall())
    return int(rows.get("", 0)), int(rows.get(user_id, 0))
