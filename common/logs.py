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
import json
import logging
import re
import sys
from typing import Any, TextIO

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
        # Formatted once here; the formatter then finds no arguments left to apply.
        record.msg, record.args = _SECRET_SHAPES.sub(REDACTED, record.getMessage()), None
        return True


class _Formatter(JsonFormatter):
    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        log_data["time"] = dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="microseconds")
        super().add_fields(log_data, record, message_dict)

    def formatException(self, ei: Any) -> str:
        return _SECRET_SHAPES.sub(REDACTED, str(super().formatException(ei)))


# This process' handler and service name, for `access`.
_lines: logging.StreamHandler[TextIO] | None = None
_service = ""


def configure_logging(settings: Settings, service: str, level: int | str | None = None,
                      stream: TextIO | None = None) -> None:
    """JSON lines on stderr (or `stream`) for this process, replacing whatever handlers the root
    logger had; from `level` up (default LOG_LEVEL)."""
    lines = logging.StreamHandler(stream or sys.stderr)
    lines.setFormatter(_Formatter(
        "{levelname}{name}{message}", style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        static_fields={"service": service},
    ))
    lines.addFilter(_TraceFields())
    global _lines, _service
    _lines, _service = lines, service
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(lines)
    root.setLevel(level if isinstance(level, int) else (level or settings.log_level).upper())
    logging.captureWarnings(True)  # warnings as log lines too, not bare text on stderr
    set_user_key(settings)


def access(level: int, message: str, fields: dict[str, Any]) -> None:
    """The access line of an RPC: the same JSON as any other line, made without logging's machinery
    (a record, its filter and python-json-logger cost twice as much, on every call: docs/benchmarks.md),
    written to the same stream under the same lock. Its fields are safe by construction: no redaction."""
    if _lines is None:
        return
    line = {"time": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"), "level": logging.getLevelName(level),
            "logger": ACCESS_LOGGER, "message": message, "service": _service, **fields}
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        line["trace_id"], line["span_id"] = format(context.trace_id, "032x"), format(context.span_id, "016x")
    text = json.dumps(line) + "\n"
    with _lines.lock:  # type: ignore[union-attr]
        _lines.stream.write(text)
        _lines.stream.flush()


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
