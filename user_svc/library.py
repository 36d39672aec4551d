"""The library as UserService sees it: ContentService over gRPC, asked as the caller.

The caller's bearer token is forwarded, so ContentService applies its own rules to the caller (a
private strategy of another teacher is not found). The three lookups run concurrently under one
deadline; an unreachable or slow ContentService is Unavailable, never a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar
from uuid import UUID

import grpc

from common.errors import Unauthenticated, Unavailable
from common.settings import Settings
from teaching.content.v1 import content_service_pb2 as content_pb
from teaching.content.v1 import content_service_pb2_grpc
from user_svc.rules.references import Found, References
from user_svc.rules.types import AtomReference

# ContentService's batch limit (AIP-231); artifacts cite fewer, but the adapter does not rely on it.
BATCH_SIZE = 100
CHANNEL_OPTIONS = [
    # Reconnect quickly after an outage instead of gRPC's default backoff of up to two minutes.
    ("grpc.initial_reconnect_backoff_ms", 250), ("grpc.max_reconnect_backoff_ms", 2000),
    # An address may list several servers ("ipv4:host:port,host:port"): spread calls over the ready ones.
    ("grpc.lb_policy_name", "round_robin"),
]

T = TypeVar("T")


def open_channel(settings: Settings) -> grpc.Channel:
    return grpc.insecure_channel(settings.content_service_address, options=CHANNEL_OPTIONS)


def _chunks(items: Sequence[T]) -> list[Sequence[T]]:
    return [items[start : start + BATCH_SIZE] for start in range(0, len(items), BATCH_SIZE)]


class ContentLibrary:
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
        book_calls = [self._stub.BatchGetBooks.future(content_pb.BatchGetBooksRequest(book_ids=chunk), **call)
                      for chunk in _chunks(book_ids)]
        atom_calls = [self._stub.BatchGetContentAtoms.future(content_pb.BatchGetContentAtomsRequest(requests=[
            content_pb.GetContentAtomRequest(book_id=book_id, atom_id=atom_id) for book_id, atom_id in chunk
        ]), **call) for chunk in _chunks(atoms)]
        strategy_call = None
        if references.strategy is not None:
            strategy_call = self._stub.GetPedagogyStrategy.future(
                content_pb.GetPedagogyStrategyRequest(strategy_id=references.strategy[1]), **call)
        try:
            books = {UUID(book.book_id) for f in book_calls for book in f.result().books}
            found_atoms = {AtomReference(book_id=UUID(atom.book_id), atom_id=atom.atom_id)
                           for f in atom_calls for atom in f.result().atoms}
            return Found(books=frozenset(books), atoms=frozenset(found_atoms),
                         strategy=strategy_call is not None and _found(strategy_call))
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
