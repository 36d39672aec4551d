"""Embedders: the default hashing one, the HTTP one against a tiny real server, a clear error for
the optional sentence-transformers one."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import numpy
import pytest
from pydantic import SecretStr

from common.errors import FailedPrecondition
from common.settings import Settings
from content_svc.embedding import HashingEmbedder, HttpEmbedder, embedder_from_settings


def test_hashing_embedder_is_deterministic_normalised_and_lexical():
    embedder = embedder_from_settings(Settings(embedder="hashing", embedding_dimension=256))
    assert isinstance(embedder, HashingEmbedder) and embedder.dimension == 256
    vectors = embedder.embed(["the cell membrane", "The cell membrane!", "stock market prices", ""])
    assert vectors.dtype == numpy.float32 and vectors.shape == (4, 256)
    assert numpy.allclose(numpy.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-5)
    assert not vectors[3].any()  # no words, no direction
    assert numpy.allclose(vectors[0], vectors[1])
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert numpy.array_equal(embedder.embed(["the cell membrane"]), HashingEmbedder(256).embed(["the cell membrane"]))


def test_http_embedder_talks_to_an_openai_compatible_server():
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
            # Deliberately out of order: the client must sort by index.
            data = [{"index": i, "embedding": [float(len(text)), 1.0, 0.0, 0.0]}
                    for i, text in enumerate(body["input"])]
            payload = json.dumps({"data": list(reversed(data))}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/v1"
        embedder = embedder_from_settings(Settings(
            embedder="openai", embedding_api_url=url, embedding_model_name="test-model", embedding_dimension=4,
            embedding_api_key=SecretStr("sk-test"),
        ))
        vectors = embedder.embed(["a", "abc"])
        assert received[0]["path"] == "/v1/embeddings"
        assert received[0]["model"] == "test-model" and received[0]["input"] == ["a", "abc"]
        assert received[0]["auth"] == "Bearer sk-test"
        expected = numpy.array([[1, 1, 0, 0], [3, 1, 0, 0]], dtype=numpy.float32)
        expected /= numpy.linalg.norm(expected, axis=1, keepdims=True)
        assert numpy.allclose(vectors, expected)
        with pytest.raises(FailedPrecondition, match="dimension"):
            HttpEmbedder(url, "test-model", 8).embed(["x"])
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(FailedPrecondition, match="embedding API"):
        HttpEmbedder(url, "test-model", 4, timeout_seconds=2).embed(["server is gone"])


def test_sentence_transformers_missing_is_a_clear_error():
    try:
        import sentence_transformers  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        with pytest.raises(FailedPrecondition, match="sentence-transformers"):
            embedder_from_settings(Settings(embedder="sentence-transformers"))
    else:
        pytest.skip("sentence-transformers is installed; the missing-package error cannot be shown")
    with pytest.raises(ValueError, match="unknown EMBEDDER"):
        embedder_from_settings(Settings(embedder="word2vec"))
