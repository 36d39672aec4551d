"""The `ta` admin command line as an admin uses it, against the real stack through the Envoy front:
thinkpython2 uploaded with progress bars and ingested, then found, listed and deleted."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from devstack import Stack

TA = Path(sys.executable).parent / "ta"


@pytest.fixture(scope="module")
def run_ta(stack: Stack, make_token: Callable[..., str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    env = {**os.environ, "TA_ADDRESS": stack.address("envoy"), "TA_TOKEN": make_token("ta-admin", "admin"),
           "DEVSTACK_DATA": str(stack.data_dir)}

    def run(*args: str, timeout: float = 600, **overrides: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(TA), *args], env={**env, **overrides}, capture_output=True, text=True,
                              timeout=timeout)

    return run


@pytest.fixture(scope="module")
def thinkpython(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """thinkpython2.pdf with a unique comment after %%EOF (readers ignore it), so this upload is a new
    book rather than a de-duplicated earlier one."""
    copy = tmp_path_factory.mktemp("ta") / "thinkpython2.pdf"
    shutil.copyfile(corpus / "thinkpython2.pdf", copy)
    with copy.open("ab") as handle:
        handle.write(f"\n% ta cli test {uuid.uuid4()}\n".encode())
    return copy


def test_ta_is_an_installed_console_script() -> None:
    assert TA.is_file() and os.access(TA, os.X_OK)
    result = subprocess.run([str(TA), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for command in ("upload", "watch", "cancel", "jobs", "books", "delete-book", "token"):
        assert command in result.stdout


def test_upload_ingests_thinkpython_with_progress_bars_then_list_and_delete(
    run_ta: Callable[..., subprocess.CompletedProcess[str]], thinkpython: Path
) -> None:
    title = f"Think Python via ta {uuid.uuid4().hex[:6]}"
    uploaded = run_ta("upload", str(thinkpython), "--title", title, "--author", "Allen B. Downey")
    assert uploaded.returncode == 0, uploaded.stderr
    # tqdm's bars (on stderr): every byte sent, then every page ingested.
    sent = re.findall(r"upload: 100%\|[^|]*\| (\S+)/(\S+) \[", uploaded.stderr)
    assert sent and sent[-1][0] == sent[-1][1], uploaded.stderr
    pages = re.findall(r"ingest: 100%\|[^|]*\| (\d+)/(\d+) \[", uploaded.stderr)
    assert pages and pages[-1][0] == pages[-1][1] and int(pages[-1][0]) > 200, uploaded.stderr
    job_id, book_id = re.search(r"job (\S+), book (\S+)", uploaded.stdout).groups()  # type: ignore[union-attr]
    assert re.search(rf"job {job_id}: succeeded; book {book_id}; \d+ passages", uploaded.stdout), uploaded.stdout

    books = run_ta("books")
    assert books.returncode == 0, books.stderr
    row = next(line for line in books.stdout.splitlines() if line.startswith(book_id))
    assert row.endswith(title)
    jobs = run_ta("jobs", "--state", "succeeded")
    assert any(line.startswith(job_id) and book_id in line for line in jobs.stdout.splitlines()), jobs.stdout
    watched = run_ta("watch", job_id)
    assert watched.returncode == 0 and f"job {job_id}: succeeded" in watched.stdout

    refused = run_ta("cancel", job_id)
    assert refused.returncode == 1
    assert refused.stderr.startswith("ta: FAILED_PRECONDITION:"), refused.stderr

    deleted = run_ta("delete-book", book_id)
    assert deleted.returncode == 0, deleted.stderr
    assert book_id not in run_ta("books").stdout


def test_a_token_from_ta_works_and_none_is_a_clear_error(
    run_ta: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    minted = run_ta("token", "--user", "ta-minted", "--role", "admin")
    assert minted.returncode == 0, minted.stderr
    assert run_ta("jobs", "--limit", "1", TA_TOKEN=minted.stdout.strip()).returncode == 0
    missing = run_ta("jobs", TA_TOKEN="")
    assert missing.returncode == 2 and "no token" in missing.stderr
    teacher = run_ta("token", "--user", "ta-teacher").stdout.strip()
    denied = run_ta("jobs", TA_TOKEN=teacher)
    assert denied.returncode == 1 and denied.stderr.startswith("ta: PERMISSION_DENIED:"), denied.stderr
