"""Versioned schema migrations per database, applied with yoyo-migrations.

Each service owns the SQL files in its `migrations/` folder. Services apply pending migrations at
start-up (yoyo takes a lock, so concurrent starts are safe); `python -m common.migrations content
user` applies them from the command line.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from yoyo import get_backend, read_migrations

from common.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent
Database = Literal["content", "user"]
# db_content holds content_svc's tables and the ingest jobs (numbered 0050+ so they apply after).
MIGRATION_DIRS: dict[Database, list[Path]] = {
    "content": [ROOT / "content_svc" / "migrations", ROOT / "ingest_svc" / "migrations"],
    "user": [ROOT / "user_svc" / "migrations"],
}

log = logging.getLogger(__name__)


def _yoyo_url(settings: Settings, database: Database) -> str:
    if database == "content":
        host, port, db = settings.postgres_content_host, settings.postgres_content_port, settings.postgres_content_db
        user, password = settings.postgres_content_user, settings.postgres_content_password
    else:
        host, port, db = settings.postgres_user_host, settings.postgres_user_port, settings.postgres_user_db
        user, password = settings.postgres_user_user, settings.postgres_user_password
    secret = password.get_secret_value()
    auth = quote(user, safe="") + (":" + quote(secret, safe="") if secret else "")
    return f"postgresql+psycopg://{auth}@{quote(host, safe='')}:{port}/{quote(db, safe='')}"


def apply_migrations(database: Database, settings: Settings | None = None) -> list[str]:
    """Apply pending migrations; returns the ids applied now (empty when already current)."""
    settings = settings or get_settings()
    backend = get_backend(_yoyo_url(settings, database))
    migrations = read_migrations(*(str(folder) for folder in MIGRATION_DIRS[database]))
    # yoyo prints the rows a migration's SELECT returns: into the log, not the service's stdout.
    with backend.lock(), contextlib.redirect_stdout(io.StringIO()) as printed:
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    if printed.getvalue():
        log.debug("db_%s migrations printed:\n%s", database, printed.getvalue())
    applied = [m.id for m in pending]
    if applied:
        log.info("db_%s: applied migrations %s", database, ", ".join(applied))
    return applied


def main() -> None:
    parser = argparse.ArgumentParser(description="Apply pending schema migrations.")
    parser.add_argument("databases", nargs="+", choices=sorted(MIGRATION_DIRS))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    for database in args.databases:
        applied = apply_migrations(database)
        print(f"db_{database}: {len(applied)} migration(s) applied")


if __name__ == "__main__":
    main()
