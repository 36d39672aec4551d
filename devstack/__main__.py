"""`python -m devstack up` runs the whole suite in the foreground; `token` mints a development JWT."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from common import tracing
from common.auth import KNOWN_ROLES, mint_token
from common.settings import Settings
from devstack import postgres, registry
from devstack.stack import ROOT, Stack, StackError, StackPorts, envoy_renderer, jwt_secret_path

# This checkout's data folder; DEVSTACK_DATA (or --data) names another one.
CHECKOUT_DATA = ROOT / ".devdata"


def banner(stack: Stack) -> str:
    p = stack.ports
    lines = [
        "",
        "The teaching suite is up. Data lives in " + str(stack.data_dir) + " (kept across restarts).",
        "",
        f"  ContentService   grpc 127.0.0.1:{p.content}",
        f"  UserService      grpc 127.0.0.1:{p.user}",
        f"  IngestService    grpc 127.0.0.1:{p.ingest}",
        f"  Reflection       grpc 127.0.0.1:{p.reflection}  (all three services; Envoy routes reflection here)",
    ]
    if stack.with_envoy:
        lines += [
            f"  Envoy            http://127.0.0.1:{p.envoy}  (gRPC, gRPC-Web, JSON; admin 127.0.0.1:{p.envoy_admin})",
            f"                   CORS origins: {' '.join(stack.cors_origins)}  (set CORS_ORIGINS to change)",
        ]
    lines += [
        f"  Postgres {postgres.MAJOR}      127.0.0.1:{p.postgres}  db_content (pgvector), db_user; user postgres",
        f"  Redis            127.0.0.1:{p.redis}",
        "  Celery worker    ingest_svc.worker",
        *metrics_lines(stack),
        f"  Tracing          {tracing_line(stack)}",
        f"  Logs             {stack.logs_dir}/  (JSON lines; docs/operations.md)",
        f"  JWT secret       {jwt_secret_path(stack.data_dir)}  (HS256; tokens stay valid across restarts)",
        "",
        "Get a token:  make -s token USER=t1 ROLE=teacher   (ROLE=admin for ingest and global pedagogy;",
        "              from any checkout, or `.venv/bin/ta token --user t1 --role teacher`)",
        f"Try it:       curl -H \"authorization: Bearer $(make -s token USER=t1 ROLE=teacher)\" "
        f"localhost:{p.envoy}/v1/profile",
        "Stop:         Ctrl-C (stops every process started here)",
        "",
    ]
    return "\n".join(lines)


METRICS_LABELS = {"content": "ContentService", "user": "UserService", "ingest": "IngestService",
                  "reflection": "Reflection", "worker": "Celery worker", "envoy": "Envoy"}


def metrics_lines(stack: Stack) -> list[str]:
    """Each process' Prometheus endpoint, aligned under one heading."""
    urls = stack.metrics_urls()
    width = max(len(url) for url in urls.values())
    lines = [f"{url:<{width}}  {METRICS_LABELS.get(name, name)}" for name, url in urls.items()]
    headings = ["  Metrics          "] + ["                   "] * (len(lines) - 1)
    return [heading + line for heading, line in zip(headings, lines, strict=True)]


def tracing_line(stack: Stack) -> str:
    exporter = tracing.exporter_name({**os.environ, **stack.env})
    if exporter == "otlp":
        return f"OTLP/HTTP to {stack.otlp_traces_url()} (every process and Envoy)"
    if exporter == "console":
        return "spans as JSON lines in each process' log (OTEL_TRACES_EXPORTER=console)"
    return "off (OTEL_EXPORTER_OTLP_ENDPOINT=http://HOST:4318 exports OTLP, OTEL_TRACES_EXPORTER=console logs spans)"


def up(data_dir: Path, with_envoy: bool) -> int:
    try:
        ports = StackPorts.from_environment(os.environ)
        origins = envoy_renderer().parse_cors_origins(os.environ.get("CORS_ORIGINS"))
    except StackError as error:
        print(f"devstack: {error}", file=sys.stderr)
        return 2
    stack = Stack(data_dir, ports, with_envoy=with_envoy, cors_origins=origins)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    # SIGHUP: the terminal closed. Stop as cleanly as on Ctrl-C.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    exit_code = 0
    try:
        stack.start()
    except StackError as error:
        print(f"devstack: {error}", file=sys.stderr)
        return 1
    try:
        registry.announce(stack.data_dir, dataclasses.asdict(stack.ports))
        print(banner(stack), flush=True)
        while not stopping.wait(1.0):
            dead = stack.dead_processes()
            if dead:
                for name in dead:
                    print(f"devstack: {name} exited unexpectedly; last log lines:\n{stack.log_tail(name)}",
                          file=sys.stderr)
                exit_code = 1
                break
    finally:
        registry.withdraw(stack.data_dir)
        print("devstack: stopping...", flush=True)
        stack.stop()
        print("devstack: stopped", flush=True)
    return exit_code


def suite_data_dir(explicit: Path | None) -> Path:
    """The data folder of the suite a token is for: the one named, else this checkout's when it runs,
    else the only running suite, else this checkout's (stopped) one."""
    if explicit is not None:
        return explicit
    suites = registry.running()
    if any(suite.data_dir == CHECKOUT_DATA.resolve() for suite in suites):
        return CHECKOUT_DATA
    if len(suites) == 1:
        return suites[0].data_dir
    if len(suites) > 1:
        listing = "\n  ".join(suite.describe() for suite in suites)
        raise StackError(f"several suites are running; choose one with DEVSTACK_DATA=<folder>:\n  {listing}")
    if jwt_secret_path(CHECKOUT_DATA).exists():
        return CHECKOUT_DATA
    raise StackError(f"no suite is running and {CHECKOUT_DATA} has never run one: start one with `make dev`, "
                     "or set DEVSTACK_DATA to the data folder of the suite the token is for")


def token(explicit_data: Path | None, user: str, roles: list[str], ttl: int) -> int:
    if not user.strip():
        print("devstack: USER must not be empty", file=sys.stderr)
        return 2
    try:
        data_dir = suite_data_dir(explicit_data)
    except StackError as error:
        print(f"devstack: {error}", file=sys.stderr)
        return 1
    secret_path = jwt_secret_path(data_dir)
    if not secret_path.exists():
        print(f"devstack: {data_dir} holds no suite (no {secret_path}); start it with make dev first",
              file=sys.stderr)
        return 1
    settings = Settings(jwt_secret=secret_path.read_text().strip())  # type: ignore[arg-type]
    print(mint_token(settings, user, roles, ttl))
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    from_env = os.environ.get("DEVSTACK_DATA")
    parser.add_argument("--data", type=Path, default=Path(from_env) if from_env else None,
                        help="data folder (default $DEVSTACK_DATA; `up`: this checkout's .devdata; "
                             "`token`: the running suite's)")
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
        sys.exit(up(args.data or CHECKOUT_DATA, with_envoy=not args.no_envoy))
    sys.exit(token(args.data, args.user, args.role or ["teacher"], args.ttl))


if __name__ == "__main__":
    main()
