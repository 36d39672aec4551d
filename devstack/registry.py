"""Where running `make dev` suites announce themselves, so `make -s token` finds them from anywhere.

Each running suite writes a small JSON file (data folder, pid, ports) into a per-user folder
(`$XDG_STATE_HOME/teaching-suite/running`, by default under `~/.local/state`). A suite is running
while its supervisor holds the data folder's lock (`devstack.lock`); files of suites that died are
ignored and removed. Test stacks do not announce themselves.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

LOCK_NAME = "devstack.lock"


@dataclass(frozen=True)
class RunningSuite:
    data_dir: Path
    pid: int
    ports: dict[str, int]

    def describe(self) -> str:
        return f"{self.data_dir} (pid {self.pid}, Envoy on 127.0.0.1:{self.ports.get('envoy')})"


def folder() -> Path:
    """Per user, and the same in every shell of that user (unlike XDG_RUNTIME_DIR or TMPDIR)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "teaching-suite" / "running"


def _entry(data_dir: Path) -> Path:
    return folder() / (hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16] + ".json")


def announce(data_dir: Path, ports: dict[str, int]) -> None:
    """Called by the supervisor once the suite is up (it holds the data folder's lock)."""
    folder().mkdir(mode=0o700, parents=True, exist_ok=True)
    entry = {"data_dir": str(data_dir.resolve()), "pid": os.getpid(), "ports": ports}
    _entry(data_dir).write_text(json.dumps(entry))


def withdraw(data_dir: Path) -> None:
    _entry(data_dir).unlink(missing_ok=True)


def is_running(data_dir: Path) -> bool:
    """Whether a supervisor holds the data folder's lock right now."""
    lock = data_dir / LOCK_NAME
    if not lock.exists():
        return False
    with lock.open("r") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def running() -> list[RunningSuite]:
    suites = []
    for path in sorted(folder().glob("*.json")) if folder().is_dir() else []:
        try:
            entry = json.loads(path.read_text())
            suite = RunningSuite(Path(entry["data_dir"]), int(entry["pid"]), dict(entry["ports"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if is_running(suite.data_dir):
            suites.append(suite)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
    return suites
