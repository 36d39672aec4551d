"""Keyset pagination with opaque page tokens (AIP-158), written once for every List method.

A page token is a Fernet token (authenticated encryption from `cryptography`): it reveals nothing
(neither the cursor nor the caller) and any change to it is detected. It binds the list's query
(filters, the caller), so a token cannot be replayed against another query.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pydantic
from cryptography.fernet import Fernet, InvalidToken

from common.errors import InvalidArgument
from common.settings import ConfigurationError, Settings

MIN_SECRET_CHARS = 32
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# Longer tokens are refused unread (and never echoed back): ours are a few hundred characters.
MAX_PAGE_TOKEN_CHARS = 2048

T = TypeVar("T")
C = TypeVar("C")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str


def page_size(requested: int, *, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    """AIP-158: 0 means the default, larger than the maximum is coerced, negative is an error."""
    if requested < 0:
        raise InvalidArgument({"page_size": "must not be negative"})
    if requested == 0:
        return default
    return min(requested, maximum)


def _canonical(query: Mapping[str, Any]) -> str:
    return json.dumps(query, separators=(",", ":"), sort_keys=True, default=str)


class PageTokens:
    def __init__(self, secret: bytes) -> None:
        # Fernet wants 32 url-safe base64 bytes; derive them from the configured secret of any length.
        self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"page-tokens:" + secret).digest()))

    @classmethod
    def from_settings(cls, settings: Settings) -> PageTokens:
        """The suite's page tokens; ConfigurationError when PAGE_TOKEN_SECRET is missing or short."""
        secret = settings.page_token_secret.get_secret_value()
        if len(secret) < MIN_SECRET_CHARS:
            raise ConfigurationError(
                f"PAGE_TOKEN_SECRET must be a random string of at least {MIN_SECRET_CHARS} characters "
                "(e.g. `openssl rand -base64 48`); there is no default. The embedded dev stack (`make dev`) "
                "writes a random one per data folder."
            )
        return cls(secret.encode())

    def encode(self, cursor: Any, *, query: Mapping[str, Any]) -> str:
        payload = json.dumps({"c": cursor, "q": _canonical(query)}, separators=(",", ":"), default=str)
        return self._fernet.encrypt(payload.encode()).decode()

    def decode(self, token: str, *, query: Mapping[str, Any]) -> Any:
        """The cursor of `token`, None for an empty token; InvalidArgument when forged or reused."""
        if not token:
            return None
        if len(token) > MAX_PAGE_TOKEN_CHARS:
            raise InvalidArgument({"page_token": "is not a page token of this list"})
        try:
            decoded = json.loads(self._fernet.decrypt(token.encode()))
        except (InvalidToken, ValueError, UnicodeError) as exc:
            raise InvalidArgument({"page_token": "malformed or tampered page token"}) from exc
        if not isinstance(decoded, dict) or decoded.get("q") != _canonical(query):
            raise InvalidArgument({"page_token": "page token belongs to a different query"})
        return decoded.get("c")

    def paginate(
        self,
        requested_page_size: int,
        page_token: str,
        *,
        query: Mapping[str, Any],
        cursor: pydantic.TypeAdapter[C],
        fetch: Callable[[C | None, int], Sequence[T]],
        cursor_of: Callable[[T], C],
    ) -> Page[T]:
        """One page of a keyset-paginated list.

        `fetch(after, limit)` returns up to `limit` items following the cursor `after` (None: from the
        start) in the list's order; `cursor_of(item)` is the cursor that continues after `item`.
        """
        size = page_size(requested_page_size)
        raw = self.decode(page_token, query=query)
        after: C | None = None
        if raw is not None:
            try:
                after = cursor.validate_python(raw)
            except pydantic.ValidationError as exc:
                raise InvalidArgument({"page_token": "malformed page token"}) from exc
        rows = list(fetch(after, size + 1))
        items = rows[:size]
        next_token = ""
        if len(rows) > size:
            next_token = self.encode(cursor.dump_python(cursor_of(items[-1]), mode="json"), query=query)
        return Page(items=items, next_page_token=next_token)
