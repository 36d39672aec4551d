"""Every RPC of the suite, read from the descriptors, and the two ways the matrices call it: gRPC with
raw request bytes (so undecodable requests can be sent), and JSON through Envoy following the RPC's
google.api.http rule. A new RPC in a .proto is picked up here without any change."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from google.api import annotations_pb2, field_behavior_pb2, http_pb2
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from teaching.content.v1 import content_service_pb2
from teaching.ingest.v1 import ingest_service_pb2
from teaching.user.v1 import user_service_pb2
from tests.envoy.web import Reply, http_request

PROTO_FILES = (content_service_pb2.DESCRIPTOR, user_service_pb2.DESCRIPTOR, ingest_service_pb2.DESCRIPTOR)
ERROR_DOMAIN = "teaching.suite"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
# A placeholder string the transports turn into invalid UTF-8 after encoding (same length, so every
# length prefix stays right); only URL-safe characters, so it survives quoting unchanged.
UTF8_MARKER = "QZXINVALIDUTF8QZX"

# The HTTP status the transcoder gives each gRPC code (google.rpc.Code's documented mapping).
HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
}

Path = tuple[tuple[Any, int | None], ...]  # (FieldDescriptor, index of a repeated field's element)


@dataclass(frozen=True)
class Rpc:
    method: MethodDescriptor

    @property
    def name(self) -> str:
        return self.method.name

    @property
    def label(self) -> str:
        return f"{self.method.containing_service.name}.{self.method.name}"

    @property
    def grpc_path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def target(self) -> str:
        """The stack process serving it: "content", "user" or "ingest" (from teaching.<x>.v1)."""
        return self.method.containing_service.full_name.split(".")[1]

    @property
    def http(self) -> http_pb2.HttpRule | None:
        options = self.method.GetOptions()
        if not options.HasExtension(annotations_pb2.http):
            return None
        rule: http_pb2.HttpRule = options.Extensions[annotations_pb2.http]
        return rule

    def request(self) -> Message:
        message: Message = message_factory.GetMessageClass(self.method.input_type)()
        return message


RPCS = [Rpc(method) for file in PROTO_FILES for service in file.services_by_name.values()
        for method in service.methods]


# -- field paths ---------------------------------------------------------------------------------


def behaviors(field: Any) -> set[int]:
    return set(field.GetOptions().Extensions[field_behavior_pb2.field_behavior])


def path_text(path: Path) -> str:
    return ".".join(f.name + (f"[{i}]" if i is not None else "") for f, i in path)


def leaves(message: Message, prefix: Path = ()) -> Iterator[Path]:
    """Every scalar field of `message` worth corrupting: all scalars (repeated ones at [0]) of the
    message and of the sub-messages it sets; bytes are opaque and never checked."""
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type is None or field.message_type.GetOptions().map_entry:
                continue
            if field.is_repeated:
                if len(value):
                    yield from leaves(value[0], (*prefix, (field, 0)))
            elif message.HasField(field.name):
                yield from leaves(value, (*prefix, (field, None)))
        elif field.type != FieldDescriptor.TYPE_BYTES:
            yield (*prefix, (field, 0 if field.is_repeated else None))


def set_value(message: Message, path: Path, value: Any) -> None:
    *parents, (field, index) = path
    for parent, parent_index in parents:
        child = getattr(message, parent.name)
        message = child[parent_index] if parent_index is not None else child
    if index is None:
        setattr(message, field.name, value)
        return
    items = getattr(message, field.name)
    if len(items) > index:
        items[index] = value
    else:
        items.append(value)


# -- gRPC -----------------------------------------------------------------------------------------


def grpc_payload(message: Message) -> bytes:
    data = message.SerializeToString()
    return data.replace(UTF8_MARKER.encode(), b"\xff" * len(UTF8_MARKER))


def call_grpc(channel: grpc.Channel, rpc: Rpc, payload: bytes, metadata: tuple[tuple[str, str], ...],
              ) -> grpc.RpcError | None:
    """One call of `rpc` with raw request bytes; the error, or None when it succeeded."""
    return raw_call(channel, rpc.grpc_path, payload, metadata, client_streaming=rpc.method.client_streaming,
                    server_streaming=rpc.method.server_streaming)


def raw_call(channel: grpc.Channel, path: str, payload: bytes, metadata: tuple[tuple[str, str], ...], *,
             client_streaming: bool = False, server_streaming: bool = False) -> grpc.RpcError | None:
    """One call with raw request bytes (a client stream sends them twice); the error, or None."""
    same: Any = lambda data: data  # noqa: E731 - the bytes go out and come back untouched
    try:
        if client_streaming:
            channel.stream_unary(path, same, same)(iter([payload, payload]), metadata=metadata, timeout=30)
        elif server_streaming:
            for _ in channel.unary_stream(path, same, same)(payload, metadata=metadata, timeout=30):
                pass
        else:
            channel.unary_unary(path, same, same)(payload, metadata=metadata, timeout=30)
    except grpc.RpcError as error:
        return error
    return None


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo | None:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    return None


# -- JSON through Envoy ---------------------------------------------------------------------------


def location(rule: http_pb2.HttpRule, path: Path) -> str:
    """Where a JSON client puts the field at `path`: "path", "body" or "query"."""
    template: str = getattr(rule, rule.WhichOneof("pattern") or "get")
    if "{" + ".".join(field.name for field, _ in path) + "}" in template:
        return "path"
    if rule.body == "*" or (rule.body and path[0][0].name == rule.body):
        return "body"
    return "query"


@dataclass
class HttpCall:
    """An RPC as a JSON client sends it: path parameters, query parameters and a JSON body."""

    rule: http_pb2.HttpRule
    path_params: dict[str, str]  # proto path ("strategy.strategy_id") -> value
    query: list[tuple[str, str]]  # lowerCamelCase names, dotted for nested fields
    body: Any | None

    def send(self, front: str, token: str | None, raw_body: bytes | None = None) -> Reply:
        verb = self.rule.WhichOneof("pattern") or "get"
        path: str = getattr(self.rule, verb)
        for name, value in self.path_params.items():
            path = path.replace("{" + name + "}", urllib.parse.quote(value, safe=""))
        if self.query:
            path += "?" + urllib.parse.urlencode(self.query, quote_via=urllib.parse.quote)
        path = path.replace(UTF8_MARKER, "%FF" * len(UTF8_MARKER))
        payload = raw_body
        if payload is None and self.body is not None:
            payload = json.dumps(self.body).encode().replace(UTF8_MARKER.encode(), b"\xff" * len(UTF8_MARKER))
        headers = {"content-type": "application/json"} if payload is not None else {}
        return http_request(front, verb.upper(), path, raw_body=payload, token=token, headers=headers, timeout=60)

    def put(self, path: Path, value: Any) -> None:
        """Sets the field at `path` (a leaf of the request) to a JSON `value` where the rule carries it."""
        where = location(self.rule, path)
        if where == "path":
            self.path_params[".".join(field.name for field, _ in path)] = str(value)
            return
        if where == "body":
            steps = path if self.rule.body == "*" else path[1:]
            self.body = _put_json(self.body if self.body is not None else {}, steps, value)
            return
        name = ".".join(field.json_name for field, _ in path)
        self.query = [(k, v) for k, v in self.query if k != name]
        self.query.append((name, value if isinstance(value, str) else json.dumps(value)))


def _put_json(body: dict[str, Any], steps: Path, value: Any) -> dict[str, Any]:
    node = body
    for position, (field, index) in enumerate(steps):
        last = position == len(steps) - 1
        if index is None:
            if last:
                node[field.json_name] = value
            else:
                node = node.setdefault(field.json_name, {})
            continue
        items = node.setdefault(field.json_name, [])
        if not items:
            items.append(value if last else {})
        elif last:
            items[0] = value
        if not last:
            node = items[0]
    return body


def http_call(rpc: Rpc, message: Message) -> HttpCall:
    rule = rpc.http
    assert rule is not None, f"{rpc.label} has no HTTP rule"
    verb = rule.WhichOneof("pattern")
    assert verb in ("get", "post", "patch", "delete", "put"), verb
    template: str = getattr(rule, verb)
    remaining = rpc.request()
    remaining.CopyFrom(message)
    path_params: dict[str, str] = {}
    for variable in re.findall(r"{([^}]+)}", template):
        assert "=" not in variable, f"path templates with patterns are not supported: {template}"
        *parents, last = variable.split(".")
        holder = remaining
        for name in parents:
            holder = getattr(holder, name)
        path_params[variable] = str(getattr(holder, last))
        holder.ClearField(last)
    body: Any = None
    if rule.body == "*":
        body = json_format.MessageToDict(remaining)
    elif rule.body:
        body = json_format.MessageToDict(getattr(remaining, rule.body))
        remaining.ClearField(rule.body)
    query = [] if rule.body == "*" else _flatten(json_format.MessageToDict(remaining))
    return HttpCall(rule, path_params, query, body)


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        name = prefix + key
        if isinstance(value, dict):
            pairs.extend(_flatten(value, name + "."))
        else:
            for item in value if isinstance(value, list) else [value]:
                pairs.append((name, item if isinstance(item, str) else json.dumps(item)))
    return pairs


def assert_json_error(reply: Reply) -> dict[str, Any]:
    """A non-200 reply of the front: a google.rpc.Status JSON body with an ErrorInfo of the suite."""
    assert reply.header("content-type") == "application/json", (reply.status, reply.headers, reply.body[:300])
    body: dict[str, Any] = reply.json()
    assert isinstance(body.get("code"), int) and body["code"] != 0, body
    assert isinstance(body.get("message"), str), body
    infos = [d for d in body.get("details", []) if d.get("@type") == ERROR_INFO]
    assert infos and infos[0]["domain"] == ERROR_DOMAIN and infos[0]["reason"], body
    return body
