"""The README's grounding flow, run as written (curl through Envoy) against the real stack."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

from devstack import Stack
from teaching.content.v1 import content_service_pb2 as pb
from tests.envoy.conftest import REPO

README_TOKEN = "$(make -s token USER=t1 ROLE=teacher)"


def readme_flow() -> str:
    """The shell block under the README's "Grounding a quiz" paragraph."""
    text = (REPO / "README.md").read_text()
    start = text.index("```sh\n", text.index("**Grounding a quiz")) + len("```sh\n")
    return text[start : text.index("```", start)]


def json_documents(output: str) -> list[Any]:
    decoder, documents, position = json.JSONDecoder(), [], 0
    while position < len(output):
        document, position = decoder.raw_decode(output, position)
        documents.append(document)
        while position < len(output) and output[position].isspace():
            position += 1
    return documents


def test_the_readme_grounding_flow_runs_as_written(
    stack: Stack, thinkpython_book_id: str, content_stub: Any, reader: list[tuple[str, str]],
    make_token: Callable[..., str],
) -> None:
    outline = content_stub.GetBookOutline(pb.GetBookOutlineRequest(book_id=thinkpython_book_id), metadata=reader)
    section = next(n for n in outline.nodes if n.title == "Lists are mutable")
    atom = content_stub.ListContentAtoms(pb.ListContentAtomsRequest(
        book_id=thinkpython_book_id, node_id=section.node_id, page_size=1), metadata=reader).atoms[0]
    flow = readme_flow()
    assert flow.count("curl ") == 5 and README_TOKEN in flow
    script = (flow.replace("BOOK_ID", thinkpython_book_id).replace("NODE_ID", section.node_id)
              .replace("ATOM_ID", atom.atom_id).replace(README_TOKEN, make_token("t1", "teacher"))
              .replace("localhost:8080", stack.address("envoy")).replace("curl ", "curl -sS --fail-with-body "))
    finished = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True,
                              timeout=60, check=False)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    node, page, window, artifact, citations = json_documents(finished.stdout)
    assert node["node"]["title"] == "Lists are mutable" and [n["title"] for n in node["ancestors"]] == ["Lists"]
    assert page["atoms"][0]["atomId"] == atom.atom_id
    assert window["atom"]["atomId"] == atom.atom_id and window["before"]
    assert artifact["artifact"]["atomReferences"] == [{"bookId": thinkpython_book_id, "atomId": atom.atom_id}]
    assert [a["atomId"] for a in citations["atoms"]] == [atom.atom_id] and not citations.get("missing")
