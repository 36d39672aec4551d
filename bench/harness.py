"""What every benchmark needs: its own stack, tokens, and a bounded closed-loop load runner."""

from __future__ import annotations

import itertools
import os
import platform
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy
import psycopg

from common.auth import mint_token
from devstack import Stack, StackPorts

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
GRPC_OPTIONS = [("grpc.max_send_message_length", 8 * 1024 * 1024), ("grpc.max_receive_message_length", 8 * 1024 * 1024)]


# The services run as docker-compose runs them: two server processes of ContentService and of
# UserService on their ports (one per core here; bench/processes.py measures 1 against 2).
DEPLOYED_PROCESSES = {"CONTENT_SERVER_PROCESSES": "2", "USER_SERVER_PROCESSES": "2"}


@contextmanager
def bench_stack(data_dir: Path | None, *, with_envoy: bool = True) -> Iterator[Stack]:
    """A fresh durable stack on free ports, its services run as docker-compose runs them; its data
    folder is removed afterwards unless given."""
    temporary = data_dir is None
    folder = Path(tempfile.mkdtemp(prefix="bench-")) if data_dir is None else data_dir
    if not temporary and folder.exists():
        shutil.rmtree(folder)  # every run starts from an empty library
    stack = Stack(folder, StackPorts.free(), with_envoy=with_envoy, durable=True, extra_env=DEPLOYED_PROCESSES)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)


def envoy_available() -> bool:
    return (ROOT / "envoy" / "render.py").exists()


Metadata = tuple[tuple[str, str | bytes], ...]


def auth(stack: Stack, user_id: str, *roles: str) -> Metadata:
    return (("authorization", f"Bearer {mint_token(stack.settings, user_id, roles or ('teacher',))}"),)


def channel(address: str) -> grpc.Channel:
    return grpc.insecure_channel(address, options=GRPC_OPTIONS)


class ConnectionPerThread:
    """Stubs of one type, one per client thread, each on a connection of its own."""

    def __init__(self, address: str, stub_type: Callable[[grpc.Channel], Any]) -> None:
        self._address, self._stub_type = address, stub_type
        self._local = threading.local()
        self._channels: list[grpc.Channel] = []
        self._connected: list[Any] = []
        self._lock = threading.Lock()

    def _open(self) -> Any:
        # A channel of its own is a connection of its own only with a subchannel pool of its own.
        channel = grpc.insecure_channel(self._address, options=[*GRPC_OPTIONS, ("grpc.use_local_subchannel_pool", 1)])
        with self._lock:
            self._channels.append(channel)
        return self._stub_type(channel)

    def connect(self, count: int, first_call: Callable[[Any], object]) -> None:
        """Open `count` connections before a timed run and make a first call on each (connecting, and
        the server process it reached reading what it caches); the next `count` new threads take them."""
        for _ in range(count):
            stub = self._open()
            first_call(stub)
            self._connected.append(stub)

    def stub(self) -> Any:
        stub = getattr(self._local, "stub", None)
        if stub is None:
            with self._lock:
                stub = self._connected.pop() if self._connected else None
            self._local.stub = stub = stub if stub is not None else self._open()
        return stub

    def close(self) -> None:
        for channel in self._channels:
            channel.close()


def machine() -> dict[str, Any]:
    memory_gib = 0.0
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gib = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


# --- measurements ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    """Latencies of a bounded closed-loop run: `concurrency` callers, each waiting for its answer."""

    concurrency: int
    latencies_ms: list[float]
    wall_seconds: float
    errors: int

    def summary(self) -> dict[str, float]:
        values = numpy.asarray(self.latencies_ms or [float("nan")])
        p50, p95, p99 = numpy.percentile(values, [50, 95, 99])
        return {
            "p50_ms": round(float(p50), 3),
            "p95_ms": round(float(p95), 3),
            "p99_ms": round(float(p99), 3),
            "throughput_rps": round(len(self.latencies_ms) / self.wall_seconds, 1) if self.wall_seconds else 0.0,
            "requests": len(self.latencies_ms),
            "errors": self.errors,
        }


def run_load(
    call: Callable[[int], object], *, concurrency: int, requests: int, max_seconds: float, warmup: int = 3
) -> LoadResult:
    """`call(i)` for i = 0..requests-1 from `concurrency` threads, stopping early at `max_seconds`.

    A failed call counts as an error and its latency is not recorded; the first error is re-raised
    at the end so a broken benchmark never reports a plausible number.
    """
    for i in range(warmup):
        call(i)
    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[BaseException] = []
    deadline = time.perf_counter() + max_seconds

    def worker() -> None:
        own: list[float] = []
        while True:
            index = next(counter)  # itertools.count is atomic under the GIL
            if index >= requests or time.perf_counter() > deadline:
                break
            start = time.perf_counter()
            try:
                call(index)
            except Exception as error:  # recorded, re-raised after the run
                with lock:
                    errors.append(error)
                continue
            own.append((time.perf_counter() - start) * 1000)
        with lock:
            latencies.extend(own)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(errors) + len(latencies)} calls failed") from errors[0]
    return LoadResult(concurrency, latencies, wall, len(errors))


def settle(conninfo: str) -> float:
    """After a bulk load, do now what autovacuum and the checkpointer would do in the next minutes
    (statistics, the visibility map that index-only scans need, dirty pages written out), so that
    neither runs during a measurement; the seconds it took."""
    watch = Stopwatch()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")
    return watch.seconds()


def ratio(value: float, baseline: float) -> float:
    return round(value / baseline, 2) if baseline else float("nan")


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self.started
