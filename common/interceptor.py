"""The one server interceptor every service installs.

It authenticates the caller (health checking and reflection stay open, so probes and grpcurl
work without a token), makes the identity available to handlers through `current_identity()`, and
turns `ServiceError`s raised anywhere below the handler into gRPC statuses with details.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import grpc

from common.auth import Identity, TokenVerifier, reset_identity, set_identity
from common.errors import ServiceError, Unauthenticated
from common.status import to_status

log = logging.getLogger(__name__)

# grpc-stubs makes ServerInterceptor generic; at run time it is not subscriptable.
if TYPE_CHECKING:
    _ServerInterceptor = grpc.ServerInterceptor[Any, Any]
else:
    _ServerInterceptor = grpc.ServerInterceptor

OPEN_SERVICES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)


def _abort(context: grpc.ServicerContext, error: ServiceError) -> None:
    context.abort_with_status(to_status(error))


def _wrap_unary_response(behavior: Callable[..., Any], identity: Identity | None) -> Callable[..., Any]:
    def wrapped(request_or_iterator: Any, context: grpc.ServicerContext) -> Any:
        token = set_identity(identity)
        try:
            return behavior(request_or_iterator, context)
        except ServiceError as error:
            _abort(context, error)
        finally:
            reset_identity(token)

    return wrapped


def _wrap_stream_response(behavior: Callable[..., Any], identity: Identity | None) -> Callable[..., Any]:
    def wrapped(request_or_iterator: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        token = set_identity(identity)
        try:
            yield from behavior(request_or_iterator, context)
        except ServiceError as error:
            _abort(context, error)
        finally:
            # A generator finalised in another context has nothing to restore.
            with contextlib.suppress(ValueError):
                reset_identity(token)

    return wrapped


def _with_behavior(
    handler: grpc.RpcMethodHandler[Any, Any], wrap: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> grpc.RpcMethodHandler[Any, Any]:
    deserialize, serialize = handler.request_deserializer, handler.response_serializer
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(wrap(handler.unary_unary), deserialize, serialize)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(wrap(handler.unary_stream), deserialize, serialize)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(wrap(handler.stream_unary), deserialize, serialize)
    assert handler.stream_stream is not None
    return grpc.stream_stream_rpc_method_handler(wrap(handler.stream_stream), deserialize, serialize)


class AuthInterceptor(_ServerInterceptor):
    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        if method.startswith(OPEN_SERVICES):
            return handler

        identity: Identity | None = None
        failure: ServiceError | None = None
        try:
            metadata = dict(handler_call_details.invocation_metadata or ())
            header = metadata.get("authorization")
            identity = self._verifier.verify_header(header if isinstance(header, str) else None)
        except Unauthenticated as error:
            failure = error

        streams_response = bool(handler.unary_stream or handler.stream_stream)

        def wrap(behavior: Callable[..., Any]) -> Callable[..., Any]:
            if failure is not None:
                def refuse(_request: Any, context: grpc.ServicerContext) -> Any:
                    _abort(context, failure)

                if streams_response:
                    def refuse_stream(_request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                        _abort(context, failure)
                        yield from ()

                    return refuse_stream
                return refuse
            if streams_response:
                return _wrap_stream_response(behavior, identity)
            return _wrap_unary_response(behavior, identity)

        return _with_behavior(handler, wrap)
