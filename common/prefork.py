"""Several server processes on one port: the grpc project's multiprocessing pattern.

A Python gRPC server runs its handlers under one GIL, so one process uses about one core however
many threads it has. `serve_forked(count, serve)` forks `count` children before any gRPC object
exists (gRPC's core does not survive a fork once it has started threads), and each child builds
its own server, which binds the same port with SO_REUSEPORT: the kernel spreads incoming
connections (not calls: a client's connection stays with the process that accepted it) over them.

The parent only supervises:
- SIGTERM or SIGINT is passed on to every child, and each drains its in-flight calls as a single
  process would (common.server.ServiceServer.stop); the parent exits when they all have, with 0
  when every child stopped cleanly;
- a child that exits while nobody asked it to (a crash, the OOM killer) stops the others too, and
  the parent exits non-zero: the service is all of its processes, and whoever started it (compose's
  restart policy, the embedded stack, Cloud Run) restarts the whole, rather than it running on
  silently with less capacity;
- children die with the parent, however it dies: each asks the kernel for SIGTERM when the parent
  goes (PR_SET_PDEATHSIG, as devstack/child_exec.py does for the stack's processes) and so drains;
- `on_exit(pid)` is told of every child that ended (common.metrics withdraws its gauges).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def serve_forked(count: int, serve: Callable[[int], None], on_exit: Callable[[int], None] = lambda _pid: None,
                 on_started: Callable[[list[int]], None] = lambda _pids: None) -> int:
    """Runs `serve(index)` in `count` forked children until they end; the parent's exit code.

    Call it before creating any gRPC object or thread in this process. `on_started(pids)` runs in
    the parent once every child is forked (e.g. to serve the metrics of all of them); if it raises,
    the children are stopped."""
    parent = os.getpid()
    children: dict[int, int] = {}
    stopping = False

    def stop(signum: int, _frame: FrameType | None = None) -> None:
        nonlocal stopping
        if not stopping:
            log.info("received signal %d, draining %d processes", signum, len(children))
        stopping = True
        for pid in children:
            _signal(pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in _STOP_SIGNALS}
    try:
        for index in range(count):
            if stopping:
                break
            pid = os.fork()
            if pid == 0:
                _run_child(parent, index, serve)  # never returns
            children[pid] = index
        log.info("started %d server processes: %s", len(children), ", ".join(map(str, children)))
        failed = 0
        try:
            on_started(list(children))
        except Exception:
            log.exception("the server processes started, but their parent cannot go on; stopping them")
            failed = 1
            stop(signal.SIGTERM)
        while children:
            pid, status = os.wait()  # retried by Python after a signal handler ran (PEP 475)
            index = children.pop(pid)
            on_exit(pid)
            code = os.waitstatus_to_exitcode(status)
            if not stopping:
                log.error("server process %d (pid %d) exited with %d unasked; stopping the others", index, pid, code)
                failed = code or 1
                stop(signal.SIGTERM)
            elif code not in (0, -signal.SIGTERM, -signal.SIGINT):  # a stop before its server was up
                log.warning("server process %d (pid %d) exited with %d while stopping", index, pid, code)
                failed = failed or (code if code > 0 else 1)
        return failed
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_child(parent: int, index: int, serve: Callable[[int], None]) -> None:
    code = 1
    try:
        # Until the server installs its own handlers: nothing is in flight yet, so a stop just exits.
        for sig in _STOP_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            return
        serve(index)
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
        if exit_.code is not None and not isinstance(exit_.code, int):
            log.error("%s", exit_.code)
    except BaseException:
        log.exception("server process %d failed", index)
    finally:
        logging.shutdown()
        os._exit(code)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone, reaped next
        os.kill(pid, sig)
