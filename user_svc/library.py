"""The library as UserService sees it: ContentService over gRPC, asked as the caller.

One CheckReferences call answers for every book, passage and strategy an artifact cites. The
caller's bearer token is forwarded, so ContentService applies its own rules to the caller (a
private strategy of another teacher is not found). An unreachable or slow ContentService is
Unavailable, never a guess.

Reads (the reference check of an artifact returned by Get, Update or Rollback) may answer from
what ContentService confirmed in the last REFERENCE_CACHE_SECONDS in this process, without asking
again: books are immutable and only ever deleted, atoms live and die with their book, and a
strategy's owner never changes, so a confirmed reference can only have been deleted since; such a
deletion is flagged by reads at most that many seconds late (docs/grounding.md). Only what was
found is remembered; a reference found missing is forgotten at once. Writes always ask.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
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
# References remembered at most (the oldest confirmation is dropped first).
CACHE_CAPACITY = 50_000


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
    """An artifact cites at most limits.LIST_MAX_ITEMS books and atoms, within CheckReferences' limit
    (a unit test holds the two together)."""

    def __init__(self, channel: grpc.Channel, timeout_seconds: float, cache_seconds: float = 0.0) -> None:
        self._stub = content_service_pb2_grpc.ContentServiceStub(channel)
        self._timeout = timeout_seconds
        self._confirmed = Confirmations(cache_seconds)

    def find(self, references: References, caller: str, authorization: str) -> Found:
        """What ContentService holds of `references` now, as the caller (`authorization`) sees it."""
        if not references:
            return Found()
        book_ids = sorted({book_id for _, book_id in references.books})
        atoms = sorted({_atom(atom) for _, atom in references.atoms})
        strategy = _strategy(references, caller)
        try:
            answer = self._stub.CheckReferences(content_pb.CheckReferencesRequest(
                book_ids=[str(book_id) for book_id in book_ids],
                atoms=[content_pb.GetContentAtomRequest(book_id=str(b), atom_id=str(a)) for _, b, a in atoms],
                pedagogy_strategy_ids=[str(strategy[2])] if strategy is not None else [],
            ), metadata=(("authorization", authorization),), timeout=self._timeout)
        except grpc.RpcError as error:
            raise _unanswered(error) from error
        missing_books = {UUID(book_id) for book_id in answer.missing_book_ids}
        missing_atoms = {("atom", UUID(a.book_id), UUID(a.atom_id)) for a in answer.missing_atoms}
        strategy_found = strategy is not None and not answer.missing_pedagogy_strategy_ids
        self._confirmed.record([(("book", b), b not in missing_books) for b in book_ids]
                               + [(key, key not in missing_atoms) for key in atoms]
                               + ([(strategy, strategy_found)] if strategy is not None else []))
        return Found(
            books=frozenset(b for b in book_ids if b not in missing_books),
            atoms=frozenset(atom for _, atom in references.atoms if _atom(atom) not in missing_atoms),
            strategy=strategy_found,
        )

    def find_recent(self, references: References, caller: str, authorization: str) -> Found:
        """As `find`, counting what ContentService confirmed within the cache time as found: only the
        rest is asked for, and nothing when everything was confirmed."""
        fresh = self._confirmed.fresh()
        strategy = _strategy(references, caller)
        confirmed_books = {b for _, b in references.books if fresh(("book", b))}
        confirmed_atoms = {atom for _, atom in references.atoms if fresh(_atom(atom))}
        strategy_confirmed = strategy is not None and fresh(strategy)
        asked = self.find(References(
            books=tuple(item for item in references.books if item[1] not in confirmed_books),
            atoms=tuple(item for item in references.atoms if item[1] not in confirmed_atoms),
            strategy=None if strategy_confirmed else references.strategy,
        ), caller, authorization)
        return Found(books=asked.books | confirmed_books, atoms=asked.atoms | confirmed_atoms,
                     strategy=asked.strategy or strategy_confirmed)


def _atom(atom: AtomReference) -> tuple[str, UUID, UUID]:
    return ("atom", atom.book_id, UUID(atom.atom_id))


def _strategy(references: References, caller: str) -> tuple[str, str, UUID] | None:
    """A strategy's visibility depends on who asks: the caller is part of its key."""
    return ("strategy", caller, UUID(references.strategy[1])) if references.strategy is not None else None


class Confirmations:
    """When ContentService last confirmed each reference, kept for `seconds` (0: nothing is kept)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic,
                 capacity: int = CACHE_CAPACITY) -> None:
        self._seconds, self._clock, self._capacity = seconds, clock, capacity
        self._at: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def fresh(self) -> Callable[[Hashable], bool]:
        """Whether a reference was confirmed less than the cache time before now (or since)."""
        now = self._clock()
        return lambda key: now - self._at.get(key, float("-inf")) < self._seconds

    def record(self, outcomes: list[tuple[Hashable, bool]]) -> None:
        """Found references are confirmed now; missing ones are forgotten."""
        if self._seconds <= 0:
            return
        now = self._clock()
        with self._lock:
            for key, found in outcomes:
                self._at.pop(key, None)  # re-inserted last: the dict stays in confirmation order
                if found:
                    self._at[key] = now
            while len(self._at) > self._capacity:
                del self._at[next(iter(self._at))]


def _unanswered(error: grpc.RpcError) -> Exception:
    code = error.code()
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return Unauthenticated(f"ContentService refused the caller's credentials: {error.details()}")
    return Unavailable(
        f"ContentService could not check the references ({code.name}); nothing was written, retry later",
        reason="CONTENT_SERVICE_UNAVAILABLE",
    )
