"""Retrieval quality on a real book (DESIGN.md §4): queries with known answers, hit@1 and hit@5.

Answers come from the book's own outline: a section title should find its section; a glossary
definition (without its term) should find that chapter's Glossary; an exercise's first sentence
should find that chapter's Exercises; a student's question worded unlike the book (bench/questions.py)
should find the section that answers it. A hit is the right chapter (level-1 node) or the right
section (level-2 node) among the first 1 or 5 results. Beside our three modes, a textbook BM25
(rank_bm25) over the same atoms, as the reference TEXT search should match or beat.
"""

from __future__ import annotations

import importlib.util
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import psycopg

from bench.harness import auth, channel
from bench.questions import STUDENT_QUESTIONS
from devstack import Stack
from teaching.content.v1 import content_service_pb2 as pb
from teaching.content.v1 import content_service_pb2_grpc

MODES = {"TEXT": pb.SEARCH_MODE_TEXT, "VECTOR": pb.SEARCH_MODE_VECTOR, "HYBRID": pb.SEARCH_MODE_HYBRID}
REFERENCE = "BM25 reference"
PER_KIND = 60
_DEFINITION = re.compile(r"^([a-z][a-z0-9 \-]{1,40}):\s+(\S.{24,})$", re.MULTILINE)
_EXERCISE = re.compile(r"Exercise\s+\d+\.\d+\.\s+(.{30,240}?[.?!])(?:\s|$)", re.DOTALL)


@dataclass(frozen=True)
class KnownAnswer:
    kind: str
    query: str
    chapter: uuid.UUID
    section: uuid.UUID


@dataclass(frozen=True)
class Outline:
    parent: dict[uuid.UUID, uuid.UUID | None]
    level: dict[uuid.UUID, int]
    title: dict[uuid.UUID, str]

    def ancestor(self, node_id: uuid.UUID, level: int) -> uuid.UUID | None:
        current: uuid.UUID | None = node_id
        while current is not None and self.level[current] > level:
            current = self.parent[current]
        return current if current is not None and self.level[current] == level else None


def _outline(conn: psycopg.Connection[Any], book_id: uuid.UUID) -> Outline:
    rows = conn.execute(
        """SELECT n.node_id, n.parent_node_id, n.level, n.title FROM structure_nodes n JOIN books USING (book_no)
           WHERE book_id = %s""", (book_id,)
    ).fetchall()
    return Outline({r[0]: r[1] for r in rows}, {r[0]: r[2] for r in rows}, {r[0]: r[3] for r in rows})


def known_answers(conninfo: str, book_id: uuid.UUID) -> tuple[Outline, list[KnownAnswer]]:
    with psycopg.connect(conninfo) as conn:
        outline = _outline(conn, book_id)
        atoms = conn.execute(
            "SELECT node_id, text FROM content_atoms JOIN books USING (book_no) WHERE book_id = %s ORDER BY ordinal",
            (book_id,)
        ).fetchall()
    sections = [n for n, lvl in outline.level.items() if lvl == 2]
    repeated = {t for t, c in Counter(outline.title[n] for n in sections).items() if c > 1}
    answers: list[KnownAnswer] = []
    for node in sorted(sections, key=lambda n: outline.title[n]):
        chapter = outline.ancestor(node, 1)
        # "Glossary", "Exercises", "Debugging" recur in every chapter: their titles have no single answer.
        if chapter is not None and outline.title[node] not in repeated and len(outline.title[node].split()) >= 2:
            answers.append(KnownAnswer("section title", outline.title[node], chapter, node))
    answers = answers[:PER_KIND]
    definitions: dict[str, KnownAnswer] = {}
    exercises: dict[str, KnownAnswer] = {}
    for node_id, text in atoms:
        section, chapter = outline.ancestor(node_id, 2), outline.ancestor(node_id, 1)
        if section is None or chapter is None:
            continue
        if outline.title[section] == "Glossary":
            for match in _DEFINITION.finditer(text):
                definition = match.group(2)
                definitions.setdefault(definition, KnownAnswer("glossary definition", definition, chapter, section))
        if outline.title[section] == "Exercises":
            for match in _EXERCISE.finditer(text):
                sentence = " ".join(match.group(1).split())
                exercises.setdefault(sentence, KnownAnswer("exercise sentence", sentence, chapter, section))
    # Spread the picks over the whole book rather than the first chapters only.
    for found in (list(definitions.values()), list(exercises.values())):
        step = max(1, len(found) // PER_KIND)
        answers.extend(found[::step][:PER_KIND])
    return outline, answers + student_questions(outline)


def student_questions(outline: Outline) -> list[KnownAnswer]:
    """bench/questions.py's questions, when the book is the one they were written for (all resolve)."""
    sections = {}
    for node, level in outline.level.items():
        chapter = outline.ancestor(node, 1)
        if level == 2 and chapter is not None:
            sections[(outline.title[chapter], outline.title[node])] = (chapter, node)
    found = [(question, sections.get((chapter, section))) for question, chapter, section in STUDENT_QUESTIONS]
    missing = [question for question, answer in found if answer is None]
    if len(missing) == len(found):
        return []  # another book
    if missing:
        raise ValueError(f"student questions whose section is not in the book: {missing}")
    return [KnownAnswer("student question", question, *answer) for question, answer in found if answer]


class ReferenceBm25:
    """A textbook Okapi BM25 over the same atoms: rank_bm25's BM25Okapi (its own idf, k1 1.2, b 0.75)
    on the atoms' text alone, tokenised like ours (Postgres' english configuration: Snowball stemming,
    stop words dropped). What TEXT search should match or beat."""

    def __init__(self, conninfo: str, book_id: uuid.UUID) -> None:
        from rank_bm25 import BM25Okapi

        with psycopg.connect(conninfo) as conn:
            rows = conn.execute(
                """SELECT a.node_id, array(SELECT u.lexeme FROM unnest(to_tsvector('english', a.text)) u,
                                                generate_series(1, cardinality(u.positions)))
                   FROM content_atoms a JOIN books b USING (book_no) WHERE b.book_id = %s ORDER BY a.ordinal""",
                (book_id,),
            ).fetchall()
        self._conninfo = conninfo
        self._nodes = [row[0] for row in rows]
        self._model = BM25Okapi([list(row[1]) for row in rows], k1=1.2, b=0.75)

    def top(self, queries: list[str], k: int) -> dict[str, list[uuid.UUID]]:
        """The nodes of each query's best k atoms."""
        with psycopg.connect(self._conninfo) as conn:
            tokens = {q: conn.execute("SELECT tsvector_to_array(to_tsvector('english', %s))", (q,)).fetchall()[0][0]
                      for q in queries}
        best = {}
        for query in queries:
            scores = self._model.get_scores(tokens[query])
            order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
            best[query] = [self._nodes[i] for i in order if scores[i] > 0]
        return best


def bench_quality(stack: Stack, book_id: str) -> dict[str, Any]:
    conninfo = stack.settings.content_conninfo()
    outline, answers = known_answers(conninfo, uuid.UUID(book_id))
    metadata = auth(stack, "bench-quality")
    kinds = sorted({a.kind for a in answers})
    table: dict[str, Any] = {"book_id": book_id, "queries": dict(Counter(a.kind for a in answers)), "results": []}
    found: dict[str, dict[str, list[uuid.UUID]]] = {}
    with channel(stack.address("content")) as content_channel:
        stub = content_service_pb2_grpc.ContentServiceStub(content_channel)
        for mode_name, mode in MODES.items():
            found[mode_name] = {
                answer.query: [uuid.UUID(r.node_id) for r in stub.SearchContent(
                    pb.SearchContentRequest(query=answer.query, book_ids=[book_id], top_k=5, mode=mode),
                    metadata=metadata, timeout=60,
                ).results]
                for answer in answers
            }
    if importlib.util.find_spec("rank_bm25") is not None:
        found[REFERENCE] = ReferenceBm25(conninfo, uuid.UUID(book_id)).top([a.query for a in answers], 5)
    for kind in [*kinds, "all"]:
        chosen = [a for a in answers if kind in ("all", a.kind)]
        for mode_name, nodes_of in found.items():
            hits = Counter[str]()
            for answer in chosen:
                nodes = nodes_of[answer.query]
                chapters = [outline.ancestor(n, 1) for n in nodes]
                sections = [outline.ancestor(n, 2) for n in nodes]
                hits["chapter@1"] += chapters[:1] == [answer.chapter]
                hits["chapter@5"] += answer.chapter in chapters
                hits["section@1"] += sections[:1] == [answer.section]
                hits["section@5"] += answer.section in sections
            count = max(1, len(chosen))
            table["results"].append({
                "kind": kind, "mode": mode_name, "queries": len(chosen),
                **{f"hit_{name.replace('@', '_at_')}": round(hits[name] / count, 3)
                   for name in ("chapter@1", "chapter@5", "section@1", "section@5")},
            })
    return table
