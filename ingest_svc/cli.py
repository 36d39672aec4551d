"""Admin command line: upload a PDF with a progress bar, then follow its ingestion.

    python -m ingest_svc.cli upload book.pdf --title "Think Python" [--token JWT] [--address HOST:PORT]
    python -m ingest_svc.cli watch JOB_ID
    python -m ingest_svc.cli cancel JOB_ID

The token defaults to $INGEST_TOKEN (mint one with `make -s token USER=me ROLE=admin`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
from tqdm import tqdm

from common.settings import get_settings
from ingest_svc.grpcurl_stream import CHUNK_BYTES, file_sha256
from teaching.ingest.v1 import ingest_service_pb2 as pb
from teaching.ingest.v1 import ingest_service_pb2_grpc

_TERMINAL = {pb.INGEST_JOB_STATE_SUCCEEDED, pb.INGEST_JOB_STATE_FAILED, pb.INGEST_JOB_STATE_CANCELLED}


def upload_requests(path: Path, metadata: pb.UploadBookMetadata, bar: tqdm[Any]) -> Iterator[pb.UploadBookRequest]:
    yield pb.UploadBookRequest(metadata=metadata)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            yield pb.UploadBookRequest(chunk=block)
            bar.update(len(block))


def watch(stub: ingest_service_pb2_grpc.IngestServiceStub, job_id: str, auth: tuple[tuple[str, str], ...]) -> int:
    bar: tqdm[Any] | None = None
    job = None
    for response in stub.WatchIngestJob(pb.WatchIngestJobRequest(job_id=job_id), metadata=auth):
        job = response.job
        if job.pages_total and bar is None:
            bar = tqdm(total=job.pages_total, unit="page", desc="ingest")
        if bar is not None:
            bar.n = job.pages_done
            bar.set_postfix_str(f"{pb.IngestStage.Name(job.stage)[13:].lower()} atoms={job.atoms_written}")
            bar.refresh()
    if bar is not None:
        bar.close()
    if job is None:
        return 1
    state = pb.IngestJobState.Name(job.state)[17:]
    print(f"job {job.job_id}: {state}; book {job.book_id}; {job.atoms_written} passages")
    if job.state == pb.INGEST_JOB_STATE_FAILED:
        print(f"  {pb.IngestFailureReason.Name(job.failure_reason)[22:]}: {job.error_message}", file=sys.stderr)
    return 0 if job.state == pb.INGEST_JOB_STATE_SUCCEEDED else 1


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(description="IngestService admin commands.")
    parser.add_argument("--address", default=f"127.0.0.1:{settings.ingest_port}")
    parser.add_argument("--token", default=os.environ.get("INGEST_TOKEN", ""))
    commands = parser.add_subparsers(dest="command", required=True)
    upload = commands.add_parser("upload", help="upload a PDF and follow its ingestion")
    upload.add_argument("file", type=Path)
    upload.add_argument("--title", required=True)
    upload.add_argument("--author", action="append", default=[], dest="authors")
    upload.add_argument("--subject", default="")
    upload.add_argument("--grade-level", default="")
    upload.add_argument("--no-wait", action="store_true", help="return once the file is accepted")
    for name in ("watch", "cancel"):
        sub = commands.add_parser(name, help=f"{name} an ingest job")
        sub.add_argument("job_id")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("no token: pass --token or set INGEST_TOKEN (make -s token USER=me ROLE=admin)")
    auth = (("authorization", f"Bearer {args.token}"),)
    options = [("grpc.max_send_message_length", 4 * 1024 * 1024)]
    with grpc.insecure_channel(args.address, options=options) as channel:
        stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
        try:
            if args.command == "upload":
                path: Path = args.file
                metadata = pb.UploadBookMetadata(
                    title=args.title, filename=path.name, authors=args.authors, subject=args.subject,
                    grade_level=args.grade_level, expected_sha256=file_sha256(path),
                )
                with tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc="upload") as bar:
                    response = stub.UploadBook(upload_requests(path, metadata, bar), metadata=auth)
                note = " (already in the library: nothing re-ingested)" if response.deduplicated else ""
                print(f"job {response.job.job_id}, book {response.book_id}{note}")
                if args.no_wait:
                    return 0
                return watch(stub, response.job.job_id, auth)
            if args.command == "watch":
                return watch(stub, args.job_id, auth)
            job = stub.CancelIngestJob(pb.CancelIngestJobRequest(job_id=args.job_id), metadata=auth).job
            print(f"job {job.job_id}: {pb.IngestJobState.Name(job.state)[17:]}")
            return 0
        except grpc.RpcError as error:
            print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
