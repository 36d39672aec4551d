"""Opaque, tamper-evident page tokens (AIP-158).

A token is the URL-safe base64 of a JSON cursor plus an HMAC over it; the cursor also binds the
list's filter, so a token cannot be replayed against a different query.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from common.errors import InvalidArgument
from common.settings import Settings

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
_MAC_BYTES = 16


def page_size(requested: int, *, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    """AIP-158: 0 means the default, larger than the maximum is coerced, negative is an error."""
    if requested < 0:
        raise InvalidArgument({"page_size": "must not be negative"})
    if requested == 0:
        return default
    return min(requested, maximum)


class PageTokens:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @classmethod
    def from_settings(cls, settings: Settings) -> PageTokens:
        return cls(settings.page_token_secret.get_secret_value().encode())

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, cursor: dict[str, Any], *, query: dict[str, Any]) -> str:
        payload = json.dumps({"c": cursor, "q": query}, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(self._mac(payload) + payload).decode().rstrip("=")

    def decode(self, token: str, *, query: dict[str, Any]) -> dict[str, Any] | None:
        """The cursor of `token`, None for an empty token; InvalidArgument when forged or reused."""
        if not token:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            mac, payload = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
            if not hmac.compare_digest(mac, self._mac(payload)):
                raise ValueError("bad signature")
            decoded = json.loads(payload)
        except (ValueError, TypeError) as exc:
            raise InvalidArgument({"page_token": "malformed or tampered page token"}) from exc
        if decoded.get("q") != json.loads(json.dumps(query, sort_keys=True)):
            raise InvalidArgument({"page_token": "page token belongs to a different query"})
        cursor = decoded.get("c")
        if not isinstance(cursor, dict):
            raise InvalidArgument({"page_token": "malformed page token"})
        return cursor
