"""Embedders (content_svc.contract.Embedder), shared by ContentService and the ingest worker: part
of content's published surface, so the worker embeds atoms exactly as the service embeds queries.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy
import numpy.typing as npt

from common.errors import FailedPrecondition
from common.settings import Settings
from content_svc.contract import Embedder, Vectors


def l2_normalise(matrix: npt.NDArray[Any]) -> Vectors:
    """Rows scaled to unit length; all-zero rows stay zero."""
    matrix = numpy.asarray(matrix, dtype=numpy.float32)
    norms = numpy.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    normalised: Vectors = (matrix / norms).astype(numpy.float32, copy=False)
    return normalised


_WORD = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=200_000)
def _bucket(feature: str, dimension: int) -> tuple[int, float]:
    # A stable hash (Python's hash() is salted per process); one bit of it picks the sign, so
    # collisions cancel out on average instead of piling up.
    digest = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
    return digest % dimension, (1.0 if (digest >> 63) & 1 else -1.0)


class HashingEmbedder:
    """Deterministic, local and download-free: signed feature hashing of word unigrams and bigrams.

    Term counts are dampened (1 + log tf) so a repeated word does not drown the rest.
    """

    def __init__(self, dimension: int = 384) -> None:
        if dimension < 8:
            raise ValueError("hashing embedder needs a dimension of at least 8")
        self.dimension = dimension
        self.model_name = "hashing-unigram-bigram-v1"

    def _features(self, text: str) -> Counter[str]:
        words = _WORD.findall(text.lower())
        features: Counter[str] = Counter(words)
        features.update(f"{a} {b}" for a, b in itertools.pairwise(words))
        return features

    def embed(self, texts: Sequence[str]) -> Vectors:
        matrix = numpy.zeros((len(texts), self.dimension), dtype=numpy.float32)
        for row, text in enumerate(texts):
            for feature, count in self._features(text).items():
                index, sign = _bucket(feature, self.dimension)
                matrix[row, index] += sign * (1.0 + math.log(count))
        return l2_normalise(matrix)


class SentenceTransformerEmbedder:
    """A sentence-transformers model (optional extra: `pip install -e ".[sentence-transformers]"`)."""

    def __init__(self, model_name: str) -> None:
        try:
            from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found]
        except ImportError as exc:
            raise FailedPrecondition(
                "EMBEDDER=sentence-transformers needs the optional 'sentence-transformers' package; "
                "install it or use EMBEDDER=hashing"
            ) from exc
        self._model = SentenceTransformer(model_name)
        self.model_name = model_name
        self.dimension = int(self._model.get_sentence_embedding_dimension())

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return numpy.zeros((0, self.dimension), dtype=numpy.float32)
        vectors = self._model.encode(list(texts), convert_to_numpy=True, normalize_embeddings=True)
        return l2_normalise(vectors)


class HttpEmbedder:
    """An OpenAI-compatible embeddings API: POST {url}/embeddings {"model", "input"}."""

    def __init__(
        self, url: str, model_name: str, dimension: int, api_key: str = "", *,
        batch_size: int = 64, timeout_seconds: float = 30.0,
    ) -> None:
        if not url:
            raise ValueError("EMBEDDER=openai needs EMBEDDING_API_URL")
        self._endpoint = url.rstrip("/") + "/embeddings"
        self._api_key = api_key
        self._batch_size = batch_size
        self._timeout = timeout_seconds
        self.model_name = model_name
        self.dimension = dimension

    def _post(self, batch: Sequence[str]) -> list[list[float]]:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        body = json.dumps({"model": self.model_name, "input": list(batch)}).encode()
        request = urllib.request.Request(self._endpoint, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                payload = json.loads(response.read())
        except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as exc:
            raise FailedPrecondition(f"embedding API {self._endpoint} failed: {exc}") from exc
        try:
            items = sorted(payload["data"], key=lambda item: item["index"])
            vectors = [list(map(float, item["embedding"])) for item in items]
        except (KeyError, TypeError, ValueError) as exc:
            raise FailedPrecondition(f"embedding API {self._endpoint} returned an unexpected body") from exc
        if len(vectors) != len(batch):
            raise FailedPrecondition(
                f"embedding API returned {len(vectors)} vectors for {len(batch)} texts"
            )
        return vectors

    def embed(self, texts: Sequence[str]) -> Vectors:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            rows.extend(self._post(texts[start : start + self._batch_size]))
        matrix = numpy.asarray(rows, dtype=numpy.float32).reshape(len(rows), -1) if rows else (
            numpy.zeros((0, self.dimension), dtype=numpy.float32)
        )
        if matrix.shape[1] != self.dimension:
            raise FailedPrecondition(
                f"embedding API returned {matrix.shape[1]}-dimensional vectors; "
                f"EMBEDDING_DIMENSION is {self.dimension}"
            )
        return l2_normalise(matrix)


def embedder_from_settings(settings: Settings) -> Embedder:
    kind = settings.embedder.strip().lower()
    if kind == "hashing":
        return HashingEmbedder(settings.embedding_dimension)
    if kind in ("sentence-transformers", "sentence_transformers"):
        return SentenceTransformerEmbedder(settings.embedding_model_name)
    if kind in ("openai", "http"):
        return HttpEmbedder(
            settings.embedding_api_url,
            settings.embedding_model_name,
            settings.embedding_dimension,
            settings.embedding_api_key.get_secret_value(),
        )
    raise ValueError(f"unknown EMBEDDER {settings.embedder!r}: use hashing, sentence-transformers or openai")
