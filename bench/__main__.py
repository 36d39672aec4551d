"""`python -m bench` (`make bench`): start a stack, measure, print tables, write JSON.

    python -m bench                      # everything (about 20 minutes on 2 cores)
    python -m bench --quick              # tiny sizes and counts: a smoke run
    python -m bench --only search,peers  # some sections (ingest, search, peers, envoy, users, processes, quality)
    python -m bench --scale              # the library at 1M atoms: load, index, memory, search p50
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import logging
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench import library, report
from bench.harness import CORPUS, ROOT, Stopwatch, bench_stack, envoy_available, machine, settle
from bench.search import LoadPlan, RawSearch, SearchTarget, bench_latency, bench_recall
from bench.synthetic import Corpus, load_synthetic_books
from content_svc.embedding import embedder_from_settings
from devstack import Stack

SECTIONS = ("ingest", "search", "peers", "envoy", "users", "processes", "quality")
log = logging.getLogger("bench")


@dataclass(frozen=True)
class Config:
    # The realistic library (bench/library.py): books x atoms, searched at each scope size.
    library_books: int
    atoms_per_book: int
    scope_sizes: tuple[int, ...]
    # The random-word stress set (bench/synthetic.py), reported apart.
    stress_books: int
    stress_scope_sizes: tuple[int, ...]
    search: LoadPlan
    stress_search: LoadPlan
    recall_queries: int
    peer_queries: int
    envoy_requests: int
    user_levels: tuple[int, ...]
    user_requests: int
    user_seconds: float
    upload_megabytes: int
    pdf: Path
    # 1 against 2 server processes (bench/processes.py): alternating runs of this many seconds.
    process_rounds: int = 3
    process_seconds: float = 5.0


FULL = Config(
    library_books=100, atoms_per_book=1000, scope_sizes=(1, 5, 100),
    stress_books=100, stress_scope_sizes=(1, 5, 100),
    search=LoadPlan(levels=(1, 8, 32), requests=(150, 1200, 1600), max_seconds=15.0),
    stress_search=LoadPlan(levels=(1, 8), requests=(100, 800), max_seconds=10.0),
    recall_queries=100, peer_queries=60, envoy_requests=300, user_levels=(1, 8), user_requests=600,
    user_seconds=10.0, upload_megabytes=64, pdf=CORPUS / "thinkpython2.pdf",
)
QUICK = Config(
    library_books=10, atoms_per_book=100, scope_sizes=(1, 5, 10),
    stress_books=5, stress_scope_sizes=(1, 5),
    search=LoadPlan(levels=(1, 8, 32), requests=(10, 16, 32), max_seconds=5.0),
    stress_search=LoadPlan(levels=(1, 8), requests=(10, 16), max_seconds=5.0),
    recall_queries=10, peer_queries=8, envoy_requests=10, user_levels=(1, 8), user_requests=16, user_seconds=5.0,
    upload_megabytes=2, pdf=CORPUS / "toc.pdf", process_rounds=1, process_seconds=1.0,
)


def scope_label(size: int, prefix: str = "") -> str:
    return f"{prefix}{size} book{'s' if size > 1 else ''}"


def bench_scopes(
    stack: Stack, raw: RawSearch, book_ids: list[uuid.UUID], atoms_per_book: int, sizes: tuple[int, ...],
    queries: Callable[[int], list[str]], plan: LoadPlan, recall_queries: int, kind: str, prefix: str = "",
) -> dict[str, Any]:
    """Latency (gRPC against the same SQL) and recall at each scope size over one loaded library."""
    results = {}
    for size in sizes:
        scope = library.scopes(book_ids, size, 1)[0]
        label = scope_label(size, prefix)
        entry = bench_latency(stack, raw, SearchTarget(label, scope, size * atoms_per_book, queries(60)), plan)
        entry["set"] = kind
        entry["library_books"] = len(book_ids)
        entry["recall"] = bench_recall(raw, library.scopes(book_ids, size, recall_queries), queries(recall_queries))
        results[label] = entry
        log.info("search %s done", label)
    return results


def run(config: Config, sections: list[str], data_dir: Path | None, quick: bool) -> dict[str, Any]:
    clock = Stopwatch()
    results: dict[str, Any] = {}
    with_envoy = "envoy" in sections and envoy_available()
    with bench_stack(data_dir, with_envoy=with_envoy) as stack:
        log.info("stack up in %.1fs on %s", clock.seconds(), stack.data_dir)
        settings = stack.settings
        embedder = embedder_from_settings(settings)
        conninfo = settings.content_conninfo()
        pdf_book_id: str | None = None
        needs_pdf = any(s in sections for s in ("search", "envoy", "processes", "quality"))

        if "ingest" in sections:
            from bench.ingest import bench_ingest, upload_throughput

            log.info("ingest: %s", config.pdf.name)
            results["ingest"] = bench_ingest(stack, config.pdf, embedder)
            results["ingest"]["upload_stream"] = upload_throughput(stack, config.upload_megabytes)
            pdf_book_id = results["ingest"]["service"]["book_id"]
        elif needs_pdf:
            from bench.ingest import load_pdf_direct

            pdf_book_id = load_pdf_direct(conninfo, config.pdf, embedder)

        pdf_target: SearchTarget | None = None
        if pdf_book_id is not None:
            from bench.quality import known_answers

            _, answers = known_answers(conninfo, uuid.UUID(pdf_book_id))
            queries = [a.query for a in answers] or ["program", "function", "variable"]
            pdf_target = SearchTarget(config.pdf.stem, [uuid.UUID(pdf_book_id)], 0, queries)

        books: list[library.LoadedBook] = []
        corpus: library.RealisticCorpus | None = None
        if "search" in sections or "peers" in sections:
            watch = Stopwatch()
            corpus = library.RealisticCorpus.create(library.LIBRARY_PDF)
            books = library.load_realistic_books(conninfo, corpus, embedder, books=config.library_books,
                                                 atoms_per_book=config.atoms_per_book)
            results["library"] = {"books": len(books), "atoms_per_book": config.atoms_per_book,
                                  "topics": len(corpus.topics), "load_seconds": round(watch.seconds(), 1)}
            log.info("library: %d realistic books loaded in %.1fs", len(books), watch.seconds())
            log.info("library: settled in %.1fs", settle(conninfo))

        if "search" in sections and corpus is not None:
            raw = RawSearch(settings, embedder)
            results["search"] = {}
            try:
                book_ids = [book.book_id for book in books]
                results["search"].update(bench_scopes(
                    stack, raw, book_ids, config.atoms_per_book, config.scope_sizes, corpus.queries, config.search,
                    config.recall_queries, "realistic"))
                if pdf_target is not None:
                    with psycopg.connect(conninfo) as conn:
                        row = conn.execute("SELECT atom_count FROM books WHERE book_id = %s",
                                           (pdf_target.book_ids[0],)).fetchone()
                    atoms = int(row[0]) if row else 0
                    pdf_target = SearchTarget(pdf_target.label, pdf_target.book_ids, atoms, pdf_target.queries)
                    entry = bench_latency(stack, raw, pdf_target, config.search)
                    entry["set"] = "book"
                    entry["recall"] = bench_recall(raw, [pdf_target.book_ids], pdf_target.queries)
                    results["search"][pdf_target.label] = entry
                # The stress set joins the same library; its scopes only ever hold stress books.
                watch = Stopwatch()
                stress_corpus = Corpus.create()
                stress_ids = load_synthetic_books(conninfo, stress_corpus, embedder, books=config.stress_books,
                                                  atoms_per_book=config.atoms_per_book, first_index=0)
                log.info("stress: %d random-word books loaded in %.1fs", len(stress_ids), watch.seconds())
                log.info("stress: settled in %.1fs", settle(conninfo))
                results["search"].update(bench_scopes(
                    stack, raw, stress_ids, config.atoms_per_book, config.stress_scope_sizes, stress_corpus.queries,
                    config.stress_search, config.recall_queries, "stress", prefix="stress "))
            finally:
                raw.close()

        if "peers" in sections and corpus is not None:
            if importlib.util.find_spec("chromadb") is None or importlib.util.find_spec("tantivy") is None:
                log.warning("peers: chromadb/tantivy not installed (pip install -e '.[bench]'); skipped")
                results["peers"] = {"skipped": "chromadb or tantivy not installed: pip install -e '.[bench]'"}
            else:
                from bench.peers import bench_peers

                results["peers"] = bench_peers(stack, embedder, books, corpus.queries(config.peer_queries),
                                               config.scope_sizes, floor_requests=config.user_requests)

        if "envoy" in sections:
            if not with_envoy:
                log.warning("envoy: envoy/render.py is missing; skipped")
            elif pdf_target is not None:
                from bench.front_door import bench_envoy

                results["envoy"] = bench_envoy(stack, pdf_target, requests=config.envoy_requests)

        if "users" in sections:
            from bench.users import bench_users

            # Artifacts cite a real book (their references are checked): the PDF's, or a small synthetic one.
            cited = uuid.UUID(pdf_book_id) if pdf_book_id is not None else load_synthetic_books(
                conninfo, Corpus.create(), embedder, books=1, atoms_per_book=10, first_index=1_000_000)[0]
            results["users"] = bench_users(stack, cited, levels=config.user_levels, requests=config.user_requests,
                                           max_seconds=config.user_seconds)

        if "processes" in sections and pdf_target is not None:
            from bench.processes import bench_processes

            results["processes"] = bench_processes(stack, pdf_target, rounds=config.process_rounds,
                                                   seconds=config.process_seconds)

        if "quality" in sections and pdf_book_id is not None:
            from bench.quality import bench_quality

            results["quality"] = bench_quality(stack, pdf_book_id)

    results["targets"] = report.check_targets(results)
    results["meta"] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "quick": quick,
        "sections": sections,
        "duration_s": round(clock.seconds(), 1),
        "config": {"library": [config.library_books, config.atoms_per_book], "scopes": list(config.scope_sizes),
                   "stress": [config.stress_books, config.atoms_per_book],
                   "search_levels": list(config.search.levels), "search_requests": list(config.search.requests),
                   "search_max_seconds": config.search.max_seconds, "pdf": config.pdf.name},
    }
    return results


def run_scale(books: int, data_dir: Path | None) -> dict[str, Any]:
    from bench.scale import bench_scale

    clock = Stopwatch()
    with bench_stack(data_dir, with_envoy=False) as stack:
        embedder = embedder_from_settings(stack.settings)
        results: dict[str, Any] = {"scale": bench_scale(stack, embedder, books=books, atoms_per_book=1000,
                                                        scope_sizes=tuple(sorted({1, 5, min(100, books)})),
                                                        queries=30, recall_queries=100)}
    results["targets"] = report.check_targets(results)
    results["meta"] = {"date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                       "machine": machine(), "quick": False, "sections": ["scale"],
                       "duration_s": round(clock.seconds(), 1), "config": {"books": books, "atoms_per_book": 1000}}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes and request counts (a smoke run)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, help="JSON output (default bench/results/latest.json, quick.json)")
    parser.add_argument("--data-dir", type=Path, help="stack data folder (default: a temporary one, removed after)")
    parser.add_argument("--pdf", type=Path, help="the real book to ingest and search (default thinkpython2.pdf)")
    parser.add_argument("--scale", action="store_true",
                        help="only the 1M-atom library (1,000 books x 1,000 atoms; --scale-books to change)")
    parser.add_argument("--scale-books", type=int, default=1000, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {','.join(SECTIONS)}")
    config = QUICK if args.quick else FULL
    if args.pdf:
        config = Config(**{**config.__dict__, "pdf": args.pdf})
    if not config.pdf.exists():
        parser.error(f"{config.pdf} not found (the corpus lives in ../shared/corpus); pass --pdf")
    # Only a full run replaces the committed latest.json; a scale run writes scale.json.
    name = "quick" if args.quick else ("latest" if set(sections) == set(SECTIONS) and not args.pdf else "partial")
    if args.scale:
        name = "scale"
    out: Path = args.out or ROOT / "bench" / "results" / f"{name}.json"
    results = run_scale(args.scale_books, args.data_dir) if args.scale else run(config, sections, args.data_dir,
                                                                                args.quick)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    out.with_suffix(".md").write_text(report.render_markdown(results) + "\n")
    print()
    print(report.render(results))
    print(f"\nwritten: {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
