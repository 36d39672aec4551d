"""No orphans, process by process: children die with the process that started them, and a start
sweeps what an earlier run left behind (real processes, no stack)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from devstack import processes

# A parent that starts `sleep` the way devstack starts its children, prints the child's pid, then waits.
SPAWNER = """
import signal, subprocess, sys, time
from devstack import processes
child = subprocess.Popen(processes.with_death_signal(["sleep", "600"], signal.SIGTERM), start_new_session=True)
print(child.pid, flush=True)
time.sleep(600)
"""


def gone(pid: int, timeout: float = 30.0) -> bool:
    """Whether `pid` exits (or is only a zombie left to reap) within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def test_a_child_dies_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", SPAWNER], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        assert psutil.Process(child).status() != psutil.STATUS_ZOMBIE
        parent.kill()
        parent.wait(10)
        assert gone(child), "the child outlived its SIGKILLed parent"
    finally:
        kill_if_alive(child)


def kill_if_alive(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def test_a_start_sweeps_what_a_previous_run_left_behind(tmp_path: Path) -> None:
    # A group leader that was killed, leaving its own child (like a Celery pool process) behind.
    leader = subprocess.Popen(["sh", "-c", "sleep 600 & echo $!; wait"], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    assert leader.stdout is not None
    straggler = int(leader.stdout.readline())
    pids = tmp_path / "pids"
    processes.record(pids, "worker", leader.pid)
    # An unrelated process that happens to be alive must be left alone.
    bystander = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        leader.kill()
        leader.wait(10)
        assert not gone(straggler, timeout=0.5)
        assert processes.sweep(pids) == ["worker"]
        assert gone(straggler)
        assert bystander.poll() is None
        assert list(pids.glob("*.pid")) == []
        assert processes.sweep(pids) == []
    finally:
        kill_if_alive(straggler)
        bystander.kill()
        bystander.wait()


def test_a_reused_pid_is_not_mistaken_for_a_recorded_child(tmp_path: Path) -> None:
    # The record names a process that started at another time: the live process with that pid is someone else.
    other = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        pids = tmp_path / "pids"
        pids.mkdir()
        (pids / "redis.pid").write_text(f"{other.pid} {psutil.Process(other.pid).create_time() - 3600}\n")
        assert processes.sweep(pids) == []
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
