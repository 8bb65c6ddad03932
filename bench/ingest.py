"""Ingest throughput beside the bare tokenizer, on the 19,876 real CCTV stories.

Usage (from the repository root)::

    .venv/bin/python bench/ingest.py [--limit N] [--rounds 3] [--workers 0,1]

Each round and each ``--workers`` setting, in one process and one right after the
other so that both see the same machine load: the bare tokenizer
(``newsdesk.text.tokenize``) over every story's title and body, then a full ingest
of the same stories (JSONL file -> validated documents -> fingerprints -> summaries
-> SQLite -> tantivy) into a fresh home. Reports throughput per wall-clock second
and per CPU second (this process's threads and its worker processes; the CPU
figure is what the code costs, the wall figure what a user waits on a shared
machine), the ratios of ingest to tokenizer, and medians over the rounds.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from newsdesk import load_settings, open_engine
from newsdesk.text import tokenize

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cctv_xwlb"


def load(limit: int | None) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with gzip.open(DATA / "xwlb_stories.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            rows.append(
                {
                    "id": r["id"],
                    "title": r["title"],
                    "paragraphs": r["paragraphs"],
                    "url": r["url"],
                    "source": r["source"],
                    "lang": r["lang"],
                    "published_at": r["date"],
                }
            )
            if limit and len(rows) >= limit:
                break
    return rows


def _cpu() -> float:
    """CPU seconds of this process (all its threads) and of its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def tokenizer_rate(rows: list[dict[str, object]]) -> tuple[float, float]:
    """Docs per wall-clock second and per CPU second."""
    texts = [f"{r['title']}\n" + "\n".join(r["paragraphs"]) for r in rows]  # type: ignore[arg-type]
    start, cpu = time.perf_counter(), _cpu()
    for text in texts:
        tokenize(text)
    return len(rows) / (time.perf_counter() - start), len(rows) / (_cpu() - cpu)


def ingest_rate(path: Path, n: int, workers: int, tmp: Path) -> tuple[float, float, dict[str, int]]:
    """Docs per wall-clock second and per CPU second (workers included), and outcomes."""
    home = Path(tempfile.mkdtemp(dir=tmp))
    settings = load_settings(home=home, overrides={"ingest_workers": workers}, environ={})
    with open_engine(settings) as engine:
        start, cpu = time.perf_counter(), _cpu()
        report = engine.ingest_paths([path])
        elapsed, used = time.perf_counter() - start, _cpu() - cpu
        status = engine.status()
    assert status["indexed"] == status["documents"], status
    return n / elapsed, n / used, report.counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N stories")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="0,1", help="ingest_workers settings to compare")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"evaluation data not found at {DATA}", file=sys.stderr)
        return 2
    rows = load(args.limit)
    settings = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        path = tmp / "stories.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        tok_wall: list[float] = []
        tok_cpu: list[float] = []
        wall: dict[int, list[float]] = {w: [] for w in settings}
        cpu: dict[int, list[float]] = {w: [] for w in settings}
        wall_ratio: dict[int, list[float]] = {w: [] for w in settings}
        cpu_ratio: dict[int, list[float]] = {w: [] for w in settings}
        for rnd in range(1, args.rounds + 1):
            for w in settings:
                # The tokenizer runs right before each ingest, so both see the same load.
                t_wall, t_cpu = tokenizer_rate(rows)
                tok_wall.append(t_wall)
                tok_cpu.append(t_cpu)
                i_wall, i_cpu, counts = ingest_rate(path, len(rows), w, tmp)
                wall[w].append(i_wall)
                cpu[w].append(i_cpu)
                wall_ratio[w].append(i_wall / t_wall)
                cpu_ratio[w].append(i_cpu / t_cpu)
                busy = os.getloadavg()[0]
                print(
                    f"round {rnd} workers={w}: tokenizer {t_wall:6.0f} docs/s "
                    f"({t_cpu:6.0f}/cpu-s) | ingest {i_wall:5.0f} docs/s ({i_cpu:5.0f}/cpu-s)"
                    f" | ratio wall {i_wall / t_wall:6.1%} cpu {i_cpu / t_cpu:6.1%}"
                    f" | load {busy:.1f} | {counts}",
                    flush=True,
                )
    med = statistics.median
    print(f"\n{len(rows)} stories, {args.rounds} rounds, medians:")
    print(f"  bare tokenizer        {med(tok_wall):7.0f} docs/s   {med(tok_cpu):7.0f} docs/cpu-s")
    for w in settings:
        print(
            f"  ingest (workers={w})   {med(wall[w]):7.0f} docs/s   {med(cpu[w]):7.0f} docs/cpu-s"
            f"   ratio wall {med(wall_ratio[w]):6.1%}  cpu {med(cpu_ratio[w]):6.1%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
