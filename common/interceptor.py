"""The one server interceptor every service installs; it guards every RPC the same way.

- Bad bytes are bad input: a request that does not decode (garbage, a string field that is not
  UTF-8) or that holds a NUL character in any text field gets INVALID_ARGUMENT naming the field,
  before any handler runs. (Left to grpc, an undecodable request is INTERNAL "Exception deserializing
  request!", and a NUL reaches Postgres, which refuses it with an exception.)
- It authenticates the caller (health checking and reflection stay open, so probes and grpcurl work
  without a token) and makes the identity available to handlers through `current_identity()`.
- `ServiceError`s raised anywhere below the handler become statuses with details (common.status);
  any other exception becomes INTERNAL with an error id, logged with its stack trace under that id.
- Around all of it, every call is observed (common.telemetry): metrics, a server span continuing
  the caller's trace, one access log line.
- A non-blocking streaming handler (grpc's `experimental_non_blocking`: it returns at once and sends
  later through a callback, holding no thread) stays non-blocking; `end_stream` ends its stream. Its
  observation covers the handler's own part (the registration), not the stream's life.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import empty_pb2, unknown_fields
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from common.auth import Identity, TokenVerifier, reset_identity, set_identity
from common.errors import InvalidArgument, ServiceError, Unauthenticated
from common.status import internal_status, to_status
from common.telemetry import RpcObserver

log = logging.getLogger(__name__)

# grpc-stubs makes ServerInterceptor generic; at run time it is not subscriptable.
if TYPE_CHECKING:
    _ServerInterceptor = grpc.ServerInterceptor[Any, Any]
    _Handler = grpc.RpcMethodHandler[Any, Any]
else:
    _ServerInterceptor = grpc.ServerInterceptor
    _Handler = grpc.RpcMethodHandler

OPEN_SERVICES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)

MALFORMED_REQUEST = "MALFORMED_REQUEST"
_LENGTH_DELIMITED = 2  # protobuf wire type of strings, bytes and nested messages
_MAX_NESTING = 100  # protobuf's own recursion limit


# -- bad bytes ----------------------------------------------------------------------------------


def nul_violations(message: Message, prefix: str = "") -> dict[str, str]:
    """A violation for each text field, at any depth, that holds a NUL character.

    No legitimate text contains one, and Postgres text cannot store it.
    """
    found: dict[str, str] = {}
    for field, value in message.ListFields():
        path = prefix + field.name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field, value_field = (field.message_type.fields_by_name[n] for n in ("key", "value"))
            for key, item in value.items():
                _check_text(key_field, key, f"{path}[{key!r}]", found)
                _check_text(value_field, item, f"{path}[{key!r}]", found)
        elif field.is_repeated:
            for index, item in enumerate(value):
                _check_text(field, item, f"{path}[{index}]", found)
        else:
            _check_text(field, value, path, found)
    return found


def _check_text(field: FieldDescriptor, value: Any, path: str, found: dict[str, str]) -> None:
    if field.type == FieldDescriptor.TYPE_STRING and "\x00" in value:
        found[path] = "must not contain NUL characters"
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        found.update(nul_violations(value, path + "."))


def invalid_utf8_path(data: bytes, descriptor: Descriptor, prefix: str = "", depth: int = 0) -> str | None:
    """The path of the first string field in `data` that is not UTF-8, None when there is none.

    `data` failed to parse as `descriptor`'s message; parsed as an Empty, every field is an unknown
    field whose raw bytes protobuf hands out, so the walk needs no wire-format code of its own.
    """
    if depth > _MAX_NESTING:
        return None
    try:
        entries = unknown_fields.UnknownFieldSet(empty_pb2.Empty.FromString(data))
    except DecodeError:
        return None
    seen: Counter[int] = Counter()
    for entry in (entries[i] for i in range(len(entries))):
        field = descriptor.fields_by_number.get(entry.field_number)
        if field is None or entry.wire_type != _LENGTH_DELIMITED:
            continue
        index = seen[entry.field_number]
        seen[entry.field_number] += 1
        path = prefix + field.name + (f"[{index}]" if field.is_repeated else "")
        if field.type == FieldDescriptor.TYPE_STRING:
            try:
                entry.data.decode("utf-8")
            except UnicodeDecodeError:
                return path
        elif field.message_type is not None:
            found = invalid_utf8_path(entry.data, field.message_type, path + ".", depth + 1)
            if found is not None:
                return found
    return None


def undecodable(data: bytes, descriptor: Descriptor | None) -> InvalidArgument:
    path = invalid_utf8_path(data, descriptor) if descriptor is not None else None
    if path is not None:
        return InvalidArgument({path: "is not valid UTF-8"}, reason=MALFORMED_REQUEST)
    name = descriptor.full_name if descriptor is not None else "request"
    return InvalidArgument({}, f"the request is not a valid {name} message (malformed protobuf)",
                           reason=MALFORMED_REQUEST)


@dataclass(frozen=True)
class _BadRequest:
    """What a guarded deserializer returns instead of raising (grpc would answer INTERNAL)."""

    error: InvalidArgument


def _guard_deserializer(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None
    message_type = getattr(deserialize, "__self__", None)  # generated stubs pass `Message.FromString`
    descriptor: Descriptor | None = getattr(message_type, "DESCRIPTOR", None)

    def decode(data: bytes) -> Any:
        try:
            request = deserialize(data)
        except Exception:  # whatever a deserializer raises, the bytes are the caller's fault
            return _BadRequest(undecodable(data, descriptor))
        if isinstance(request, Message):
            violations = nul_violations(request)
            if violations:
                return _BadRequest(InvalidArgument(violations))
        return request

    return decode


def _checked(requests: Iterable[Any]) -> Iterator[Any]:
    for request in requests:
        if isinstance(request, _BadRequest):
            raise request.error
        yield request


# -- unexpected failures --------------------------------------------------------------------------


def _fail(context: grpc.ServicerContext, method: str, error: Exception) -> None:
    if type(error) is Exception:
        # What context.abort() raises once it has set the status: let grpc finish the abort.
        raise error
    if isinstance(error, grpc.RpcError) and not context.is_active():
        # grpc raises in a request iterator whose client went away: there is nobody to answer.
        log.info("%s: the client cancelled the call", method)
        return
    error_id = uuid.uuid4().hex
    log.error("%s failed unexpectedly (error id %s)", method, error_id, exc_info=error)
    context.abort_with_status(internal_status(error_id))


# -- the guard around every handler ---------------------------------------------------------------


def _guarded(handler: _Handler, method: str, identity: Identity | None, refusal: ServiceError | None,
             observer: RpcObserver, metadata: Any) -> _Handler:
    streams_request, streams_response = handler.request_streaming, handler.response_streaming
    behavior: Callable[..., Any] = (
        handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream  # type: ignore[assignment]
    )

    def admit(request: Any) -> Any:
        """The request the handler sees, once the caller is known and the bytes are sound."""
        if refusal is not None:
            raise refusal
        if streams_request:
            return _checked(request)
        if isinstance(request, _BadRequest):
            raise request.error
        return request

    @contextlib.contextmanager
    def answering(context: grpc.ServicerContext) -> Iterator[None]:
        """The caller's identity for the handler, its errors as statuses, the call observed."""
        token = set_identity(identity)
        call = observer.begin(method, (streams_request, streams_response), metadata, identity)
        try:
            yield
        except ServiceError as error:
            context.abort_with_status(to_status(error))
        except Exception as error:
            _fail(context, method, error)
        finally:
            call.end(context)
            # A stream's generator finalised in another context has nothing to restore.
            with contextlib.suppress(ValueError):
                reset_identity(token)

    def unary(request: Any, context: grpc.ServicerContext) -> Any:
        with answering(context):
            return behavior(admit(request), context)

    def non_blocking(request: Any, context: grpc.ServicerContext, send: Callable[[Any], None]) -> None:
        with answering(context):
            behavior(admit(request), context, send)

    def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        with answering(context):
            yield from behavior(admit(request), context)

    if streams_response and not streams_request and getattr(behavior, "experimental_non_blocking", False):
        non_blocking.experimental_non_blocking = True  # type: ignore[attr-defined]
        return grpc.unary_stream_rpc_method_handler(  # type: ignore[no-any-return]
            non_blocking,  # type: ignore[arg-type]
            request_deserializer=_guard_deserializer(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
    make_handler = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }[(streams_request, streams_response)]
    return make_handler(  # type: ignore[operator]
        stream if streams_response else unary,
        request_deserializer=_guard_deserializer(handler.request_deserializer),
        response_serializer=handler.response_serializer,
    )


def end_stream(context: grpc.ServicerContext, send: Callable[[Any], None], error: ServiceError | None) -> None:
    """End a non-blocking stream: OK when `error` is None, else with its status and details."""
    if error is not None:
        status = to_status(error)
        context.set_code(status.code)
        context.set_details(status.details)
        context.set_trailing_metadata(status.trailing_metadata)
    send(None)


class AuthInterceptor(_ServerInterceptor):
    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier
        self._observer = RpcObserver()

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], _Handler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> _Handler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        metadata = handler_call_details.invocation_metadata
        if method.startswith(OPEN_SERVICES):
            return _guarded(handler, method, None, None, self._observer, metadata)
        identity: Identity | None = None
        refusal: ServiceError | None = None
        try:
            header = dict(metadata or ()).get("authorization")
            identity = self._verifier.verify_header(header if isinstance(header, str) else None)
        except Unauthenticated as error:
            refusal = error
        return _guarded(handler, method, identity, refusal, self._observer, metadata)
