"""Read-cache keys. Each carries the versions of the data it was computed from (a book's load_id,
the pedagogy list versions), so an entry can never outlive that data, even if Redis missed an
invalidation; user ids and page tokens are hashed, never spliced in raw."""

from __future__ import annotations

import hashlib
import json
import uuid

from content_svc.rules.types import Scope


def cache_key(*parts: object) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()


def outline_key(book_id: uuid.UUID, load_id: uuid.UUID) -> str:
    return cache_key("outline", book_id, load_id)


def strategies_key(
    user_id: str, scope: Scope, page_size: int, page_token: str, global_version: int, own_version: int
) -> str:
    """A page of strategies depends on the global list, the caller's own list, or both (by scope)."""
    versions = {
        Scope.ANY: (global_version, own_version),
        Scope.GLOBAL: (global_version, 0),
        Scope.PRIVATE: (0, own_version),
    }[scope]
    return cache_key("pedagogy", user_id, scope.value, page_size, page_token, *versions)
