"""What a web client needs to talk to the Envoy front: JSON over HTTP/1.1 and gRPC-Web framing."""

from __future__ import annotations

import base64
import http.client
import json
import struct
from dataclasses import dataclass
from typing import Any

TRAILERS_FLAG = 0x80


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def http_request(
    address: str,
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: bytes | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> Reply:
    """One HTTP/1.1 request to "host:port"; `body` is sent as JSON."""
    host, port = address.rsplit(":", 1)
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["authorization"] = f"Bearer {token}"
    payload = raw_body
    if body is not None:
        payload = json.dumps(body).encode()
        all_headers.setdefault("content-type", "application/json")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request(method, path, body=payload, headers=all_headers)
        response = connection.getresponse()
        data = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        connection.close()


def grpc_web_frame(message: bytes, flag: int = 0) -> bytes:
    """A gRPC(-Web) length-prefixed frame: 1 flag byte, 4-byte big-endian length, payload."""
    return struct.pack(">BI", flag, len(message)) + message


def parse_frames(data: bytes) -> list[tuple[int, bytes]]:
    frames: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(data):
        assert len(data) - offset >= 5, f"truncated frame header at {offset}: {data[offset:]!r}"
        flag, length = struct.unpack_from(">BI", data, offset)
        offset += 5
        assert len(data) - offset >= length, f"truncated frame at {offset}: wants {length} bytes"
        frames.append((flag, data[offset : offset + length]))
        offset += length
    return frames


@dataclass
class GrpcWebResult:
    messages: list[bytes]
    status: int
    message: str
    trailers: dict[str, str]


def grpc_web_call(
    address: str, path: str, request: bytes, *, text: bool, token: str | None = None, origin: str | None = None
) -> tuple[Reply, GrpcWebResult]:
    """A unary gRPC-Web call as a browser makes it (binary or base64 text mode), decoded."""
    content_type = "application/grpc-web-text" if text else "application/grpc-web+proto"
    body = grpc_web_frame(request)
    headers = {"content-type": content_type, "x-grpc-web": "1", "accept": content_type}
    if origin is not None:
        headers["origin"] = origin
    reply = http_request(address, "POST", path, raw_body=base64.b64encode(body) if text else body,
                         token=token, headers=headers)
    assert reply.status == 200, (reply.status, reply.body)
    assert (reply.header("content-type") or "").startswith(content_type), reply.headers
    data = reply.body
    if text:
        data = _decode_base64_chunks(data)
    messages: list[bytes] = []
    trailers: dict[str, str] = {}
    for flag, payload in parse_frames(data):
        if flag & TRAILERS_FLAG:
            for line in payload.decode().split("\r\n"):
                if line:
                    key, _, value = line.partition(":")
                    trailers[key.strip().lower()] = value.strip()
        else:
            assert flag == 0, f"unexpected frame flag {flag:#x}"
            messages.append(payload)
    # A call that fails before any message is "trailers-only": the status comes in the HTTP headers.
    status_source = trailers if "grpc-status" in trailers else reply.headers
    return reply, GrpcWebResult(
        messages=messages,
        status=int(status_source["grpc-status"]),
        message=status_source.get("grpc-message", ""),
        trailers=trailers,
    )


def _decode_base64_chunks(data: bytes) -> bytes:
    """grpc-web-text bodies may be several base64 strings back to back (one per frame, each padded)."""
    out = b""
    text = data.strip()
    while text:
        end = text.find(b"=")
        if end == -1:
            return out + base64.b64decode(text)
        while end < len(text) and text[end : end + 1] == b"=":
            end += 1
        out += base64.b64decode(text[:end])
        text = text[end:]
    return out
