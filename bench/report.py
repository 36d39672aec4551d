"""Tables (tabulate) and target checks from the benchmark figures."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate  # type: ignore[import-untyped]

TARGETS = {
    "search_p50_ratio": 1.5,
    "envoy_added_ms_p50": 1.0,
    "recall_at_10": 0.95,
    "ingest_ratio": 2.0,
}


def check_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    for label, dataset in results.get("search", {}).items():
        for run in dataset.get("runs", []):
            checks.append({"target": f"search {label} c={run['concurrency']}: gRPC p50 / raw SQL p50",
                           "limit": f"<= {TARGETS['search_p50_ratio']}", "value": run["ratio_p50"],
                           "met": run["ratio_p50"] <= TARGETS["search_p50_ratio"]})
        recall = dataset.get("recall")
        if recall:
            for scope in ("unfiltered", "filtered_one_book"):
                if scope not in recall:
                    continue
                value = recall[scope]["recall_at_10"]
                checks.append({"target": f"recall@10 {label} {scope}", "limit": f">= {TARGETS['recall_at_10']}",
                               "value": value, "met": value >= TARGETS["recall_at_10"]})
    envoy = results.get("envoy")
    if envoy:
        value = envoy["json_added_ms_p50"]
        checks.append({"target": "Envoy JSON added latency p50 (ms)", "limit": f"<= {TARGETS['envoy_added_ms_p50']}",
                       "value": value, "met": value <= TARGETS["envoy_added_ms_p50"]})
    ingest = results.get("ingest")
    if ingest:
        value = ingest["ratio_seconds"]
        checks.append({"target": "upload-to-searchable / bare pipeline", "limit": f"<= {TARGETS['ingest_ratio']}",
                       "value": value, "met": value <= TARGETS["ingest_ratio"]})
    return checks


def _latency(s: dict[str, Any]) -> str:
    return f"{s['p50_ms']:.1f} / {s['p95_ms']:.1f} / {s['p99_ms']:.1f}"


def tables(results: dict[str, Any], fmt: str = "simple") -> list[tuple[str, str]]:
    """(title, rendered table) pairs, in reading order."""
    out: list[tuple[str, str]] = []
    search_rows = []
    for label, d in results.get("search", {}).items():
        for run in d["runs"]:
            search_rows.append([
                label, d["books"], run["concurrency"], _latency(run["grpc"]), _latency(run["raw_sql"]),
                run["ratio_p50"], run["ratio_p99"], run["grpc"]["throughput_rps"], run["raw_sql"]["throughput_rps"],
                run["ratio_throughput"],
            ])
    if search_rows:
        out.append(("Search (HYBRID, top 10): gRPC SearchContent vs the same SQL through psycopg", tabulate(
            search_rows,
            ["dataset", "books", "conc.", "gRPC p50/p95/p99 ms", "SQL p50/p95/p99 ms", "p50 x", "p99 x",
             "gRPC req/s", "SQL req/s", "req/s x"],
            tablefmt=fmt)))
    recall_rows = []
    for label, d in results.get("search", {}).items():
        if d.get("recall"):
            r = d["recall"]
            one = r.get("filtered_one_book", {})
            recall_rows.append([label, r["unfiltered"]["books"], r["unfiltered"]["recall_at_10"],
                                r["unfiltered"]["queries"], one.get("recall_at_10", "-"), one.get("queries", "-")])
    if recall_rows:
        out.append(("HNSW recall@10 against exact search (index scans off)", tabulate(
            recall_rows, ["dataset", "books", "all books", "queries", "one book", "queries"], tablefmt=fmt)))
    envoy = results.get("envoy")
    if envoy:
        rows = [[name.replace("_", " "), _latency(envoy[name]),
                 "" if name == "grpc_direct" else envoy[f"{name.split('_')[0]}_added_ms_p50"],
                 "" if name == "grpc_direct" else envoy[f"{name.split('_')[0]}_added_ms_p99"]]
                for name in ("grpc_direct", "grpc_via_envoy", "json_via_envoy")]
        out.append((f"Envoy: the same search ({envoy['atoms']} atoms), interleaved, concurrency 1", tabulate(
            rows, ["path", "p50/p95/p99 ms", "added p50 ms", "added p99 ms"], tablefmt=fmt)))
    ingest = results.get("ingest")
    if ingest:
        s, b = ingest["service"], ingest["bare"]
        rows = [
            ["service: upload → job SUCCEEDED", s["seconds"], s["pages"], s["atoms"], s["pages_per_second"]],
            ["bare: pypdfium2 + chunk + embed + COPY + index", b["seconds"], b["pages"], b["atoms"],
             b["pages_per_second"]],
        ]
        title = (f"Ingest {ingest['pdf']} ({ingest['bytes'] / 2**20:.2f} MiB): ratio {ingest['ratio_seconds']}x; "
                 f"upload {s['upload_mb_per_s']} MB/s")
        upload = ingest.get("upload_stream")
        if upload:
            title += (f"; {upload['megabytes']} MiB stream {upload['mb_per_s']} MB/s "
                      f"(local write+hash {upload['local_write_mb_per_s']} MB/s)")
        phases = ", ".join(f"{k[:-2]} {v}s" for k, v in b["phases"].items())
        out.append((title, tabulate(rows, ["path", "seconds", "pages", "atoms", "pages/s"], tablefmt=fmt)
                    + f"\nbare phases: {phases}"))
    users = results.get("users")
    if users:
        rows = []
        for kind in ("create", "get"):
            for run in users[kind]:
                rows.append([f"{kind.capitalize()}Artifact", run["concurrency"], run["grpc"]["throughput_rps"],
                             run["raw_sql"]["throughput_rps"], run["ratio_throughput"], run["grpc"]["p50_ms"],
                             run["raw_sql"]["p50_ms"]])
        out.append(("UserService: gRPC vs user_svc.repository SQL through psycopg", tabulate(
            rows, ["call", "conc.", "gRPC req/s", "SQL req/s", "req/s x", "gRPC p50 ms", "SQL p50 ms"],
            tablefmt=fmt)))
    quality = results.get("quality")
    if quality:
        rows = [[r["kind"], r["mode"], r["queries"], r["hit_chapter_at_1"], r["hit_chapter_at_5"],
                 r["hit_section_at_1"], r["hit_section_at_5"]] for r in quality["results"]]
        out.append(("Retrieval quality (known answers from the outline)", tabulate(
            rows, ["queries", "mode", "n", "chapter@1", "chapter@5", "section@1", "section@5"], tablefmt=fmt)))
    checks = results.get("targets")
    if checks:
        rows = [[c["target"], c["limit"], c["value"], "yes" if c["met"] else "NO"] for c in checks]
        out.append(("Targets", tabulate(rows, ["target", "limit", "value", "met"], tablefmt=fmt)))
    return out


def render(results: dict[str, Any], fmt: str = "simple") -> str:
    return "\n\n".join(f"{title}\n{table}" for title, table in tables(results, fmt))


def render_markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    m = meta["machine"]
    head = (f"Ran {meta['date']} on {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']} "
            f"({m['platform']}); {meta['duration_s']:.0f} s{' (quick mode)' if meta['quick'] else ''}.")
    return head + "\n\n" + "\n\n".join(f"**{title}**\n\n{table}" for title, table in tables(results, "github"))
