"""Ingest throughput with 1, 2 and 3 ``newsdesk worker`` processes, side by side in one run.

Real CCTV 新闻联播 stories from ``../shared/data`` are written as JSONL files of
``--per-file`` documents (in a temporary folder, never in the repository) and
queued as file jobs; then ``k`` worker processes, each with its own home as on
separate machines, drain the queue with ``--until-idle``. Throughput is stored
documents per wall-clock second from the first worker's start to the last one's
exit (start-up included, as a deployment pays it). In the same run, for each round:

- baseline: one plain ``newsdesk ingest`` of the same files into a SQLite home (the
  embedded default, with its forked helper processes);
- PostgreSQL store: 1, 2 and 3 workers, a fresh database each time;
- SQLite store: 1, 2 and 3 workers sharing one home (one machine).

Embeddings use the in-package ``hashing`` embedder, so the figures are the ingest
pipeline and the store (with the default embedder every configuration is bound by
the ~100 documents/s it embeds on two cores).

    .venv/bin/python bench/workers.py --pg-url postgresql://... --docs 4000 --rounds 2
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def write_inputs(folder: Path, n: int, per_file: int) -> list[str]:
    rows = []
    with gzip.open(ROOT / "cctv_xwlb" / "xwlb_stories.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            s = json.loads(line)
            if s.get("paragraphs"):
                rows.append(
                    {
                        "id": f"cctv-{s['id']}",
                        "title": s["title"],
                        "paragraphs": s["paragraphs"],
                        "published_at": s["date"],
                        "source": "CCTV",
                        "lang": "zh",
                    }
                )
            if len(rows) >= n:
                break
    paths = []
    for i in range(0, len(rows), per_file):
        path = folder / f"part{i // per_file:04d}.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for row in rows[i : i + per_file]:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        paths.append(str(path))
    return paths


def cli(home: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from newsdesk.cli import main; main()",
        "--home",
        str(home),
        *args,
    ]


def env(store_url: str = "") -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}
    out["NEWSDESK_EMBEDDER"] = "hashing"
    if store_url:
        out["NEWSDESK_STORE_URL"] = store_url
    return out


def fresh_db(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def count_pg(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT COUNT(*) FROM documents").fetchone()
    return int(row[0]) if row else 0


def count_sqlite(home: Path) -> int:
    conn = sqlite3.connect(home / "newsdesk.sqlite3")
    try:
        return int(conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
    finally:
        conn.close()


def run_workers(k: int, homes: list[Path], store_url: str, files: list[str]) -> float:
    """Queue ``files``, run ``k`` workers until idle; returns wall seconds."""
    queued = subprocess.run(
        cli(homes[0], "ingest", "--queue", *files), env=env(store_url), capture_output=True
    )
    assert queued.returncode == 0, queued.stderr
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            cli(homes[i], "worker", "--until-idle", "--idle-sleep", "0.1", "--json"),
            env=env(store_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        for i in range(k)
    ]
    for p in procs:
        out, _ = p.communicate()
        assert p.returncode == 0
        report = json.loads(out)
        assert report["jobs_failed"] == 0, report
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg-url", required=True, help="admin URL of a PostgreSQL server")
    ap.add_argument("--docs", type=int, default=4000)
    ap.add_argument("--per-file", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--counts", default="1,2,3")
    ap.add_argument("--no-sqlite-workers", action="store_true")
    args = ap.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    work = Path(tempfile.mkdtemp(prefix="newsdesk-bench-workers-"))
    inputs = work / "in"
    inputs.mkdir()
    files = write_inputs(inputs, args.docs, args.per_file)
    results: dict[str, list[float]] = {}

    def record(name: str, docs: int, seconds: float) -> None:
        rate = docs / seconds
        results.setdefault(name, []).append(rate)
        load = os.getloadavg()[0]
        print(
            f"  {name:<28} {docs:6d} docs in {seconds:6.1f} s = {rate:6.1f} docs/s"
            f" (load {load:.1f})",
            file=sys.stderr,
        )

    try:
        for r in range(1, args.rounds + 1):
            print(f"round {r}", file=sys.stderr)
            home = work / f"base-{r}"
            t0 = time.perf_counter()
            done = subprocess.run(
                cli(home, "ingest", *files, "--json"), env=env(), capture_output=True
            )
            assert done.returncode == 0, done.stderr
            record("baseline: ingest (SQLite)", count_sqlite(home), time.perf_counter() - t0)
            for k in counts:
                url = fresh_db(args.pg_url, "newsdesk_bench_workers")
                homes = [work / f"pg-{r}-{k}-{i}" for i in range(k)]
                seconds = run_workers(k, homes, url, files)
                record(f"PostgreSQL, {k} worker(s)", count_pg(url), seconds)
            if not args.no_sqlite_workers:
                for k in counts:
                    home = work / f"sq-{r}-{k}"
                    seconds = run_workers(k, [home] * k, "", files)
                    record(f"SQLite, {k} worker(s)", count_sqlite(home), seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        json.dumps(
            {
                "docs": args.docs,
                "files": len(files),
                "rounds": args.rounds,
                "median_docs_per_s": {
                    k: round(statistics.median(v), 1) for k, v in results.items()
                },
                "all_docs_per_s": {k: [round(x, 1) for x in v] for k, v in results.items()},
            },
            indent=2,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
