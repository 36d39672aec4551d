"""`make dev`'s ports: from the environment, and in agreement with the settings' defaults."""

from __future__ import annotations

import pytest

from common.settings import Settings
from devstack import StackPorts
from devstack.stack import StackError


def test_settings_defaults_are_make_devs_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    # A tool run with no environment (migrations, backups, a service started by hand) finds `make dev`'s suite.
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    settings, ports = Settings(), StackPorts()
    assert settings.postgres_content_port == settings.postgres_user_port == ports.postgres
    assert (settings.content_port, settings.user_port, settings.ingest_port, settings.reflection_port) == (
        ports.content, ports.user, ports.ingest, ports.reflection)
    assert settings.redis_url == f"redis://127.0.0.1:{ports.redis}/0"


def test_no_environment_means_the_default_ports() -> None:
    assert StackPorts.from_environment({}) == StackPorts()


def test_an_offset_moves_every_port_and_a_named_port_wins() -> None:
    ports = StackPorts.from_environment({"DEVSTACK_PORT_OFFSET": "100", "DEVSTACK_ENVOY_PORT": "9080"})
    assert ports.postgres == 5533 and ports.redis == 6479 and ports.content == 50151
    assert ports.reflection == 50154 and ports.envoy_admin == 10001
    assert ports.envoy == 9080


@pytest.mark.parametrize("env", [{"DEVSTACK_PORT_OFFSET": "ten"}, {"DEVSTACK_REDIS_PORT": "-1"}],
                         ids=["offset", "named"])
def test_a_port_that_is_not_a_number_is_refused_by_name(env: dict[str, str]) -> None:
    with pytest.raises(StackError, match=next(iter(env))):
        StackPorts.from_environment(env)
