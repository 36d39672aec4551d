"""No orphans: the stack's children stop when the supervisor dies, however it dies.

Two mechanisms, because neither covers everything alone:
- every child asks the kernel for a signal when its parent dies (Linux PR_SET_PDEATHSIG), so a
  supervisor killed with SIGKILL, or one whose terminal closed, takes its children with it;
- every child's pid is recorded in the data folder, and the next start stops whatever a previous
  run left behind (a child that lost the race with its parent's death, or a Celery pool process
  whose worker was killed) before it binds any port.

The death signal is set by `child_exec.py`, which then becomes the child. It is tied to the thread
that started the child: start processes from a thread that lives as long as the stack (the main
thread, in `make dev` and the tests).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import psutil

CHILD_EXEC = Path(__file__).resolve().parent / "child_exec.py"


def stop_signal(name: str) -> signal.Signals:
    """How a process is asked to stop: Postgres' "fast" shutdown is SIGINT (SIGTERM waits for every
    client to leave); everything else drains on SIGTERM."""
    return signal.SIGINT if name == "postgres" else signal.SIGTERM


def with_death_signal(command: list[str], sig: signal.Signals, user: str | None = None) -> list[str]:
    """`command` wrapped so that it receives `sig` when this process dies (and runs as `user`)."""
    return [sys.executable, "-I", "-S", str(CHILD_EXEC), str(os.getpid()), sig.name, *([user] if user else []),
            "--", *command]


def record(pids_dir: Path, name: str, pid: int) -> None:
    """Remember a started child (pid and start time, so a reused pid is never mistaken for it)."""
    pids_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(psutil.NoSuchProcess):
        (pids_dir / f"{name}.pid").write_text(f"{pid} {psutil.Process(pid).create_time()}\n")


def forget(pids_dir: Path, name: str) -> None:
    (pids_dir / f"{name}.pid").unlink(missing_ok=True)


def leftovers(pids_dir: Path) -> dict[str, list[psutil.Process]]:
    """Processes a previous run recorded that are still alive: each child's whole process group
    (its leader may be gone while its own children live on)."""
    found: dict[str, list[psutil.Process]] = {}
    for path in sorted(pids_dir.glob("*.pid")) if pids_dir.is_dir() else []:
        try:
            pid_text, started_text = path.read_text().split()
            group, started = int(pid_text), float(started_text)
        except ValueError:
            continue
        if _reused(group, started):
            continue
        members = []
        for process in psutil.process_iter(["create_time"]):
            with contextlib.suppress(ProcessLookupError, psutil.Error):
                # Members started after the recorded child (a group id cannot be reused while in use).
                if os.getpgid(process.pid) == group and process.info["create_time"] >= started - 1:
                    members.append(process)
        if members:
            found[path.stem] = members
    return found


def _reused(pid: int, started: float) -> bool:
    """Whether `pid` now belongs to a process other than the one that started at `started`."""
    try:
        return bool(abs(psutil.Process(pid).create_time() - started) >= 1)
    except psutil.NoSuchProcess:
        return False


def sweep(pids_dir: Path, timeout: float = 20.0) -> list[str]:
    """Stop what a previous run left behind (politely, then SIGKILL); returns the names stopped."""
    found = leftovers(pids_dir)
    for name, members in found.items():
        for process in members:
            with contextlib.suppress(psutil.Error):
                process.send_signal(stop_signal(name))
    deadline = time.monotonic() + timeout
    alive = [p for members in found.values() for p in members]
    while alive and time.monotonic() < deadline:
        _, alive = psutil.wait_procs(alive, timeout=0.5)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=5)
    for path in pids_dir.glob("*.pid") if pids_dir.is_dir() else []:
        path.unlink(missing_ok=True)
    return sorted(found)
