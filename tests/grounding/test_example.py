"""The example backend (examples/grounded_quiz.py) against the real stack, through Envoy's gRPC front."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from devstack import Stack
from teaching.user.v1 import user_service_pb2 as user_pb
from tests.envoy.conftest import REPO

SECTION = "Lists are mutable"


def test_the_example_drafts_saves_revises_and_resolves_a_grounded_quiz(
    stack: Stack, thinkpython_book_id: str, make_token: Callable[..., str], user_stub: Any
) -> None:
    token = make_token("example-teacher", "teacher")
    finished = subprocess.run(
        [sys.executable, str(REPO / "examples" / "grounded_quiz.py"), "--address", stack.address("envoy"),
         "--token", token, "--book", thinkpython_book_id, "--section", SECTION],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert finished.returncode == 0, finished.stderr
    summary: dict[str, Any] = json.loads(finished.stdout)

    assert summary["book"]["book_id"] == thinkpython_book_id
    assert summary["section"]["path"] == ["Lists", SECTION]
    assert summary["revision"] == 2 and summary["reference_check"] == "REFERENCE_CHECK_RESOLVED"
    assert summary["earlier_revisions"] == [{"revision": 1, "title": f"Quiz: {SECTION}"}]
    questions, citations = summary["questions"], {c["atom_id"]: c for c in summary["citations"]}
    assert len(questions) >= 2 and summary["unresolved_citations"] == []
    assert set(citations) == {q["atom_id"] for q in questions} <= set(summary["atoms_read"])
    for question in questions:
        citation = citations[question["atom_id"]]
        assert citation["node_path"] == ["Lists", SECTION]
        assert question["answer"] in question["choices"] and question["prompt"].count("_____") == 1
        # Extractive: the blank filled in is a sentence of the atom it cites.
        filled = question["prompt"].replace("_____", question["answer"]).lower()
        assert filled in " ".join(citation["text"].split()).lower()

    saved = user_stub.GetArtifact(user_pb.GetArtifactRequest(artifact_id=summary["artifact_id"]),
                                  metadata=[("authorization", f"Bearer {token}")]).artifact
    assert [r.atom_id for r in saved.atom_references] == list(citations)
    assert [q.prompt for q in saved.quiz.questions] == [q["prompt"] for q in questions]
