"""UserService CreateArtifact / GetArtifact over gRPC against user_svc.repository's SQL through psycopg
(a pool configured as the service's), and the gRPC floor of the same server (a health Check) after
each pair. The quiz cites a real book, atom and global strategy, so the gRPC path includes its
reference checks with ContentService (docs/grounding.md): one CheckReferences round trip per create,
none for a read of references confirmed within REFERENCE_CACHE_SECONDS; the SQL path has none."""

from __future__ import annotations

import os
import uuid
from typing import Any

import psycopg
from grpc_health.v1 import health_pb2, health_pb2_grpc
from psycopg import Connection
from psycopg_pool import ConnectionPool

from bench.harness import Metadata, auth, channel, ratio, run_load
from common.db import user_pool
from devstack import Stack
from teaching.user.v1 import user_service_pb2 as pb
from teaching.user.v1 import user_service_pb2_grpc
from user_svc import repository
from user_svc.api import body_json
from user_svc.rules.types import ArtifactContent, ArtifactKind, AtomReference


def quiz(book_id: str, atom_id: str, strategy_id: str) -> pb.ClassArtifact:
    return pb.ClassArtifact(
        kind=pb.ARTIFACT_KIND_QUIZ,
        title="Loops and conditionals check",
        quiz=pb.Quiz(questions=[
            pb.QuizQuestion(prompt=f"What does range({n}) produce?", choices=[f"0..{n - 1}", f"1..{n}", "nothing"],
                            correct_choice_index=0, answer=f"0..{n - 1}", explanation="range stops before n.")
            for n in range(1, 6)
        ]),
        book_ids=[book_id],
        atom_references=[pb.AtomReference(book_id=book_id, atom_id=atom_id)],
        pedagogy_strategy_id=strategy_id,
    )


def citable(conninfo: str, book_id: uuid.UUID) -> pb.ClassArtifact:
    """The benchmark's quiz, citing the book's first atom and a global strategy."""
    with psycopg.connect(conninfo) as conn:
        atom = conn.execute("SELECT atom_id FROM content_atoms JOIN books USING (book_no) WHERE book_id = %s "
                            "ORDER BY ordinal LIMIT 1", (book_id,)).fetchone()
        strategy = conn.execute("SELECT strategy_id FROM pedagogy_strategies WHERE owner_id IS NULL "
                                "ORDER BY name LIMIT 1").fetchone()
    if atom is None or strategy is None:
        raise RuntimeError(f"book {book_id} has no atom, or the library no global strategy")
    return quiz(str(book_id), str(atom[0]), str(strategy[0]))


class _Callers:
    """The four calls for one owner; created ids are kept so the Get calls read real rows."""

    def __init__(self, stub: user_service_pb2_grpc.UserServiceStub, pool: ConnectionPool[Connection[Any]],
                 owner: str, metadata: Metadata, message: pb.ClassArtifact) -> None:
        self.stub, self.pool, self.owner, self.metadata = stub, pool, owner, metadata
        self.message = message
        self.content = ArtifactContent(
            kind=ArtifactKind.QUIZ, title=message.title, body=body_json(message.quiz),
            book_ids=tuple(uuid.UUID(b) for b in message.book_ids),
            atom_references=tuple(AtomReference(uuid.UUID(r.book_id), r.atom_id) for r in message.atom_references),
            pedagogy_strategy_id=message.pedagogy_strategy_id,
        )
        self.grpc_ids: list[str] = []
        self.raw_ids: list[uuid.UUID] = []

    def grpc_create(self, _: int) -> object:
        response = self.stub.CreateArtifact(pb.CreateArtifactRequest(artifact=self.message), metadata=self.metadata,
                                            timeout=30)
        self.grpc_ids.append(response.artifact.artifact_id)
        return response

    def raw_create(self, _: int) -> object:
        with self.pool.connection() as conn:
            artifact = repository.insert_artifact(conn, self.owner, uuid.uuid4(), self.content)
        self.raw_ids.append(artifact.artifact_id)
        return artifact

    def grpc_get(self, i: int) -> object:
        request = pb.GetArtifactRequest(artifact_id=self.grpc_ids[i % len(self.grpc_ids)])
        return self.stub.GetArtifact(request, metadata=self.metadata, timeout=30)

    def raw_get(self, i: int) -> object:
        with self.pool.connection() as conn:
            found = repository.get_artifact(conn, self.owner, self.raw_ids[i % len(self.raw_ids)])
        if found is None:
            raise RuntimeError("an artifact written by the benchmark is missing")
        return found


def bench_users(stack: Stack, book_id: uuid.UUID, *, levels: tuple[int, ...], requests: int,
                max_seconds: float) -> dict[str, Any]:
    message = citable(stack.settings.content_conninfo(), book_id)
    pool = user_pool(stack.settings, name="bench-raw", configure=repository.configure_connection)
    results: dict[str, Any] = {"create": [], "get": []}
    try:
        with channel(stack.address("user")) as user_channel:
            stub = user_service_pb2_grpc.UserServiceStub(user_channel)
            health = health_pb2_grpc.HealthStub(user_channel)

            def floor(_: int) -> object:
                """The gRPC floor on the same server: a health Check (through the same interceptor)."""
                return health.Check(health_pb2.HealthCheckRequest(), timeout=30)

            for level in levels:
                owner = f"bench-user-{level}"
                callers = _Callers(stub, pool, owner, auth(stack, owner), message)
                pairs = (("create", callers.grpc_create, callers.raw_create),
                         ("get", callers.grpc_get, callers.raw_get))
                for kind, grpc_call, raw_call in pairs:
                    grpc_s = run_load(grpc_call, concurrency=level, requests=requests,
                                      max_seconds=max_seconds).summary()
                    raw_s = run_load(raw_call, concurrency=level, requests=requests, max_seconds=max_seconds).summary()
                    floor_s = run_load(floor, concurrency=level, requests=requests, max_seconds=max_seconds).summary()
                    results[kind].append({
                        "concurrency": level,
                        "grpc": grpc_s,
                        "raw_sql": raw_s,
                        "floor": floor_s,
                        "load_average": round(os.getloadavg()[0], 2),
                        "ratio_throughput": ratio(grpc_s["throughput_rps"], raw_s["throughput_rps"]),
                        "ratio_p50": ratio(grpc_s["p50_ms"], raw_s["p50_ms"]),
                        "added_p50_ms": round(grpc_s["p50_ms"] - raw_s["p50_ms"], 3),
                    })
    finally:
        pool.close()
    return results
