"""Ingest throughput beside the bare tokenizer, on the 19,876 real CCTV stories.

Usage (from the repository root)::

    git archive <baseline-commit> src | tar -x -C /tmp/ingest-baseline
    .venv/bin/python bench/ingest.py [--limit N] [--rounds 3] [--workers 1] \\
        [--baseline-src /tmp/ingest-baseline/src]

Each round and each ``--workers`` setting, one right after the other so that all
see the same machine load: the bare tokenizer (``newsdesk.text.tokenize``) over
every story's title and body in this process, then (with ``--baseline-src``) a full
ingest by the baseline code, then one by this tree's code, each in a child process
of its own into a fresh home (JSONL file -> validated documents -> fingerprints ->
index terms -> summaries -> SQLite -> tantivy; no embeddings: ``embedder = none``).

For this tree's code two figures are taken: **searchable** (``ingest_paths`` with
``defer_summaries=True`` returns: every document stored and indexed, its summary
made on demand if it is shown) and **summarized** (then ``summarize_pending``, the
catch-up that the ingest command runs next, or a server in the background). The
baseline makes summaries inside ingest, so its one figure is both. Throughput is
per wall-clock second and per CPU second (the child's threads and its workers).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cctv_xwlb"
SRC = Path(__file__).resolve().parents[1] / "src"


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
    from newsdesk.text import tokenize

    texts = [f"{r['title']}\n" + "\n".join(r["paragraphs"]) for r in rows]  # type: ignore[arg-type]
    start, cpu = time.perf_counter(), _cpu()
    for text in texts:
        tokenize(text)
    return len(rows) / (time.perf_counter() - start), len(rows) / (_cpu() - cpu)


def child(path: Path, home: Path, workers: int) -> None:
    """One ingest in this (child) process; prints its timings as JSON."""
    from newsdesk import load_settings, open_engine

    overrides: dict[str, object] = {"ingest_workers": workers, "embedder": "none"}
    settings = load_settings(home=home, overrides=overrides, environ={})
    out: dict[str, object] = {}
    with open_engine(settings) as engine:
        deferrable = hasattr(engine, "summarize_pending")
        start, cpu = time.perf_counter(), _cpu()
        if deferrable:
            report = engine.ingest_paths([path], defer_summaries=True)
        else:
            report = engine.ingest_paths([path])
        out["searchable"] = (time.perf_counter() - start, _cpu() - cpu)
        if deferrable:
            engine.summarize_pending()
        out["summarized"] = (time.perf_counter() - start, _cpu() - cpu)
        status = engine.status()
    assert status["indexed"] == status["documents"], status
    assert status["summarized"] == status["documents"], status
    out["counts"] = report.counts
    print(json.dumps(out))


def run_child(src: Path, path: Path, tmp: Path, workers: int) -> dict[str, object]:
    home = Path(tempfile.mkdtemp(dir=tmp))
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, __file__, "--child", str(path), "--home", str(home)]
    cmd += ["--workers", str(workers)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"ingest child failed ({src}):\n{done.stderr}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N stories")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="1", help="ingest_workers settings to compare")
    parser.add_argument("--baseline-src", type=Path, default=None, help="src/ of the baseline")
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.home, int(args.workers))
        return 0
    if not DATA.exists():
        print(f"evaluation data not found at {DATA}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(SRC))
    rows = load(args.limit)
    settings = [int(w) for w in args.workers.split(",")]
    codes = {"ours": SRC}
    if args.baseline_src is not None:
        codes = {"baseline": args.baseline_src.resolve(), **codes}
    series: dict[tuple[str, int, str], list[float]] = {}

    def note(key: tuple[str, int, str], value: float) -> None:
        series.setdefault(key, []).append(value)

    tok: list[float] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        path = tmp / "stories.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        n = len(rows)
        for rnd in range(1, args.rounds + 1):
            for w in settings:
                # The tokenizer runs right before the ingests, so all see the same load.
                t_wall, t_cpu = tokenizer_rate(rows)
                tok.append(t_wall)
                line = f"round {rnd} workers={w}: tokenizer {t_wall:5.0f}/s"
                for name, src in codes.items():
                    got = run_child(src, path, tmp, w)
                    for phase in ("searchable", "summarized"):
                        wall, cpu = got[phase]  # type: ignore[misc]
                        note((name, w, phase), (n / wall) / t_wall)
                        note((name, w, phase + "-cpu"), (n / cpu) / t_cpu)
                        note((name, w, phase + "-rate"), n / wall)
                    s_wall = got["searchable"][0]  # type: ignore[index]
                    a_wall = got["summarized"][0]  # type: ignore[index]
                    line += (
                        f" | {name}: searchable {n / s_wall:4.0f}/s ({n / s_wall / t_wall:5.1%})"
                        f" summarized {n / a_wall:4.0f}/s ({n / a_wall / t_wall:5.1%})"
                    )
                print(f"{line} | load {os.getloadavg()[0]:.1f} | {got['counts']}", flush=True)
    med = statistics.median
    print(f"\n{len(rows)} stories, {args.rounds} rounds, medians (ratio = ingest / tokenizer):")
    print(f"  bare tokenizer {med(tok):6.0f} docs/s")
    for w in settings:
        for name in codes:
            for phase in ("searchable", "summarized"):
                rate = med(series[(name, w, phase + "-rate")])
                print(
                    f"  {name:8s} workers={w} {phase:10s} {rate:5.0f}"
                    f" docs/s  ratio wall {med(series[(name, w, phase)]):6.1%}"
                    f"  cpu {med(series[(name, w, phase + '-cpu')]):6.1%}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
