"""CORS as a web developer meets it: a page in headless Chromium calls the JSON API through the front
with a bearer token. The default origins are the usual local dev servers (Vite's localhost:5173 here);
the browser itself enforces the answer."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from devstack import Stack
from tests.browser import load, page, page_server

QUIZ = {"kind": "ARTIFACT_KIND_QUIZ", "title": "Browser quiz",
        "quiz": {"questions": [{"prompt": "2 + 2?", "choices": ["3", "4"], "correctChoiceIndex": 1, "answer": "4"}]}}


def calls() -> dict[str, tuple[str, str, Any]]:
    return {
        "profile": ("GET", "/v1/profile", None),
        "created": ("POST", "/v1/artifacts", QUIZ),
        "missing": ("GET", f"/v1/artifacts/{uuid.uuid4()}", None),
    }


def test_a_page_on_localhost_5173_calls_the_json_api_with_a_bearer_token(
    stack: Stack, make_token: Callable[..., str]
) -> None:
    user = f"browser-{uuid.uuid4().hex[:8]}"
    html = page(f"http://127.0.0.1:{stack.ports.envoy}", make_token(user, "teacher"), calls())
    with page_server(html, port=5173) as server:
        report = load(server, "http://localhost:5173/")
    assert report["origin"] == "http://localhost:5173"
    assert report["profile"] == {"status": 200, "body": {"profile": report["profile"]["body"]["profile"]}}, report
    assert report["profile"]["body"]["profile"]["userId"] == user
    assert report["created"]["status"] == 200, report["created"]
    assert report["created"]["body"]["artifact"]["ownerId"] == user
    # Error answers carry the CORS headers too, so the page can read the error body.
    assert report["missing"]["status"] == 404 and report["missing"]["body"]["code"] == 5, report["missing"]


def test_a_page_from_an_origin_not_allowed_cannot_read_anything(stack: Stack, make_token: Callable[..., str]) -> None:
    html = page(f"http://127.0.0.1:{stack.ports.envoy}", make_token("browser-other", "teacher"), calls())
    with page_server(html) as server:
        origin = f"http://127.0.0.1:{server.server_address[1]}"
        report = load(server, origin + "/")
    assert report["origin"] == origin
    for name in calls():
        assert report[name] == {"error": "TypeError: Failed to fetch"}, (name, report[name])
