"""`python -m bench --quick` end to end: the JSON has every section with sane values (never timings)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / ".." / "shared" / "corpus"


def _latency_ok(summary: dict) -> None:
    assert summary["requests"] > 0 and summary["errors"] == 0
    assert 0 < summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"]
    assert summary["throughput_rps"] > 0


def test_quick_run_writes_every_section(tmp_path: Path) -> None:
    if not (CORPUS / "toc.pdf").exists():
        pytest.skip(f"corpus not found at {CORPUS} (../shared/corpus)")
    out = tmp_path / "quick.json"
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Targets" in done.stdout
    results = json.loads(out.read_text())
    assert out.with_suffix(".md").read_text().startswith("Ran ")

    assert set(results) >= {"meta", "search", "envoy", "ingest", "users", "processes", "quality", "targets"}
    assert results["meta"]["quick"] is True and results["meta"]["machine"]["cores"] >= 1

    assert results["library"]["books"] == 10 and results["library"]["topics"] > 50
    assert set(results["search"]) == {"1 book", "5 books", "10 books", "toc", "stress 1 book", "stress 5 books"}
    for label, dataset in results["search"].items():
        assert dataset["same_results"] == dataset["same_results_checked"] > 0, label
        assert [run["concurrency"] for run in dataset["runs"]] == ([1, 8] if label.startswith("stress") else [1, 8, 32])
        for run in dataset["runs"]:
            _latency_ok(run["grpc"])
            _latency_ok(run["raw_sql"])
            assert run["ratio_p50"] == pytest.approx(run["grpc"]["p50_ms"] / run["raw_sql"]["p50_ms"], abs=0.01)
        assert dataset["recall"]["exact_plan_uses_hnsw"] is False
        assert 0 <= dataset["recall"]["recall_at_10"] <= 1
    assert results["search"]["10 books"]["books"] == 10 and results["search"]["10 books"]["atoms"] == 1000
    assert results["search"]["5 books"]["set"] == "realistic" and results["search"]["stress 5 books"]["set"] == "stress"

    peers = results["peers"]
    if "skipped" not in peers:  # chromadb and tantivy come with the bench extra (make bench installs it)
        assert [scope["books"] for scope in peers["scopes"]] == [1, 5, 10]
        for scope in peers["scopes"]:
            assert all(value > 0 for value in scope["p50_ms"].values())
            assert all(0 <= value <= 1 for value in scope["recall_at_10"].values())
        _latency_ok(peers["grpc_floor"]["c1"])

    envoy = results["envoy"]
    for path in ("grpc_direct", "grpc_via_envoy", "json_via_envoy"):
        assert envoy[path]["requests"] == 10
    assert math.isfinite(envoy["json_added_ms_p50"])

    ingest = results["ingest"]
    assert ingest["service"]["searchable"] is True
    assert ingest["service"]["pages"] == ingest["bare"]["pages"] == 2
    assert ingest["service"]["atoms"] > 0 and ingest["bare"]["atoms"] > 0
    assert ingest["ratio_seconds"] > 0 and ingest["upload_stream"]["mb_per_s"] > 0

    for kind in ("create", "get"):
        assert [run["concurrency"] for run in results["users"][kind]] == [1, 8]
        for run in results["users"][kind]:
            _latency_ok(run["grpc"])
            _latency_ok(run["raw_sql"])
            _latency_ok(run["floor"])

    processes = results["processes"]
    assert processes["counts"] == [1, 2] and processes["search_target"]["label"] == "toc"
    for call in ("search", "get_artifact", "floor"):
        assert [run["concurrency"] for run in processes[call]] == [1, 8]
        for run in processes[call]:
            assert run["processes_1"]["throughput_rps"] > 0 and run["processes_2"]["throughput_rps"] > 0

    modes = {row["mode"] for row in results["quality"]["results"]}
    assert modes == {"TEXT", "VECTOR", "HYBRID", "BM25 reference"}
    for row in results["quality"]["results"]:
        assert all(0 <= row[key] <= 1 for key in ("hit_chapter_at_1", "hit_chapter_at_5", "hit_section_at_1",
                                                   "hit_section_at_5"))
    assert {check["met"] for check in results["targets"]} <= {True, False}


def test_scale_run_on_a_small_library(tmp_path: Path) -> None:
    # `--scale` at 6 books instead of 1,000: every step of the 1M-atom run, library-wide search included.
    if not (CORPUS / "thinkpython2.pdf").exists():
        pytest.skip(f"corpus not found at {CORPUS} (../shared/corpus)")
    out = tmp_path / "scale.json"
    done = subprocess.run([sys.executable, "-m", "bench", "--scale", "--scale-books", "6", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    scale = json.loads(out.read_text())["scale"]
    assert scale["atoms"] == 6000 and scale["load_seconds"] > 0 and scale["sizes"]["hnsw_indexes_mib"] > 0
    assert [(s["books"], s["library_wide"]) for s in scale["search"]] == [(1, False), (5, False), (6, False),
                                                                         (6, True)]
    for search in scale["search"]:
        assert search["hybrid_p50_ms"] > 0 and search["warm_hybrid_p50_ms"] > 0 and search["queries"] == 30
        assert 0 < search["recall_at_10"] <= 1 and search["recall_queries"] == 100
