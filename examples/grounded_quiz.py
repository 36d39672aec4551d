"""An example backend: a quiz grounded in one section of a textbook, through the generated gRPC stubs.

    .venv/bin/python examples/grounded_quiz.py --address 127.0.0.1:8080 \\
        --token "$(make -s token USER=t1 ROLE=teacher)" --book "Think Python" --section "Lists are mutable"

It picks a book and a section, reads the section in reading order, drafts cloze questions from its
sentences (deterministic and extractive: no model), saves the quiz citing the atoms it used, updates
it, lists its revisions and resolves its citations. It prints a JSON summary of what it did.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.field_mask_pb2 import FieldMask

from teaching.content.v1 import content_service_pb2 as content
from teaching.content.v1 import content_service_pb2_grpc
from teaching.user.v1 import user_service_pb2 as user
from teaching.user.v1 import user_service_pb2_grpc

QUESTIONS = 5
BLANK = "_____"
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
WORD = re.compile(r"[A-Za-z][a-z]{4,}")
# Long words that make poor blanks.
STOPWORDS = frozenset({
    "about", "after", "again", "another", "because", "before", "being", "between", "called", "could", "doing",
    "during", "every", "example", "first", "further", "having", "might", "other", "should", "something", "their",
    "there", "these", "those", "through", "under", "until", "using", "value", "values", "where", "which", "while",
    "would",
})


@dataclass(frozen=True)
class Cloze:
    question: user.QuizQuestion
    source: content.ContentAtom


class Client:
    """The two services behind one address (Envoy routes gRPC by service), with the caller's token."""

    def __init__(self, channel: grpc.Channel, token: str) -> None:
        self.content = content_service_pb2_grpc.ContentServiceStub(channel)
        self.user = user_service_pb2_grpc.UserServiceStub(channel)
        self.metadata = (("authorization", f"Bearer {token}"),)


def pick_book(client: Client, wanted: str) -> content.Book:
    """The newest book whose id is `wanted` or whose title contains it."""
    token = ""
    while True:
        page = client.content.ListBooks(content.ListBooksRequest(page_token=token), metadata=client.metadata)
        for book in page.books:
            if wanted in (book.book_id, "") or wanted.lower() in book.title.lower():
                return book
        token = page.next_page_token
        if not token:
            raise SystemExit(f"no book {wanted!r} in the library")


def pick_section(client: Client, book: content.Book, title: str) -> content.GetStructureNodeResponse:
    outline = client.content.GetBookOutline(content.GetBookOutlineRequest(book_id=book.book_id),
                                            metadata=client.metadata)
    node = next((n for n in outline.nodes if n.title == title), None)
    if node is None:
        raise SystemExit(f"{book.title!r} has no section {title!r}")
    lookup: content.GetStructureNodeResponse = client.content.GetStructureNode(
        content.GetStructureNodeRequest(book_id=book.book_id, node_id=node.node_id), metadata=client.metadata)
    return lookup


def read_section(client: Client, book_id: str, node_id: str) -> list[content.ContentAtom]:
    """The section's atoms in reading order, page by page (a chapter is never loaded in one call)."""
    atoms: list[content.ContentAtom] = []
    token = ""
    while True:
        page = client.content.ListContentAtoms(content.ListContentAtomsRequest(
            book_id=book_id, node_id=node_id, page_size=20, page_token=token), metadata=client.metadata)
        atoms.extend(page.atoms)
        token = page.next_page_token
        if not token:
            return atoms


def keywords(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text) if w.lower() not in STOPWORDS]


def draft_questions(atoms: list[content.ContentAtom]) -> list[Cloze]:
    """Cloze questions from the section's sentences in reading order: in each, the keyword most frequent
    in the section is blanked out; the section's other frequent keywords are the wrong choices."""
    frequency = Counter(word for atom in atoms for word in keywords(atom.text))
    common = [word for word, _ in frequency.most_common(20)]
    drafted: list[Cloze] = []
    for atom in atoms:
        prose = atom.text.removeprefix(atom.node_path[-1])  # a section's first atom starts with its heading
        for sentence in SENTENCE_END.split(" ".join(prose.split())):
            candidates = keywords(sentence)
            if not 8 <= len(sentence.split()) <= 40 or not candidates or ">>>" in sentence:
                continue
            answer = max(candidates, key=lambda word: (frequency[word], len(word)))
            blanked = re.sub(rf"\b{answer}\b", BLANK, sentence, count=1, flags=re.IGNORECASE)
            choices = sorted([answer, *[word for word in common if word != answer][:3]])
            drafted.append(Cloze(user.QuizQuestion(
                prompt=blanked, choices=choices, correct_choice_index=choices.index(answer), answer=answer,
                explanation=f"{' > '.join(atom.node_path)}, page {atom.page_number}",
            ), atom))
            if len(drafted) == QUESTIONS:
                return drafted
    return drafted


def citations(questions: list[Cloze]) -> list[user.AtomReference]:
    """The atoms the questions came from, each once, in reading order."""
    atoms = {q.source.atom_id: q.source for q in questions}
    return [user.AtomReference(book_id=a.book_id, atom_id=a.atom_id) for a in atoms.values()]


def quiz_fields(title: str, book_id: str, questions: list[Cloze], strategy_id: str) -> user.ClassArtifact:
    return user.ClassArtifact(
        kind=user.ARTIFACT_KIND_QUIZ, title=title,
        quiz=user.Quiz(questions=[q.question for q in questions]), book_ids=[book_id],
        atom_references=citations(questions),
        pedagogy_strategy_id=strategy_id,
    )


def run(client: Client, book_title: str, section_title: str) -> dict[str, Any]:
    book = pick_book(client, book_title)
    section = pick_section(client, book, section_title)
    atoms = read_section(client, book.book_id, section.node.node_id)
    questions = draft_questions(atoms)
    if len(questions) < 2:
        raise SystemExit(f"section {section_title!r} has too little prose for a quiz")
    strategy = client.content.ListPedagogyStrategies(content.ListPedagogyStrategiesRequest(
        scope=content.PEDAGOGY_SCOPE_GLOBAL, page_size=1), metadata=client.metadata).strategies[0]

    title = f"Quiz: {section.node.title}"
    saved = client.user.CreateArtifact(user.CreateArtifactRequest(
        artifact=quiz_fields(title, book.book_id, questions, strategy.strategy_id)), metadata=client.metadata).artifact
    # The teacher keeps the first questions only: the quiz body and its citations change together.
    kept = questions[: len(questions) - 1]
    revised = quiz_fields(f"{title} (short)", book.book_id, kept, strategy.strategy_id)
    revised.artifact_id, revised.etag = saved.artifact_id, saved.etag
    mask = FieldMask(paths=["title", "quiz", "atom_references"])
    updated = client.user.UpdateArtifact(user.UpdateArtifactRequest(artifact=revised, update_mask=mask),
                                         metadata=client.metadata).artifact
    revisions = client.user.ListArtifactRevisions(user.ListArtifactRevisionsRequest(
        artifact_id=updated.artifact_id), metadata=client.metadata).revisions

    cited = client.content.BatchGetContentAtoms(content.BatchGetContentAtomsRequest(requests=[
        content.GetContentAtomRequest(book_id=r.book_id, atom_id=r.atom_id) for r in updated.atom_references
    ]), metadata=client.metadata)
    return {
        "book": {"book_id": book.book_id, "title": book.title},
        "section": {"node_id": section.node.node_id,
                    "path": [n.title for n in section.ancestors] + [section.node.title]},
        "atoms_read": [a.atom_id for a in atoms],
        "artifact_id": updated.artifact_id,
        "revision": updated.revision,
        # UserService checked the citations with ContentService when they were written.
        "reference_check": user.ReferenceCheck.Name(updated.reference_check),
        "earlier_revisions": [{"revision": r.revision, "title": r.artifact.title} for r in revisions],
        "pedagogy_strategy": strategy.name,
        "questions": [
            {"prompt": q.question.prompt, "choices": list(q.question.choices), "answer": q.question.answer,
             "atom_id": q.source.atom_id}
            for q in kept
        ],
        "citations": [
            {"atom_id": a.atom_id, "page_number": a.page_number, "node_path": list(a.node_path), "text": a.text}
            for a in cited.atoms
        ],
        "unresolved_citations": [m.atom_id for m in cited.missing],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--address", default="127.0.0.1:8080", help="Envoy's front (or a gRPC server)")
    parser.add_argument("--token", required=True, help="a teacher's bearer token")
    parser.add_argument("--book", default="Think Python", help="the book's id, or part of its title")
    parser.add_argument("--section", default="Lists are mutable", help="the section's title")
    args = parser.parse_args(argv)
    with grpc.insecure_channel(args.address) as channel:
        summary = run(Client(channel, args.token), args.book, args.section)
    json.dump(summary, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
