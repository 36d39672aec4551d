"""Postgres 16 + pgvector from the pgserver wheel's binaries, run as our own child process.

We use pgserver's binaries but supervise `postgres` ourselves so it listens on TCP loopback (like
the containers) and stops when the stack stops. Postgres refuses to run as root, so as root it
runs as an unprivileged system user, as pgserver itself does.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import warnings
from collections.abc import Sequence
from pathlib import Path

# pgserver asks platformdirs for a runtime dir we never use; without XDG_RUNTIME_DIR it warns.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
from pgserver._commands import POSTGRES_BIN_PATH  # noqa: E402

SYSTEM_USER = "pgserver"
SUPERUSER = "postgres"


def bin_path(tool: str) -> Path:
    return Path(POSTGRES_BIN_PATH) / tool


def _run_as() -> str | None:
    """The system user postgres runs as: ourselves, or SYSTEM_USER when we are root."""
    if os.geteuid() != 0:
        return None
    from pgserver.utils import ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    return SYSTEM_USER


def prepare_data_dir(pgdata: Path, *, must_exist: bool = False) -> str | None:
    """initdb on first use; returns the user postgres must run as.

    With must_exist (a restart), a missing cluster is an error: initialising a fresh one would
    silently replace every acknowledged write.
    """
    if must_exist and not (pgdata / "PG_VERSION").exists():
        raise RuntimeError(f"the Postgres data folder {pgdata} vanished; refusing to initialise an empty one")
    run_as = _run_as()
    pgdata.mkdir(parents=True, exist_ok=True)
    if run_as is not None:
        import stat

        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions

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
        "shared_buffers=256MB",
        "maintenance_work_mem=256MB",
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
