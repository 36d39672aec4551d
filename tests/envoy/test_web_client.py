"""A web client's view of the suite: JSON, gRPC-Web and gRPC through the real Envoy front in front
of the real services (the session stack)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack import Stack
from teaching.content.v1 import content_service_pb2 as content_pb
from teaching.content.v1 import content_service_pb2_grpc
from teaching.ingest.v1 import ingest_service_pb2 as ingest_pb
from teaching.ingest.v1 import ingest_service_pb2_grpc
from teaching.user.v1 import user_service_pb2 as user_pb
from teaching.user.v1 import user_service_pb2_grpc
from tests.envoy.web import Reply, grpc_web_call, http_request

TERMINAL_STATES = {"INGEST_JOB_STATE_SUCCEEDED", "INGEST_JOB_STATE_FAILED", "INGEST_JOB_STATE_CANCELLED"}
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


@pytest.fixture(scope="module")
def front(stack: Stack) -> str:
    assert stack.with_envoy, "the stack runs without Envoy"
    return stack.address("envoy")


@dataclass
class Caller:
    """A web client with its own user id and bearer token."""

    front: str
    user_id: str
    token: str

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return http_request(self.front, method, path, body=body, token=self.token, **kwargs)

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        reply = self.call(method, path, body)
        assert reply.status == 200, (method, path, reply.status, reply.body)
        assert reply.header("content-type") == "application/json"
        return reply.json()


@pytest.fixture
def new_caller(front: str, make_token: Callable[..., str]) -> Callable[..., Caller]:
    def make(*roles: str) -> Caller:
        user_id = f"web-{uuid.uuid4().hex[:12]}"
        return Caller(front, user_id, make_token(user_id, *(roles or ("teacher",))))

    return make


@pytest.fixture
def teacher(new_caller: Callable[..., Caller]) -> Caller:
    return new_caller("teacher")


@pytest.fixture
def admin(new_caller: Callable[..., Caller]) -> Caller:
    return new_caller("admin")


def assert_error(reply: Reply, http_status: int, grpc_code: int) -> dict[str, Any]:
    """A transcoded gRPC error: the matching HTTP status and a google.rpc.Status JSON body."""
    assert reply.status == http_status, (reply.status, reply.body)
    assert reply.header("content-type") == "application/json", reply.headers
    body: dict[str, Any] = reply.json()
    assert body["code"] == grpc_code, body
    assert body["message"]
    assert isinstance(body["details"], list)
    return body


# -- the book the content and ingest checks read (uploaded through the front as plain gRPC) -------------


@dataclass
class UploadedBook:
    book_id: str
    job_id: str
    watch: Reply


@pytest.fixture(scope="module")
def book(front: str, corpus: Path, make_token: Callable[..., str]) -> Iterator[UploadedBook]:
    token = make_token(f"web-admin-{uuid.uuid4().hex[:8]}", "admin")
    metadata = [("authorization", f"Bearer {token}")]
    # A unique file (bytes after %%EOF are ignored by PDF readers), so no other test's copy is reused.
    data = (corpus / "toc.pdf").read_bytes() + f"\n% envoy-web-test {uuid.uuid4()}\n".encode()

    def requests() -> Iterator[ingest_pb.UploadBookRequest]:
        yield ingest_pb.UploadBookRequest(
            metadata=ingest_pb.UploadBookMetadata(title="Envoy web test book", filename="toc.pdf")
        )
        for offset in range(0, len(data), 4096):
            yield ingest_pb.UploadBookRequest(chunk=data[offset : offset + 4096])

    with grpc.insecure_channel(front) as channel:
        stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
        uploaded = stub.UploadBook(requests(), metadata=metadata, timeout=60)
    job_id = uploaded.job.job_id
    # The JSON watch streams until the job ends; nothing cuts it short (no route timeout, no buffering).
    watch = http_request(front, "GET", f"/v1/ingest-jobs/{job_id}:watch", token=token, timeout=600)
    assert watch.status == 200, watch.body
    events = watch.json()
    assert events[-1]["job"]["state"] == "INGEST_JOB_STATE_SUCCEEDED", events[-1]
    yield UploadedBook(uploaded.book_id, job_id, watch)
    http_request(front, "DELETE", f"/v1/books/{uploaded.book_id}", token=token)


# -- JSON round trips ------------------------------------------------------------------------------------


def test_profile_round_trip(teacher: Caller) -> None:
    profile = teacher.ok("GET", "/v1/profile")["profile"]
    assert profile["userId"] == teacher.user_id
    # lowerCamelCase names, and default values printed rather than left out.
    assert profile["displayName"] == "" and profile["gradeLevels"] == [] and profile["activeBooks"] == []

    changes = {"displayName": "Ms Web", "gradeLevels": ["5", "6"], "language": "es-MX"}
    updated = teacher.ok("PATCH", "/v1/profile?updateMask=displayName,gradeLevels,language", changes)["profile"]
    assert {key: updated[key] for key in changes} == changes
    assert teacher.ok("GET", "/v1/profile")["profile"]["displayName"] == "Ms Web"


def _quiz(title: str) -> dict[str, Any]:
    question = {"prompt": "2 + 2?", "choices": ["3", "4"], "correctChoiceIndex": 1, "answer": "4"}
    return {"kind": "ARTIFACT_KIND_QUIZ", "title": title, "quiz": {"questions": [question]}}


def test_artifact_round_trip(teacher: Caller, new_caller: Callable[..., Caller]) -> None:
    created = teacher.ok("POST", "/v1/artifacts", _quiz("Week 1 quiz"))["artifact"]
    artifact_id = created["artifactId"]
    assert created["ownerId"] == teacher.user_id
    assert created["revision"] == "1"  # int64 is a string in proto3 JSON
    assert created["quiz"]["questions"][0]["correctChoiceIndex"] == 1

    assert teacher.ok("GET", f"/v1/artifacts/{artifact_id}")["artifact"] == created
    listed = teacher.ok("GET", "/v1/artifacts?kind=ARTIFACT_KIND_QUIZ&pageSize=50")["artifacts"]
    assert artifact_id in [a["artifactId"] for a in listed]

    update = {"title": "Week 1 quiz (revised)", "etag": created["etag"]}
    updated = teacher.ok("PATCH", f"/v1/artifacts/{artifact_id}?updateMask=title", update)["artifact"]
    assert updated["title"] == "Week 1 quiz (revised)" and updated["revision"] == "2"
    revisions = teacher.ok("GET", f"/v1/artifacts/{artifact_id}/revisions")["revisions"]
    assert [r["artifact"]["title"] for r in revisions] == ["Week 1 quiz"]

    # Another teacher cannot see it: 404, not 403.
    assert_error(new_caller("teacher").call("GET", f"/v1/artifacts/{artifact_id}"), 404, 5)

    assert teacher.ok("DELETE", f"/v1/artifacts/{artifact_id}") == {}
    assert_error(teacher.call("GET", f"/v1/artifacts/{artifact_id}"), 404, 5)


def test_pedagogy_round_trip(teacher: Caller, new_caller: Callable[..., Caller]) -> None:
    body = {"name": f"Think-pair-share {teacher.user_id}", "description": "Pairs discuss", "tags": ["pairs"]}
    created = teacher.ok("POST", "/v1/pedagogy-strategies", body)["strategy"]
    strategy_id = created["strategyId"]
    assert created["ownerId"] == teacher.user_id
    assert created["scope"] == "PEDAGOGY_SCOPE_PRIVATE"

    assert teacher.ok("GET", f"/v1/pedagogy-strategies/{strategy_id}")["strategy"]["name"] == body["name"]
    mine = teacher.ok("GET", "/v1/pedagogy-strategies?scope=PEDAGOGY_SCOPE_PRIVATE")["strategies"]
    assert [s["strategyId"] for s in mine] == [strategy_id]

    patched = teacher.ok("PATCH", f"/v1/pedagogy-strategies/{strategy_id}?updateMask=description",
                         {"description": "Pairs discuss, then share"})["strategy"]
    assert patched["description"] == "Pairs discuss, then share" and patched["name"] == body["name"]

    assert_error(new_caller("teacher").call("GET", f"/v1/pedagogy-strategies/{strategy_id}"), 404, 5)
    assert teacher.ok("DELETE", f"/v1/pedagogy-strategies/{strategy_id}") == {}
    assert_error(teacher.call("GET", f"/v1/pedagogy-strategies/{strategy_id}"), 404, 5)


def test_books_and_outline(teacher: Caller, book: UploadedBook, content_stub: Any, auth: Any) -> None:
    found = teacher.ok("GET", f"/v1/books/{book.book_id}")["book"]
    assert found["bookId"] == book.book_id and found["title"] == "Envoy web test book"
    assert found["pageCount"] == 2

    outline = teacher.ok("GET", f"/v1/books/{book.book_id}/outline")
    titles = [node["title"] for node in outline["nodes"]]
    assert titles == ["One", "One-A", "One-B", "One-B-I", "One-B-II", "Two", "Three", "Three-A", "Three-B"]
    # The same answer as a direct gRPC call, field for field.
    direct = content_stub.GetBookOutline(content_pb.GetBookOutlineRequest(book_id=book.book_id),
                                         metadata=auth("someone"), timeout=15)
    assert [(n["nodeId"], n["parentNodeId"], n["level"]) for n in outline["nodes"]] == [
        (n.node_id, n.parent_node_id, n.level) for n in direct.nodes
    ]


def test_search_and_atom(teacher: Caller, book: UploadedBook, content_stub: Any, auth: Any) -> None:
    query = {"query": "Three", "bookIds": [book.book_id], "topK": 5, "mode": "SEARCH_MODE_TEXT"}
    results = teacher.ok("POST", "/v1/content:search", query)["results"]
    assert results, "no passage found for 'Three'"
    first = results[0]
    assert set(first) >= {"atomId", "bookId", "nodeId", "text", "score", "pageNumber", "nodePath"}
    assert first["bookId"] == book.book_id and "Three" in first["text"]

    direct = content_stub.SearchContent(
        content_pb.SearchContentRequest(query="Three", book_ids=[book.book_id], top_k=5,
                                        mode=content_pb.SEARCH_MODE_TEXT),
        metadata=auth("someone"), timeout=15,
    )
    assert [r["atomId"] for r in results] == [r.atom_id for r in direct.results]

    atom = teacher.ok("GET", f"/v1/books/{book.book_id}/atoms/{first['atomId']}")["atom"]
    assert atom["text"] == first["text"] and atom["nodePath"] == first["nodePath"]


def test_watch_streams_the_job_as_a_json_array(book: UploadedBook, admin: Caller) -> None:
    # Streamed (chunked), not buffered into one sized body.
    assert book.watch.header("transfer-encoding") == "chunked"
    events = book.watch.json()
    assert isinstance(events, list) and events
    assert all(event["job"]["jobId"] == book.job_id for event in events)
    assert [e["job"]["state"] for e in events].count("INGEST_JOB_STATE_SUCCEEDED") == 1

    # Watching a finished job answers with its final state and ends.
    again = admin.ok("GET", f"/v1/ingest-jobs/{book.job_id}:watch")
    assert again[-1]["job"]["state"] in TERMINAL_STATES
    job = admin.ok("GET", f"/v1/ingest-jobs/{book.job_id}")["job"]
    assert job["bookId"] == book.book_id and job["state"] == "INGEST_JOB_STATE_SUCCEEDED"
    assert book.job_id in [j["jobId"] for j in admin.ok("GET", "/v1/ingest-jobs?pageSize=200")["jobs"]]


# -- errors ---------------------------------------------------------------------------------------------


def test_missing_token_is_401(front: str) -> None:
    assert_error(http_request(front, "GET", "/v1/profile"), 401, 16)
    assert_error(http_request(front, "GET", "/v1/profile", headers={"authorization": "Bearer nope"}), 401, 16)


def test_admin_only_write_is_403(teacher: Caller) -> None:
    body = {"name": "Global by a teacher", "scope": "PEDAGOGY_SCOPE_GLOBAL"}
    assert_error(teacher.call("POST", "/v1/pedagogy-strategies", body), 403, 7)


def test_unknown_resource_is_404_with_resource_info(teacher: Caller) -> None:
    body = assert_error(teacher.call("GET", f"/v1/artifacts/{uuid.uuid4()}"), 404, 5)
    assert body["details"][0]["@type"] == "type.googleapis.com/google.rpc.ResourceInfo"


def test_bad_input_is_400_with_field_violations(teacher: Caller) -> None:
    body = assert_error(teacher.call("POST", "/v1/artifacts", _quiz("")), 400, 3)
    bad_request = next(d for d in body["details"] if d["@type"] == BAD_REQUEST)
    assert any("title" in v["field"] for v in bad_request["fieldViolations"]), bad_request


def test_requests_the_front_refuses(teacher: Caller) -> None:
    # Not JSON, a field of the wrong type: 400 before any service is called (tests/reliability has more).
    assert teacher.call("POST", "/v1/artifacts", raw_body=b"{not json",
                        headers={"content-type": "application/json"}).status == 400
    assert teacher.call("POST", "/v1/artifacts", {"title": ["a", "list"]}).status == 400
    # A path that maps to no RPC, and a method the path does not have.
    assert teacher.call("GET", "/v1/nothing-here").status == 404
    assert teacher.call("PUT", "/v1/profile", {}).status == 404


def test_oversized_json_body_is_refused(teacher: Caller) -> None:
    huge = {"query": "x" * (5 * 1024 * 1024), "bookIds": [str(uuid.uuid4())]}
    assert teacher.call("POST", "/v1/content:search", huge).status == 413


# -- gRPC-Web -------------------------------------------------------------------------------------------


def allowed_origin(stack: Stack) -> str:
    """The first CORS origin of the configuration the stack's Envoy runs with."""
    config = yaml.safe_load((stack.data_dir / "envoy.yaml").read_text())
    routes = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    policy = routes["route_config"]["virtual_hosts"][0]["typed_per_filter_config"]["envoy.filters.http.cors"]
    origin: str = policy["allow_origin_string_match"][0]["exact"]
    return origin


@pytest.mark.parametrize("text", [False, True], ids=["binary", "text"])
def test_grpc_web_unary_call(front: str, stack: Stack, teacher: Caller, text: bool) -> None:
    origin = allowed_origin(stack)
    request = user_pb.GetProfileRequest().SerializeToString()
    reply, result = grpc_web_call(front, "/teaching.user.v1.UserService/GetProfile", request, text=text,
                                  token=teacher.token, origin=origin)
    assert result.status == 0, result.message
    assert len(result.messages) == 1
    assert "grpc-status" in result.trailers  # the status travels in the trailers frame (flag 0x80)
    assert user_pb.GetProfileResponse.FromString(result.messages[0]).profile.user_id == teacher.user_id
    assert reply.header("access-control-allow-origin") == origin
    assert "grpc-status" in (reply.header("access-control-expose-headers") or "")


@pytest.mark.parametrize("text", [False, True], ids=["binary", "text"])
def test_grpc_web_error_status(front: str, text: bool) -> None:
    request = user_pb.GetProfileRequest().SerializeToString()
    _, result = grpc_web_call(front, "/teaching.user.v1.UserService/GetProfile", request, text=text)
    assert result.status == grpc.StatusCode.UNAUTHENTICATED.value[0]
    assert result.messages == []


def test_grpc_web_server_streaming(front: str, admin: Caller, book: UploadedBook) -> None:
    request = ingest_pb.WatchIngestJobRequest(job_id=book.job_id).SerializeToString()
    _, result = grpc_web_call(front, "/teaching.ingest.v1.IngestService/WatchIngestJob", request, text=False,
                              token=admin.token)
    assert result.status == 0, result.message
    jobs = [ingest_pb.WatchIngestJobResponse.FromString(m).job for m in result.messages]
    assert jobs and jobs[-1].state == ingest_pb.INGEST_JOB_STATE_SUCCEEDED


# -- CORS -----------------------------------------------------------------------------------------------


def preflight(front: str, path: str, origin: str) -> Reply:
    return http_request(front, "OPTIONS", path, headers={
        "origin": origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type,x-grpc-web",
    })


@pytest.mark.parametrize("path", ["/v1/artifacts", "/teaching.user.v1.UserService/GetProfile"])
def test_preflight_is_answered_for_an_allowed_origin(front: str, stack: Stack, path: str) -> None:
    origin = allowed_origin(stack)
    reply = preflight(front, path, origin)
    assert reply.status == 200
    assert reply.header("access-control-allow-origin") == origin
    allowed = (reply.header("access-control-allow-headers") or "").split(",")
    assert {"authorization", "content-type", "x-grpc-web", "grpc-timeout"} <= set(allowed)
    assert "POST" in (reply.header("access-control-allow-methods") or "")


def test_preflight_is_not_answered_for_other_origins(front: str, teacher: Caller) -> None:
    reply = preflight(front, "/v1/artifacts", "https://evil.example")
    assert reply.header("access-control-allow-origin") is None
    assert reply.status != 200
    # Nor do the answers to its actual requests carry an allow-origin header.
    answer = teacher.call("GET", "/v1/profile", headers={"origin": "https://evil.example"})
    assert answer.status == 200 and answer.header("access-control-allow-origin") is None


# -- plain gRPC through the front -------------------------------------------------------------------------


def test_plain_grpc_through_the_front(front: str, teacher: Caller, auth: Any) -> None:
    metadata = [("authorization", f"Bearer {teacher.token}")]
    with grpc.insecure_channel(front) as channel:
        profile = user_service_pb2_grpc.UserServiceStub(channel).GetProfile(
            user_pb.GetProfileRequest(), metadata=metadata, timeout=15).profile
        assert profile.user_id == teacher.user_id
        strategies = content_service_pb2_grpc.ContentServiceStub(channel).ListPedagogyStrategies(
            content_pb.ListPedagogyStrategiesRequest(), metadata=metadata, timeout=15)
        assert strategies is not None
        with pytest.raises(grpc.RpcError) as caught:
            user_service_pb2_grpc.UserServiceStub(channel).GetProfile(user_pb.GetProfileRequest(), timeout=15)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=15)
        assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_json_errors_match_direct_grpc_errors(teacher: Caller, stack: Stack) -> None:
    # The transcoder's body is the service's own status, unchanged.
    missing = str(uuid.uuid4())
    reply = teacher.call("GET", f"/v1/artifacts/{missing}")
    with grpc.insecure_channel(stack.address("user")) as channel, pytest.raises(grpc.RpcError) as caught:
        user_service_pb2_grpc.UserServiceStub(channel).GetArtifact(
            user_pb.GetArtifactRequest(artifact_id=missing),
            metadata=[("authorization", f"Bearer {teacher.token}")], timeout=15)
    assert json.loads(reply.body)["message"] == caught.value.details()


def test_grpc_upload_larger_than_the_json_limit_streams_through(front: str, corpus: Path, admin: Caller) -> None:
    # Over six 1 MiB chunks in one client stream: the JSON body limit must not apply to gRPC. (A 6 MiB
    # comment, then %%EOF again: still a PDF as far as the upload checks go; parsing may fail later.)
    padding = b"%" + uuid.uuid4().hex.encode() + b"%" * (6 * 1024 * 1024) + b"\n%%EOF\n"
    data = (corpus / "toc.pdf").read_bytes() + b"\n" + padding

    def requests() -> Iterator[ingest_pb.UploadBookRequest]:
        yield ingest_pb.UploadBookRequest(
            metadata=ingest_pb.UploadBookMetadata(title="Envoy large upload", filename="large.pdf"))
        for offset in range(0, len(data), 1024 * 1024):
            yield ingest_pb.UploadBookRequest(chunk=data[offset : offset + 1024 * 1024])

    with grpc.insecure_channel(front) as channel:
        uploaded = ingest_service_pb2_grpc.IngestServiceStub(channel).UploadBook(
            requests(), metadata=[("authorization", f"Bearer {admin.token}")], timeout=120)
    assert uploaded.job.size_bytes == len(data)
    final = admin.ok("GET", f"/v1/ingest-jobs/{uploaded.job.job_id}:watch")[-1]["job"]
    assert final["state"] in TERMINAL_STATES
    if final["state"] == "INGEST_JOB_STATE_SUCCEEDED":
        admin.ok("DELETE", f"/v1/books/{uploaded.book_id}")


def test_envoy_sees_every_upstream_healthy_over_grpc_health(stack: Stack, front: str) -> None:
    # Active health checks ask grpc.health.v1 for each service by name; a wrong name would mark it unhealthy.
    import time
    import urllib.request

    def unhealthy() -> dict[str, Any]:
        url = f"http://127.0.0.1:{stack.ports.envoy_admin}/clusters?format=json"
        with urllib.request.urlopen(url, timeout=5) as response:
            clusters = json.loads(response.read())["cluster_statuses"]
        states = {}
        for cluster in clusters:
            for host in cluster.get("host_statuses", []):
                health = host["health_status"]
                if health.get("eds_health_status") != "HEALTHY" or len(health) > 1:
                    states[cluster["name"]] = health
        return states

    deadline = time.monotonic() + 60
    while (bad := unhealthy()) and time.monotonic() < deadline:
        time.sleep(1)
    assert bad == {}
