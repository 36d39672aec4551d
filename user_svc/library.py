"""The library as UserService sees it: ContentService over gRPC, asked as the caller.

The caller's bearer token is forwarded, so ContentService applies its own rules to the caller (a
private strategy of another teacher is not found). The three lookups run concurrently under one
deadline; an unreachable or slow ContentService is Unavailable, never a guess.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.errors import Unauthenticated, Unavailable
from common.settings import Settings
from teaching.content.v1 import content_service_pb2 as content_pb
from teaching.content.v1 import content_service_pb2_grpc
from user_svc.rules.references import Found, References
from user_svc.rules.types import AtomReference

CHANNEL_OPTIONS = [
    # Reconnect quickly after an outage instead of gRPC's default backoff of up to two minutes.
    ("grpc.initial_reconnect_backoff_ms", 250), ("grpc.max_reconnect_backoff_ms", 2000),
    # An address may list several servers ("ipv4:host:port,host:port"): spread calls over the ready ones.
    ("grpc.lb_policy_name", "round_robin"),
]


def open_channel(settings: Settings) -> grpc.Channel:
    return grpc.insecure_channel(settings.content_service_address, options=CHANNEL_OPTIONS)


def content_health_check(settings: Settings) -> Callable[[], None]:
    """A health probe: raises unless ContentService reports itself SERVING (on a channel of its own)."""
    health = health_pb2_grpc.HealthStub(open_channel(settings))
    service = content_pb.DESCRIPTOR.services_by_name["ContentService"].full_name

    def check() -> None:
        response = health.Check(health_pb2.HealthCheckRequest(service=service),
                                timeout=settings.content_service_timeout_seconds)
        if response.status != health_pb2.HealthCheckResponse.SERVING:
            raise RuntimeError(f"{service} is {health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)}")

    return check


class ContentLibrary:
    """One batch call per kind of reference: an artifact cites at most limits.LIST_MAX_ITEMS books and
    atoms, within ContentService's batch limit (a unit test holds the two together)."""

    def __init__(self, channel: grpc.Channel, timeout_seconds: float) -> None:
        self._stub = content_service_pb2_grpc.ContentServiceStub(channel)
        self._timeout = timeout_seconds

    def find(self, references: References, authorization: str) -> Found:
        if not references:
            return Found()
        call: dict[str, Any] = {"metadata": (("authorization", authorization),), "timeout": self._timeout}
        book_ids = sorted({str(book_id) for _, book_id in references.books})
        atoms = sorted({(str(atom.book_id), atom.atom_id) for _, atom in references.atoms})
        # Started together, collected after: the lookups overlap instead of adding up.
        books_call = self._stub.BatchGetBooks.future(
            content_pb.BatchGetBooksRequest(book_ids=book_ids), **call) if book_ids else None
        atoms_call = self._stub.BatchGetContentAtoms.future(content_pb.BatchGetContentAtomsRequest(requests=[
            content_pb.GetContentAtomRequest(book_id=book_id, atom_id=atom_id) for book_id, atom_id in atoms
        ]), **call) if atoms else None
        strategy_call = self._stub.GetPedagogyStrategy.future(content_pb.GetPedagogyStrategyRequest(
            strategy_id=references.strategy[1]), **call) if references.strategy is not None else None
        try:
            return Found(
                books=frozenset(UUID(b.book_id) for b in books_call.result().books) if books_call else frozenset(),
                atoms=frozenset(AtomReference(book_id=UUID(a.book_id), atom_id=a.atom_id)
                                for a in atoms_call.result().atoms) if atoms_call else frozenset(),
                strategy=strategy_call is not None and _found(strategy_call),
            )
        except grpc.RpcError as error:
            raise _unanswered(error) from error


def _found(call: grpc.Future[Any]) -> bool:
    """Whether a Get answered (NOT_FOUND: no, the caller cannot see it)."""
    try:
        call.result()
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.NOT_FOUND:
            return False
        raise
    return True


def _unanswered(error: grpc.RpcError) -> Exception:
    code = error.code()
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return Unauthenticated(f"ContentService refused the caller's credentials: {error.details()}")
    return Unavailable(
        f"ContentService could not check the references ({code.name}); nothing was written, retry later",
        reason="CONTENT_SERVICE_UNAVAILABLE",
    )
