"""The in-process vector cache: each book's vectors as a float32 block, for exact search of a few
books without a scan in Postgres (about 4x faster, and it spares Postgres' CPU).

Never a source of truth: a block is read from atom_vectors and keyed by (book_no, load_id) from
the catalogue, and books are immutable once loaded, so a block can never hold other vectors than
its key's. A deleted or reloaded book gets a new key (book numbers are never reused); its old block
is dropped when the catalogue next changes, or ages out of the LRU. Bounded by VECTOR_CACHE_MB.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence

from content_svc.rules.types import CatalogueEntry, VectorBlock

Key = tuple[int, uuid.UUID]


class VectorCache:
    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._blocks: OrderedDict[Key, VectorBlock] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def blocks(
        self, books: Sequence[CatalogueEntry], load: Callable[[list[int]], dict[int, VectorBlock]]
    ) -> list[tuple[int, VectorBlock]]:
        """(book_no, block) of each book that has atoms; `load(book_nos)` reads the missing blocks,
        all in one go."""
        cached: dict[int, VectorBlock] = {}
        with self._lock:
            for book in books:
                block = self._blocks.get((book.book_no, book.load_id))
                if block is not None:
                    self._blocks.move_to_end((book.book_no, book.load_id))
                    cached[book.book_no] = block
        missing = [book for book in books if book.book_no not in cached]
        if missing:
            loaded = load([book.book_no for book in missing])
            for book in missing:
                if book.book_no in loaded:
                    self._keep((book.book_no, book.load_id), loaded[book.book_no])
            cached.update(loaded)
        return [(book.book_no, cached[book.book_no]) for book in books if book.book_no in cached]

    def _keep(self, key: Key, block: VectorBlock) -> None:
        with self._lock:
            if key in self._blocks or block.nbytes > self.budget_bytes:
                return
            self._blocks[key] = block
            self._bytes += block.nbytes
            while self._bytes > self.budget_bytes:
                _, evicted = self._blocks.popitem(last=False)
                self._bytes -= evicted.nbytes

    def retain(self, live: Collection[Key]) -> None:
        """Drop the blocks of books that are no longer in the catalogue (deleted or reloaded)."""
        with self._lock:
            for key in [key for key in self._blocks if key not in live]:
                self._bytes -= self._blocks.pop(key).nbytes

    @property
    def size_bytes(self) -> int:
        return self._bytes
