"""The catalogue of ready books (book number, embedder, sizes, load id), held in memory by every
process that serves searches, so a search needs no round trip to learn about its books.

Never a source of truth: it is read from `books`, and re-read when a book is loaded or deleted
(every change to `books` notifies the channel `books_changed`, migration 0007; one thread per
process LISTENs to it), when the listening connection was lost (changes may have been missed), and
at least every CATALOGUE_TTL_SECONDS as a safety net. Searches also check, in their own statement,
that the books they listed still exist, and a book id the catalogue does not know is looked up
before it is called unknown, so neither a notification in flight nor one missed can make a search
answer from a stale catalogue.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from typing import Any

import psycopg

from content_svc.repository import Conn, retrieval
from content_svc.rules.types import CatalogueEntry

log = logging.getLogger(__name__)

CHANNEL = "books_changed"


class Catalogue:
    def __init__(
        self,
        conninfo: str,
        ttl_seconds: float,
        on_change: Callable[[Collection[tuple[int, uuid.UUID]]], None] | None = None,
    ) -> None:
        self._conninfo = conninfo
        self._ttl = ttl_seconds
        self._on_change = on_change
        self._entries: dict[uuid.UUID, CatalogueEntry] = {}
        self._loaded_at = float("-inf")
        # Bumped by every notification; a load that started before the last bump stays stale.
        self._generation = 0
        self._fresh_generation = -1
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = threading.Thread(target=self._listen, name="catalogue-listener", daemon=True)

    def start(self) -> None:
        self._listener.start()

    def close(self) -> None:
        self._stop.set()

    def books(self, conn: Conn) -> Mapping[uuid.UUID, CatalogueEntry]:
        """The ready books by id, re-read first when something changed or the entries are too old."""
        with self._lock:
            current = self._fresh_generation == self._generation
            young = time.monotonic() - self._loaded_at < self._ttl
        if not (current and young):
            self.refresh(conn)
        return self._entries

    def refresh(self, conn: Conn) -> Mapping[uuid.UUID, CatalogueEntry]:
        with self._lock:
            generation = self._generation
        entries = {entry.book_id: entry for entry in retrieval.catalogue(conn)}
        with self._lock:
            self._entries = entries
            self._loaded_at = time.monotonic()
            self._fresh_generation = generation
        if self._on_change is not None:
            self._on_change({(entry.book_no, entry.load_id) for entry in entries.values()})
        return entries

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1

    def _listen(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.invalidate()  # whatever changed while nobody listened
                    backoff = 0.5
                    while not self._stop.is_set():
                        for _ in _notifies(conn):
                            self.invalidate()
            except psycopg.Error as error:
                self.invalidate()
                log.warning("catalogue: listening for %s failed (%s); retrying in %.1fs", CHANNEL, error, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)


def _notifies(conn: psycopg.Connection[Any]) -> Any:
    return conn.notifies(timeout=1.0)
