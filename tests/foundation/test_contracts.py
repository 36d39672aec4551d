"""Contracts: buf lint is clean and gen/ is exactly what protos/ produce."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools.generate_protos import differences, generate

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def fresh_gen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen")
    os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"  # protoc plugins live there
    generate(out)
    return out


def test_buf_lint_is_clean() -> None:
    result = subprocess.run([str(VENV_BIN / "buf"), "lint"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_code_is_fresh(fresh_gen: Path) -> None:
    stale = differences(REPO / "gen", fresh_gen)
    assert stale == [], f"gen/ is stale; run `make gen`. Differing files: {stale}"


def test_freshness_check_catches_a_hand_edited_file(fresh_gen: Path, tmp_path: Path) -> None:
    edited = tmp_path / "gen"
    shutil.copytree(REPO / "gen", edited, ignore=shutil.ignore_patterns("__pycache__"))
    target = edited / "teaching" / "user" / "v1" / "user_service_pb2.pyi"
    target.write_text(target.read_text() + "\n# hand edit\n")
    assert differences(edited, fresh_gen) == ["teaching/user/v1/user_service_pb2.pyi"]


def test_descriptor_set_holds_every_service_and_http_rules(fresh_gen: Path) -> None:
    from google.api import annotations_pb2
    from google.protobuf import descriptor_pb2

    descriptors = descriptor_pb2.FileDescriptorSet.FromString((REPO / "gen" / "descriptors.binpb").read_bytes())
    services = {f"{f.package}.{s.name}": s for f in descriptors.file for s in f.service}
    assert {"teaching.content.v1.ContentService", "teaching.user.v1.UserService",
            "teaching.ingest.v1.IngestService"} <= services.keys()
    search = next(m for m in services["teaching.content.v1.ContentService"].method if m.name == "SearchContent")
    assert search.options.Extensions[annotations_pb2.http].post == "/v1/content:search"
