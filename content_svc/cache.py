"""Redis read cache for ContentService: best effort, never a source of truth.

Keys carry versions read from Postgres (a book's load_id, the pedagogy list versions), so an entry
can never outlive the data it was computed from, even if Redis missed an invalidation. When Redis is
slow or down the service answers from Postgres: short socket timeouts, and after a failure the cache
is skipped for a short back-off instead of paying the timeout on every call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import pydantic
import redis

from common.metrics import CACHE_LOOKUPS
from common.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

# v2: entries are pydantic JSON of the domain types (v1 entries were positional lists).
_PREFIX = "content:v2:"
_HIT, _MISS, _ERROR = (CACHE_LOOKUPS.labels("content", result) for result in ("hit", "miss", "error"))


class ReadCache:
    def __init__(
        self,
        settings: Settings,
        *,
        socket_timeout_seconds: float = 0.25,
        backoff_seconds: float = 2.0,
    ) -> None:
        self.enabled = settings.cache_enabled
        self._ttl = settings.cache_ttl_seconds
        self._backoff = backoff_seconds
        self._down_until = 0.0
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None
        if self.enabled:
            self._client = redis.Redis.from_url(
                settings.redis_url,
                socket_timeout=socket_timeout_seconds,
                socket_connect_timeout=socket_timeout_seconds,
                retry_on_timeout=False,
                health_check_interval=0,
            )

    def _available(self) -> bool:
        return self._client is not None and time.monotonic() >= self._down_until

    def _failed(self, operation: str, error: Exception) -> None:
        with self._lock:
            first = time.monotonic() >= self._down_until
            self._down_until = time.monotonic() + self._backoff
        if first:
            log.warning("redis %s failed, serving uncached for %.0fs: %s", operation, self._backoff, error)

    def get(self, key: str) -> bytes | None:
        if not self._available():
            _ERROR.inc()  # skipped while backing off after a failure
            return None
        assert self._client is not None
        try:
            value = self._client.get(_PREFIX + key)
        except (redis.RedisError, OSError) as error:
            _ERROR.inc()
            self._failed("get", error)
            return None
        (_HIT if isinstance(value, bytes) else _MISS).inc()
        return value if isinstance(value, bytes) else None

    def set(self, key: str, value: bytes) -> None:
        if not self._available():
            return
        assert self._client is not None
        try:
            self._client.set(_PREFIX + key, value, ex=self._ttl)
        except (redis.RedisError, OSError) as error:
            self._failed("set", error)

    def get_or_load(self, key: str, load: Callable[[], T], codec: pydantic.TypeAdapter[T]) -> T:
        """The cached value of `key`, else `load()` (stored for next time); `codec` (de)serialises it."""
        if not self.enabled:
            return load()
        cached = self.get(key)
        if cached is not None:
            try:
                return codec.validate_json(cached)
            except pydantic.ValidationError as error:  # a corrupt or old-format entry: recompute and overwrite
                log.warning("dropping undecodable cache entry %s: %s", key, error)
        value = load()
        self.set(key, codec.dump_json(value))
        return value

    def check(self) -> None:
        """Health probe: raises unless Redis answers a PING (within the cache's short timeouts)."""
        if self._client is not None:
            self._client.ping()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
