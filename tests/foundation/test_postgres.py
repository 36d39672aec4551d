"""The embedded Postgres: the major version we ship, pgvector 0.8's iterative scans, old clusters refused."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from devstack import Stack, StackPorts, postgres
from devstack.stack import StackError


def test_the_bundled_server_is_the_major_version_the_stack_and_compose_expect() -> None:
    output = subprocess.run([str(postgres.bin_path("postgres")), "--version"], capture_output=True, text=True,
                            check=True).stdout
    assert output.split()[2].split(".")[0] == str(postgres.MAJOR)


def test_pgvector_is_0_8_with_iterative_index_scans(stack: Stack) -> None:
    with psycopg.connect(stack.settings.content_conninfo()) as conn:
        row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        assert row is not None
        major, minor = (int(part) for part in row[0].split(".")[:2])
        assert (major, minor) >= (0, 8)
        conn.execute("SET hnsw.iterative_scan = relaxed_order")
        setting = conn.execute("SHOW hnsw.iterative_scan").fetchone()
        assert setting == ("relaxed_order",)


def test_a_filtered_hnsw_search_returns_a_full_top_k_with_iterative_scans(stack: Stack) -> None:
    """Without iterative scans, a filter matching 1 row in 50 leaves an ef_search-sized scan nearly empty."""
    with psycopg.connect(stack.settings.content_conninfo()) as conn, conn.transaction():
        conn.execute("CREATE TEMP TABLE points (id int, tag int, v vector(2)) ON COMMIT DROP")
        conn.execute("""INSERT INTO points SELECT i, i % 50, ARRAY[cos(i), sin(i)]::vector(2)
                        FROM generate_series(1, 5000) AS i""")
        conn.execute("CREATE INDEX ON points USING hnsw (v vector_cosine_ops)")
        conn.execute("ANALYZE points")
        conn.execute("SET LOCAL enable_seqscan = off")
        conn.execute("SET LOCAL hnsw.ef_search = 20")
        query = "SELECT id FROM points WHERE tag = 7 ORDER BY v <=> '[1,0]' LIMIT 20"
        plan = "\n".join(row[0] for row in conn.execute(f"EXPLAIN {query}"))
        assert "points_v_idx" in plan
        assert len(conn.execute(query).fetchall()) < 20  # the problem iterative scans solve
        conn.execute("SET LOCAL hnsw.iterative_scan = strict_order")
        assert len(conn.execute(query).fetchall()) == 20


@pytest.fixture
def data_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="teaching-pgmajor-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_data_folder_from_an_older_major_is_refused_with_the_way_to_migrate(data_dir: Path) -> None:
    old = data_dir / "postgres"
    old.mkdir()
    (old / "PG_VERSION").write_text("16\n")
    (old / "base").mkdir()
    before = sorted(p.name for p in old.iterdir())
    stack = Stack(data_dir, StackPorts.free(), with_envoy=False, durable=False)
    try:
        with pytest.raises(StackError) as refused:
            stack.start_process("postgres")
    finally:
        stack.stop()
    message = str(refused.value)
    assert "Postgres 16" in message and f"Postgres {postgres.MAJOR}" in message
    assert "pg_dumpall" in message and "-f library.sql" in message  # how to migrate: dump...
    assert "psql" in message  # ...and restore
    # Nothing was initialised or changed in the old folder.
    assert sorted(p.name for p in old.iterdir()) == before
    assert (old / "PG_VERSION").read_text() == "16\n"
