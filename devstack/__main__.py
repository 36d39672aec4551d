"""`python -m devstack up` runs the whole suite in the foreground; `token` mints a development JWT."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from common.auth import KNOWN_ROLES, mint_token
from common.settings import Settings
from devstack.stack import ROOT, Stack, StackError, jwt_secret_for

DEFAULT_DATA = Path(os.environ.get("DEVSTACK_DATA", ROOT / ".devdata"))


def banner(stack: Stack) -> str:
    p = stack.ports
    lines = [
        "",
        "The teaching suite is up. Data lives in " + str(stack.data_dir) + " (kept across restarts).",
        "",
        f"  ContentService   grpc 127.0.0.1:{p.content}",
        f"  UserService      grpc 127.0.0.1:{p.user}",
        f"  IngestService    grpc 127.0.0.1:{p.ingest}",
    ]
    if stack.with_envoy:
        lines.append(
            f"  Envoy            http://127.0.0.1:{p.envoy}  (gRPC, gRPC-Web, JSON; admin 127.0.0.1:{p.envoy_admin})"
        )
    lines += [
        f"  Postgres 16      127.0.0.1:{p.postgres}  databases db_content (pgvector), db_user; user postgres",
        f"  Redis            127.0.0.1:{p.redis}",
        "  Celery worker    ingest_svc.worker",
        f"  Logs             {stack.logs_dir}/",
        "",
        "Get a token:  make -s token USER=t1 ROLE=teacher   (ROLE=admin for ingest and global pedagogy)",
        f"Try it:       curl -H \"authorization: Bearer $(make -s token USER=t1 ROLE=teacher)\" "
        f"localhost:{p.envoy}/v1/profile",
        "Stop:         Ctrl-C (stops every process started here)",
        "",
    ]
    return "\n".join(lines)


def up(data_dir: Path, with_envoy: bool) -> int:
    stack = Stack(data_dir, with_envoy=with_envoy)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start()
    except StackError as error:
        print(f"devstack: {error}", file=sys.stderr)
        return 1
    print(banner(stack), flush=True)
    exit_code = 0
    while not stopping.wait(1.0):
        dead = stack.dead_processes()
        if dead:
            for name in dead:
                print(f"devstack: {name} exited unexpectedly; last log lines:\n{stack.log_tail(name)}", file=sys.stderr)
            exit_code = 1
            break
    print("devstack: stopping...", flush=True)
    stack.stop()
    print("devstack: stopped", flush=True)
    return exit_code


def token(data_dir: Path, user: str, roles: list[str], ttl: int) -> int:
    if not user.strip():
        print("devstack: USER must not be empty", file=sys.stderr)
        return 2
    settings = Settings(jwt_secret=jwt_secret_for(data_dir))  # type: ignore[arg-type]
    print(mint_token(settings, user, roles, ttl))
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data folder (default .devdata)")
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="run the whole suite in the foreground")
    up_parser.add_argument("--no-envoy", action="store_true", help="do not start Envoy")
    token_parser = commands.add_parser("token", help="print a development JWT for the suite in --data")
    token_parser.add_argument("--user", required=True)
    token_parser.add_argument("--role", action="append", choices=sorted(KNOWN_ROLES))
    token_parser.add_argument("--ttl", type=int, default=12 * 3600)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="devstack: %(message)s")
    if args.command == "up":
        sys.exit(up(args.data, with_envoy=not args.no_envoy))
    sys.exit(token(args.data, args.user, args.role or ["teacher"], args.ttl))


if __name__ == "__main__":
    main()
