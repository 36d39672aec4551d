"""The `ta` command line (installed as a console script by the package)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import grpc

from ta_cli import commands

DEFAULT_ADDRESS = "127.0.0.1:8080"
STATES = ("queued", "running", "succeeded", "failed", "cancelled")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="ta",
        description="Admin commands for the teaching suite (gRPC through the Envoy front).",
        epilog="Token: --token or $TA_TOKEN; for a `make dev` suite: export TA_TOKEN=$(ta token --role admin)",
    )
    top.add_argument("--address", default=os.environ.get("TA_ADDRESS", DEFAULT_ADDRESS),
                     help=f"host:port of the front or a service (default $TA_ADDRESS or {DEFAULT_ADDRESS})")
    top.add_argument("--token", default=os.environ.get("TA_TOKEN", ""), help="bearer token (default $TA_TOKEN)")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    upload = sub.add_parser("upload", help="upload a PDF with a progress bar and follow its ingestion")
    upload.add_argument("file", type=Path)
    upload.add_argument("--title", required=True)
    upload.add_argument("--author", action="append", default=[], dest="authors", help="repeat for several")
    upload.add_argument("--subject", default="")
    upload.add_argument("--grade-level", default="")
    upload.add_argument("--no-wait", action="store_true", help="return once the file is accepted")

    sub.add_parser("watch", help="follow an ingest job until it ends").add_argument("job_id")
    sub.add_parser("cancel", help="cancel an ingest job").add_argument("job_id")
    jobs = sub.add_parser("jobs", help="list ingest jobs, newest first")
    jobs.add_argument("--state", choices=STATES)
    jobs.add_argument("--limit", type=int, default=50)
    books = sub.add_parser("books", help="list the books in the library")
    books.add_argument("--limit", type=int, default=200)
    sub.add_parser("delete-book", help="delete a book and everything derived from it").add_argument("book_id")

    token = sub.add_parser("token", help="print a development token for the running `make dev` suite")
    token.add_argument("--user", default=os.environ.get("USER") or "admin")
    token.add_argument("--role", action="append", choices=("teacher", "admin"),
                       help="repeat for several (default teacher)")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    return top


def dev_token(user: str, roles: list[str], ttl: int) -> int:
    """Development tokens are the embedded stack's business (its secret lives in its data folder)."""
    try:
        from devstack.__main__ import token
    except ImportError:
        print("ta: tokens are minted by the embedded stack (devstack), not installed here", file=sys.stderr)
        return 2
    return token(Path(os.environ["DEVSTACK_DATA"]) if os.environ.get("DEVSTACK_DATA") else None, user, roles, ttl)


def run(args: argparse.Namespace) -> int:
    if args.command == "token":
        return dev_token(args.user, args.role or ["teacher"], args.ttl)
    if not args.token:
        print("ta: no token: pass --token or set TA_TOKEN (export TA_TOKEN=$(ta token --role admin))",
              file=sys.stderr)
        return 2
    auth: commands.Metadata = (("authorization", f"Bearer {args.token}"),)
    with grpc.insecure_channel(args.address) as channel:
        if args.command == "upload":
            return commands.upload(channel, auth, args.file, title=args.title, authors=args.authors,
                                   subject=args.subject, grade_level=args.grade_level, wait=not args.no_wait)
        if args.command == "watch":
            return commands.watch(channel, auth, args.job_id)
        if args.command == "cancel":
            return commands.cancel(channel, auth, args.job_id)
        if args.command == "jobs":
            return commands.jobs(channel, auth, state=args.state, limit=args.limit)
        if args.command == "books":
            return commands.books(channel, auth, limit=args.limit)
        return commands.delete_book(channel, auth, args.book_id)


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        code = run(args)
    except grpc.RpcError as error:
        print(f"ta: {error.code().name}: {error.details()}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
