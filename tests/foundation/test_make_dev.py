"""`make dev` as a person runs it, next to the test stack: ports, data folder and CORS origins from the
environment, a token minted from a second clone, and no process left behind when the supervisor is
killed (SIGKILL) or its terminal closes (SIGHUP)."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import psutil
import pytest

from devstack import StackPorts, postgres
from devstack.stack import free_ports
from tests.browser import load, page, page_server
from tests.envoy.web import http_request

REPO = Path(__file__).resolve().parents[2]
BANNER = "The teaching suite is up"


@dataclass
class DevSuite:
    make: subprocess.Popen[str]
    supervisor: psutil.Process
    ports: StackPorts
    env: dict[str, str]
    output: list[str]

    def descendants(self) -> list[psutil.Process]:
        return self.supervisor.children(recursive=True)


def _read_lines(stream: Iterator[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def start_make_dev(env: dict[str, str], timeout: float = 300) -> DevSuite:
    """`make -s dev` in this checkout; returns once its banner is out."""
    make = subprocess.Popen(["make", "-s", "dev"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    assert make.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_read_lines, args=(make.stdout, lines), daemon=True).start()
    output: list[str] = []
    deadline = time.monotonic() + timeout
    while not any(BANNER in line for line in output):
        if time.monotonic() > deadline or make.poll() is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(make.pid, signal.SIGTERM)
            pytest.fail("make dev did not come up:\n" + "".join(output))
        with contextlib.suppress(queue.Empty):
            output.append(lines.get(timeout=1))
    supervisor = next(p for p in psutil.Process(make.pid).children(recursive=True)
                      if "devstack" in " ".join(p.cmdline()) and "up" in p.cmdline())
    ports = StackPorts.from_environment(env)
    suite = DevSuite(make, supervisor, ports, env, output)
    threading.Thread(target=lambda: [output.append(line) for line in iter(lines.get, None)], daemon=True).start()
    return suite


def wait_gone(processes: list[psutil.Process], timeout: float = 90) -> list[psutil.Process]:
    """The processes still alive (zombies count as gone) after waiting up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    alive = processes
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _alive(p)]
        time.sleep(0.5)
    return alive


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="module")
def folders() -> Iterator[dict[str, Path]]:
    root = Path(tempfile.mkdtemp(prefix="teaching-make-dev-"))
    made = {name: root / name for name in ("data", "state", "empty_state", "clone")}
    for name in ("state", "empty_state"):
        made[name].mkdir(mode=0o700)
    yield made
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def page_port() -> int:
    return free_ports(1)[0]


@pytest.fixture(scope="module")
def dev_env(folders: dict[str, Path], page_port: int) -> dict[str, str]:
    """Every port, the data folder and the CORS origins from the environment, as a second suite needs."""
    ports = free_ports(len(fields(StackPorts)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVSTACK_")}
    env.update({f"DEVSTACK_{field.name.upper()}_PORT": str(port) for field, port in zip(fields(StackPorts), ports,
                                                                                       strict=True)})
    env.update({"DEVSTACK_DATA": str(folders["data"]), "XDG_STATE_HOME": str(folders["state"]),
                "CORS_ORIGINS": f"http://localhost:{page_port}, http://web.example:8443"})
    return env


@pytest.fixture(scope="module")
def suite(dev_env: dict[str, str]) -> Iterator[DevSuite]:
    running = start_make_dev(dev_env)
    yield running
    with contextlib.suppress(psutil.NoSuchProcess):
        running.supervisor.terminate()
    running.make.wait(120)


def second_clone(destination: Path) -> Path:
    """A copy of this checkout's files (committed or not) sharing its virtual environment, with the
    files' times kept so make sees the environment as up to date."""
    if not destination.exists():
        listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                                capture_output=True, text=True).stdout.split("\0")
        for name in filter(None, listed):
            source = REPO / name
            if source.is_file():
                (destination / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, destination / name)
        (destination / ".venv").symlink_to(REPO / ".venv")
    return destination


def make_token(clone: Path, env: dict[str, str], user: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in env.items() if k != "DEVSTACK_DATA"}
    return subprocess.run(["make", "-s", "token", f"USER={user}", "ROLE=teacher"], cwd=clone, env=clean,
                          capture_output=True, text=True, timeout=120)


def test_ports_and_data_folder_come_from_the_environment(suite: DevSuite, folders: dict[str, Path]) -> None:
    banner = "".join(suite.output)
    assert f"Envoy            http://127.0.0.1:{suite.ports.envoy}" in banner
    assert f"Postgres {postgres.MAJOR}      127.0.0.1:{suite.ports.postgres}" in banner
    assert str(folders["data"]) in banner
    assert (folders["data"] / "postgres" / "PG_VERSION").exists()


def test_a_token_minted_from_a_second_clone_is_accepted(suite: DevSuite, folders: dict[str, Path]) -> None:
    clone = second_clone(folders["clone"])
    result = make_token(clone, suite.env, "from-the-clone")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    reply = http_request(f"127.0.0.1:{suite.ports.envoy}", "GET", "/v1/profile", token=token)
    assert reply.status == 200, reply.body
    assert reply.json()["profile"]["userId"] == "from-the-clone"
    assert not (clone / ".devdata").exists(), "minting a token must not create a data folder"


def test_with_no_suite_running_make_token_says_so(suite: DevSuite, folders: dict[str, Path]) -> None:
    clone = second_clone(folders["clone"])
    result = make_token(clone, {**suite.env, "XDG_STATE_HOME": str(folders["empty_state"])}, "nobody")
    assert result.returncode != 0
    assert "no suite is running" in result.stderr
    assert result.stdout.strip() == ""


def test_cors_origins_from_the_environment_reach_a_browser(
    suite: DevSuite, folders: dict[str, Path], page_port: int
) -> None:
    result = make_token(second_clone(folders["clone"]), suite.env, "cors-user")
    html = page(f"http://127.0.0.1:{suite.ports.envoy}", result.stdout.strip(),
                {"profile": ("GET", "/v1/profile", None)})
    with page_server(html, port=page_port) as server:
        report = load(server, f"http://localhost:{page_port}/")
    assert report["profile"]["status"] == 200, report
    assert report["profile"]["body"]["profile"]["userId"] == "cors-user"
    # CORS_ORIGINS replaces the defaults: Vite's usual origin is not allowed on this suite.
    preflight = http_request(f"127.0.0.1:{suite.ports.envoy}", "OPTIONS", "/v1/profile", headers={
        "origin": "http://localhost:5173", "access-control-request-method": "GET"})
    assert preflight.header("access-control-allow-origin") is None


def test_the_banner_lists_each_metrics_endpoint_and_its_counters_move(
    suite: DevSuite, folders: dict[str, Path]
) -> None:
    banner = "".join(suite.output)
    urls = dict(re.findall(r"(http://127\.0\.0\.1:\d+/(?:metrics|stats/prometheus))\s+(\S.*)", banner))
    assert sorted(urls.values()) == sorted(
        ["ContentService", "UserService", "IngestService", "Reflection", "Celery worker", "Envoy"]), banner
    assert f"http://127.0.0.1:{suite.ports.user_metrics}/metrics" in urls
    for url in urls:
        assert "# TYPE" in urllib.request.urlopen(url, timeout=10).read().decode(), url

    user_metrics = f"http://127.0.0.1:{suite.ports.user_metrics}/metrics"
    handled = re.compile(r'^grpc_server_handled_total\{grpc_code="OK",grpc_method="GetProfile",'
                         r'grpc_service="teaching.user.v1.UserService",grpc_type="unary"} (\S+)$', re.MULTILINE)

    def profiles_served() -> float:
        found = handled.search(urllib.request.urlopen(user_metrics, timeout=10).read().decode())
        return float(found.group(1)) if found else 0.0

    before = profiles_served()
    token = make_token(second_clone(folders["clone"]), suite.env, "metrics-user").stdout.strip()
    assert http_request(f"127.0.0.1:{suite.ports.envoy}", "GET", "/v1/profile", token=token).status == 200
    assert profiles_served() == before + 1


def test_sigkill_of_the_supervisor_leaves_no_process_behind(suite: DevSuite) -> None:
    children = suite.descendants()
    names = {" ".join(p.cmdline()[:3]) for p in children}
    # Postgres (with its backends), Redis, three services, reflection, the worker (with its pool), Envoy.
    assert len(children) >= 9, names
    suite.supervisor.kill()
    survivors = wait_gone(children)
    assert survivors == [], [" ".join(p.cmdline()) for p in survivors]
    suite.make.wait(60)


def test_the_next_start_comes_up_and_a_closed_terminal_stops_everything(
    suite: DevSuite, dev_env: dict[str, str]
) -> None:
    # The same data folder and ports as the suite killed above: nothing of it may still hold them.
    again = start_make_dev(dev_env)
    children = again.descendants()
    again.supervisor.send_signal(signal.SIGHUP)
    assert again.make.wait(120) == 0
    assert wait_gone(children, timeout=30) == []
    assert "devstack: stopped" in "".join(again.output)
