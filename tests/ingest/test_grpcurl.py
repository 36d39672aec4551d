"""UploadBook driven the way grpcurl drives it: descriptors from server reflection, request
messages decoded from the JSON stream `python -m ingest_svc.grpcurl_stream` prints, sent with a
generic stream-unary call (no generated stubs on the client side)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from tests.ingest.helpers import unique_copy, wait_terminal

SERVICE = "teaching.ingest.v1.IngestService"


def _json_stream(text: str) -> list[dict[str, Any]]:
    """Split concatenated JSON objects, as grpcurl reads `-d @`."""
    decoder = json.JSONDecoder()
    messages, position = [], 0
    while position < len(text):
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            break
        message, position = decoder.raw_decode(text, position)
        messages.append(message)
    return messages


# Directly, and through Envoy: its reflection route reaches ContentService's server, whose descriptor
# pool still resolves IngestService's symbols (common/server.py), as grpcurl needs.
@pytest.mark.parametrize("front", ["ingest", "envoy"])
def test_upload_as_grpcurl_does(
    stack: Any, corpus: Path, tmp_path: Path, auth: Any, ingest_stub: Any, front: str
) -> None:
    pdf = tmp_path / "toc-copy.pdf"
    pdf.write_bytes(unique_copy((corpus / "toc.pdf").read_bytes()))
    title = f"via grpcurl {uuid.uuid4().hex[:6]}"
    stream = subprocess.run(
        [sys.executable, "-m", "ingest_svc.grpcurl_stream", str(pdf), "--title", title, "--chunk-bytes", "2048"],
        check=True, capture_output=True, text=True, env=stack.env | {"PATH": ""},
    ).stdout
    raw_messages = _json_stream(stream)
    assert len(raw_messages) > 2 and "metadata" in raw_messages[0] and "chunk" in raw_messages[1]

    with grpc.insecure_channel(stack.address(front)) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        if front == "ingest":
            assert SERVICE in database.get_services()
        pool = descriptor_pool.DescriptorPool(database)
        method = pool.FindServiceByName(SERVICE).methods_by_name["UploadBook"]
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        requests = [json_format.Parse(json.dumps(m), request_class()) for m in raw_messages]
        call = channel.stream_unary(
            f"/{SERVICE}/UploadBook",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_class.FromString,
        )
        admin = auth("grpcurl-admin", "admin")
        response = call(iter(requests), metadata=admin, timeout=60)
        printed = json_format.MessageToDict(response)
    assert printed["job"]["title"] == title
    assert printed["job"]["state"] == "INGEST_JOB_STATE_QUEUED"
    assert printed["bookId"] == printed["job"]["bookId"]
    job = wait_terminal(ingest_stub, admin, printed["job"]["jobId"])
    assert job.atoms_written >= 1 and job.state == 3
