"""Structured logs: every process of the suite writes one JSON object per line to stderr.

Every line has `time` (ISO 8601, UTC), `level`, `service` (ContentService, UserService, IngestService,
Reflection, IngestWorker), `logger` and `message`, and `trace_id` / `span_id` when it was written
inside a trace (an RPC, a Celery task). The access log (`logger: "access"`) has one line per RPC with
`method`, `status`, `duration_ms` and `user`: the caller's user id hashed with a key of the suite, so
one person's calls can be followed without the log holding who they are.

A log line never holds a bearer token or a page token: the access log writes only the fields above,
and any other message that happens to contain something shaped like a JWT or a page token (Fernet)
has it replaced by `[redacted]` before it is written.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import logging
import re
import sys
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

from common.settings import Settings

ACCESS_LOGGER = "access"
REDACTED = "[redacted]"
# A JWT (three base64url parts, the first two JSON objects: `eyJ` is `{"`), and our page tokens
# (Fernet: base64url of version byte 0x80 and a timestamp, `gAAAAA`).
_SECRET_SHAPES = re.compile(r"eyJ[\w-]*\.eyJ[\w-]*\.[\w-]*|gAAAAA[\w=-]{20,}")


class _TraceFields(logging.Filter):
    """Adds the current trace's ids, and redacts token-shaped text from the message and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        if record.name != ACCESS_LOGGER:  # access lines are built from safe fields only
            # Formatted once here; the formatter then finds no arguments left to apply.
            record.msg, record.args = _SECRET_SHAPES.sub(REDACTED, record.getMessage()), None
        return True


class _Formatter(JsonFormatter):
    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        log_data["time"] = dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="microseconds")
        super().add_fields(log_data, record, message_dict)

    def formatException(self, ei: Any) -> str:
        return _SECRET_SHAPES.sub(REDACTED, str(super().formatException(ei)))


def configure_logging(settings: Settings, service: str) -> None:
    """JSON lines on stderr for this process, replacing whatever handlers the root logger had."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(
        "{levelname}{name}{message}", style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        static_fields={"service": service},
    ))
    handler.addFilter(_TraceFields())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    logging.captureWarnings(True)  # warnings as log lines too, not bare text on stderr
    set_user_key(settings)


# -- the caller's user id, hashed -----------------------------------------------------------------

_user_key = b""


def set_user_key(settings: Settings) -> None:
    """The key user ids are hashed with: derived from PAGE_TOKEN_SECRET, which every service of one
    suite shares, so the same user hashes alike in every service's log (and cannot be guessed back)."""
    global _user_key
    secret = settings.page_token_secret.get_secret_value().encode()
    _user_key = hashlib.sha256(b"log-user-ids:" + secret).digest()
    hashed_user.cache_clear()


@functools.lru_cache(maxsize=4096)
def hashed_user(user_id: str) -> str:
    return hmac.new(_user_key, user_id.encode(), hashlib.sha256).hexdigest()[:16]
