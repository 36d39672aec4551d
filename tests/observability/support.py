"""Reading what the stack's processes report: Prometheus endpoints as Prometheus does (an HTTP GET,
parsed with prometheus_client's parser), and their JSON log files."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from devstack import Stack

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample `name` with exactly these labels; 0 when absent (a counter not yet incremented)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_for_value(url: str, condition: Callable[[Samples], bool], what: str, timeout: float = 30) -> Samples:
    """Scrape until `condition` holds (pools are sampled once a second); fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(url)
        if condition(samples):
            return samples
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def log_lines(stack: Stack, name: str) -> list[str]:
    """What process `name` of `stack` has logged so far."""
    return (stack.logs_dir / f"{name}.log").read_text().splitlines()
