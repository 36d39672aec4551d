"""`python -m bench` (`make bench`): start a stack, measure, print tables, write JSON.

    python -m bench                      # everything (about 10 minutes on 2 cores)
    python -m bench --quick              # tiny sizes and counts: a smoke run
    python -m bench --only search,envoy  # some sections (search, envoy, ingest, users, quality)
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench import report
from bench.harness import CORPUS, ROOT, Stopwatch, bench_stack, envoy_available, machine
from bench.search import LoadPlan, RawSearch, SearchTarget, bench_latency, bench_recall
from bench.synthetic import Corpus, load_synthetic_books
from content_svc.embedding import embedder_from_settings

SECTIONS = ("ingest", "search", "envoy", "users", "quality")
log = logging.getLogger("bench")


@dataclass(frozen=True)
class Config:
    # (label, total books, atoms per book): each size adds books to the previous one.
    sizes: tuple[tuple[str, int, int], ...]
    search: LoadPlan
    recall_queries: int
    envoy_requests: int
    user_levels: tuple[int, ...]
    user_requests: int
    user_seconds: float
    upload_megabytes: int
    pdf: Path


FULL = Config(
    sizes=(("10k", 10, 1000), ("100k", 100, 1000)),
    search=LoadPlan(levels=(1, 8, 32), requests=(150, 300, 480), max_seconds=15.0),
    recall_queries=100, envoy_requests=300, user_levels=(1, 8), user_requests=600, user_seconds=10.0,
    upload_megabytes=64, pdf=CORPUS / "thinkpython2.pdf",
)
QUICK = Config(
    sizes=(("1k", 10, 100), ("2k", 20, 100)),
    search=LoadPlan(levels=(1, 8, 32), requests=(10, 16, 32), max_seconds=5.0),
    recall_queries=10, envoy_requests=10, user_levels=(1, 8), user_requests=16, user_seconds=5.0,
    upload_megabytes=2, pdf=CORPUS / "toc.pdf",
)


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
        needs_pdf = any(s in sections for s in ("search", "envoy", "quality"))

        if "ingest" in sections:
            from bench.ingest import bench_ingest, upload_throughput

            log.info("ingest: %s", config.pdf.name)
            results["ingest"] = bench_ingest(stack, config.pdf, embedder)
            results["ingest"]["upload_stream"] = upload_throughput(stack, config.upload_megabytes)
            pdf_book_id = results["ingest"]["service"]["book_id"]
        elif needs_pdf:
            from bench.ingest import load_pdf_direct

            pdf_book_id = load_pdf_direct(conninfo, config.pdf, embedder)

        corpus = Corpus.create()
        pdf_target: SearchTarget | None = None
        if pdf_book_id is not None:
            from bench.quality import known_answers

            _, answers = known_answers(conninfo, uuid.UUID(pdf_book_id))
            queries = [a.query for a in answers] or ["program", "function", "variable"]
            pdf_target = SearchTarget(config.pdf.stem, [uuid.UUID(pdf_book_id)], 0, queries)

        if "search" in sections:
            raw = RawSearch(settings, embedder)
            results["search"] = {}
            book_ids: list[Any] = []
            try:
                for label, total_books, per_book in config.sizes:
                    watch = Stopwatch()
                    book_ids += load_synthetic_books(conninfo, corpus, embedder, books=total_books - len(book_ids),
                                                     atoms_per_book=per_book, first_index=len(book_ids))
                    log.info("search %s: loaded %d books in %.1fs", label, len(book_ids), watch.seconds())
                    target = SearchTarget(label, list(book_ids), total_books * per_book, corpus.queries(60))
                    entry = bench_latency(stack, raw, target, config.search)
                    entry["recall"] = bench_recall(settings, embedder, list(book_ids),
                                                   corpus.queries(config.recall_queries),
                                                   filtered_queries=config.recall_queries)
                    results["search"][label] = entry
                    log.info("search %s done", label)
                if pdf_target is not None:
                    with psycopg.connect(conninfo) as conn:
                        row = conn.execute("SELECT atom_count FROM books WHERE book_id = %s",
                                           (pdf_target.book_ids[0],)).fetchone()
                    atoms = int(row[0]) if row else 0
                    pdf_target = SearchTarget(pdf_target.label, pdf_target.book_ids, atoms, pdf_target.queries)
                    entry = bench_latency(stack, raw, pdf_target, config.search)
                    entry["recall"] = bench_recall(settings, embedder, pdf_target.book_ids, pdf_target.queries,
                                                   filtered_queries=0)
                    entry["recall"].pop("filtered_one_book")  # one book: the same as unfiltered
                    results["search"][pdf_target.label] = entry
            finally:
                raw.close()

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
                conninfo, corpus, embedder, books=1, atoms_per_book=10, first_index=1_000_000)[0]
            results["users"] = bench_users(stack, cited, levels=config.user_levels, requests=config.user_requests,
                                           max_seconds=config.user_seconds)

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
        "config": {"sizes": [list(s) for s in config.sizes], "search_levels": list(config.search.levels),
                   "search_requests": list(config.search.requests), "search_max_seconds": config.search.max_seconds,
                   "pdf": config.pdf.name},
    }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes and request counts (a smoke run)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, help="JSON output (default bench/results/latest.json, quick.json)")
    parser.add_argument("--data-dir", type=Path, help="stack data folder (default: a temporary one, removed after)")
    parser.add_argument("--pdf", type=Path, help="the real book to ingest and search (default thinkpython2.pdf)")
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
    # Only a full run replaces the committed latest.json.
    name = "quick" if args.quick else ("latest" if set(sections) == set(SECTIONS) and not args.pdf else "partial")
    out: Path = args.out or ROOT / "bench" / "results" / f"{name}.json"
    results = run(config, sections, args.data_dir, args.quick)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    out.with_suffix(".md").write_text(report.render_markdown(results) + "\n")
    print()
    print(report.render(results))
    print(f"\nwritten: {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
