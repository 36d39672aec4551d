"""Turns a PDF into the JSON message stream grpcurl sends to UploadBook.

    python -m ingest_svc.grpcurl_stream book.pdf --title "Think Python" > stream.json
    grpcurl -plaintext -H "authorization: Bearer $TOKEN" -d @ 127.0.0.1:50053 \\
        teaching.ingest.v1.IngestService/UploadBook < stream.json

grpcurl reads a stream of concatenated JSON objects (one request message each), in the proto3 JSON
mapping that protobuf's json_format writes. The file is read chunk by chunk, never whole.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from google.protobuf import json_format

from teaching.ingest.v1 import ingest_service_pb2 as pb

CHUNK_BYTES = 1024 * 1024


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def messages(
    path: Path,
    *,
    title: str,
    filename: str = "",
    authors: list[str] | None = None,
    subject: str = "",
    grade_level: str = "",
    with_sha256: bool = True,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[pb.UploadBookRequest]:
    """The UploadBookRequest messages: metadata first, then the file's chunks."""
    yield pb.UploadBookRequest(metadata=pb.UploadBookMetadata(
        title=title, filename=filename or path.name, authors=authors or [], subject=subject, grade_level=grade_level,
        expected_sha256=file_sha256(path) if with_sha256 else "",
    ))
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(chunk_bytes), b""):
            yield pb.UploadBookRequest(chunk=block)


def write_stream(out: TextIO, stream: Iterator[pb.UploadBookRequest]) -> None:
    """One message per line, in the proto3 JSON mapping (bytes as base64, lowerCamelCase names)."""
    for message in stream:
        out.write(json_format.MessageToJson(message, indent=None))
        out.write("\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print the grpcurl JSON message stream that uploads a PDF.")
    parser.add_argument("file", type=Path)
    parser.add_argument("--title", required=True)
    parser.add_argument("--filename", default="", help="defaults to the file's name")
    parser.add_argument("--author", action="append", default=[], dest="authors")
    parser.add_argument("--subject", default="")
    parser.add_argument("--grade-level", default="")
    parser.add_argument("--no-sha256", action="store_true", help="do not send the expected SHA-256")
    parser.add_argument("--chunk-bytes", type=int, default=CHUNK_BYTES)
    args = parser.parse_args(argv)
    write_stream(
        sys.stdout,
        messages(
            args.file,
            title=args.title,
            filename=args.filename,
            authors=args.authors,
            subject=args.subject,
            grade_level=args.grade_level,
            with_sha256=not args.no_sha256,
            chunk_bytes=args.chunk_bytes,
        ),
    )


if __name__ == "__main__":
    main()
