"""Hybrid search at 100k documents: this tree against a baseline tree, side by side.

    .venv/bin/python bench/million.py --docs 100000 --build-only          # once
    .venv/bin/newsdesk --home ~/.cache/newsdesk-bench/home-use-100000 \\
        summarize --all --translator none                                 # once
    git worktree add --detach /tmp/newsdesk-base <baseline commit>
    .venv/bin/python bench/hybrid_speed.py --docs 100000 --baseline /tmp/newsdesk-base

The home is the one bench/million.py builds (texts mixed from a real subset of
../shared/data, vectors derived from its real USE-m3 embeddings, the HNSW graph above
50k documents); every document has its extractive summary, as after a normal ingest.
Each tree runs in its own processes on that home, its code put first on the import
path (``PYTHONPATH=<tree>/src``); the trees alternate, ``--repeats`` times.

Queries: the 16 Chinese and English queries of bench/web_load.py ("repeated": a
rotation, as a user paging or a followed topic repeats a query) and a pool of distinct
queries made from the titles of the real subset ("new": each asked once, so no cache
of query vectors can answer it).

1. In process (``Engine.search``): p50 wall and CPU time of a hybrid search, new and
   repeated; a lexical search; one query embedding.
2. ``newsdesk serve`` on 127.0.0.1, ``/api/v1/search``: p50 with one client on one
   connection (new and repeated queries), then ``--clients`` clients for ``--seconds``
   (new, then repeated): requests/s, p50 and the server's CPU time per request.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from million_data import CACHE, real_subset
from web_load import QUERIES, free_port

ROOT = Path(__file__).resolve().parents[1]
# New queries timed one at a time (in process and with one client); the rest of the
# pool feeds the concurrent clients.
SINGLE = 200


def query_pool(n: int) -> list[str]:
    """``n`` distinct queries from the real subset's titles (zh: 4-6 Chinese
    characters, en: two or three words), none of them one of :data:`QUERIES`."""
    seen = set(QUERIES)
    out: list[str] = []
    for title, _, lang in real_subset(2000):
        if lang == "zh":
            text = "".join(ch for ch in title if "\u4e00" <= ch <= "\u9fff")
            candidates = [text[:4], text[:6], text[2:6]]
        else:
            words = [w for w in title.lower().replace(",", " ").split() if w.isalpha()]
            candidates = [" ".join(words[:2]), " ".join(words[1:3]), " ".join(words[:3])]
        for q in candidates:
            if len(q) >= 2 and q not in seen:
                seen.add(q)
                out.append(q)
    if len(out) < n:
        raise SystemExit(f"only {len(out)} distinct queries, {n} asked")
    return out[:n]


def p50(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 2)


def in_process(home: Path, rounds: int, new: list[str]) -> dict[str, float]:
    """Runs in a worker process whose import path starts with the tree measured."""
    from newsdesk import SearchRequest, load_settings, open_engine

    settings = load_settings(home=home, environ={"NEWSDESK_EMBEDDER": "use-m3"})
    engine = open_engine(settings)
    vectors = engine.searcher.vectors
    assert vectors is not None and vectors.usable
    clear = getattr(vectors, "clear_query_cache", lambda: None)
    for q in QUERIES:  # load the model, touch the files
        engine.search(q)

    def timed(items: list[str], run: object) -> tuple[float, float]:
        wall, cpu = [], []
        for q in items:
            t, c = time.perf_counter(), time.process_time()
            run(q)  # type: ignore[operator]
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        return p50(wall), p50(cpu)

    def hybrid_new(q: str) -> None:
        clear()
        r = engine.search(q)
        assert r.retrieval == "hybrid", r.retrieval

    def embed(q: str) -> None:
        clear()
        vectors.embed_query(q)

    out = {}
    out["hybrid_new_ms"], out["hybrid_new_cpu_ms"] = timed(new, hybrid_new)
    out["hybrid_repeated_ms"], out["hybrid_repeated_cpu_ms"] = timed(
        QUERIES * rounds, engine.search
    )
    out["lexical_ms"], out["lexical_cpu_ms"] = timed(
        QUERIES * rounds, lambda q: engine.search(SearchRequest(q, mode="lexical"))
    )
    out["embed_ms"], out["embed_cpu_ms"] = timed(new, embed)
    return out


async def _clients(
    base: str, queries: Iterator[str], clients: int, seconds: float
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def one() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, timeout=60.0) as http:
            while time.perf_counter() < deadline:
                q = next(queries)
                t = time.perf_counter()
                try:
                    r = await http.get("/api/v1/search", params={"q": q})
                    errors += r.status_code != 200
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - t)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return {"rps": round(len(latencies) / elapsed, 1), "p50_ms": p50(latencies), "errors": errors}


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server(
    tree: Path, home: Path, rounds: int, new: list[str], clients: int, seconds: float
) -> dict[str, float]:
    env = dict(os.environ, NEWSDESK_EMBEDDER="use-m3", PYTHONPATH=str(tree / "src"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [ROOT / ".venv" / "bin" / "newsdesk", "--home", home, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    out: dict[str, float] = {}
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError("the server exited")
            try:
                if httpx.get(base + "/api/v1/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        for q in QUERIES:
            httpx.get(base + "/api/v1/search", params={"q": q}, timeout=60).raise_for_status()

        def single(items: list[str]) -> float:
            wall = []
            with httpx.Client(base_url=base, timeout=60) as http:  # one connection
                for q in items:
                    t = time.perf_counter()
                    r = http.get("/api/v1/search", params={"q": q})
                    wall.append(time.perf_counter() - t)
                    r.raise_for_status()
                    assert r.json()["retrieval"] == "hybrid" or q.startswith('"'), q
            return p50(wall)

        out["api_new_ms"] = single(new[:SINGLE])
        out["api_repeated_ms"] = single(QUERIES * rounds)
        for name, source in (
            ("new", iter(new[SINGLE:])),
            ("repeated", itertools.cycle(QUERIES)),
        ):
            # The pool of new queries wraps around only if it runs out (reported).
            source = itertools.chain(source, itertools.cycle(new)) if name == "new" else source
            cpu = server_cpu(proc.pid)
            m = asyncio.run(_clients(base, source, clients, seconds))
            requests = max(1.0, m["rps"] * seconds)
            out[f"api{clients}_{name}_server_cpu_ms"] = round(
                (server_cpu(proc.pid) - cpu) / requests * 1000, 1
            )
            out[f"api{clients}_{name}_rps"] = m["rps"]
            out[f"api{clients}_{name}_p50_ms"] = m["p50_ms"]
            out[f"api{clients}_{name}_errors"] = m["errors"]
            if name == "new":
                out[f"api{clients}_new_requests"] = round(m["rps"] * seconds)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--baseline", type=Path, help="a checkout of the baseline (required)")
    ap.add_argument("--rounds", type=int, default=3, help="passes over the repeated queries")
    ap.add_argument("--new", type=int, default=1500, help="distinct new queries")
    ap.add_argument("--repeats", type=int, default=2, help="baseline/ours alternations")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    home = CACHE / f"home-use-{args.docs}"
    new = query_pool(args.new)
    if args.worker:
        print(json.dumps(in_process(home, args.rounds, new[:SINGLE])))
        return 0
    if args.baseline is None:
        ap.error("--baseline is required")
    if not (home / "newsdesk.sqlite3").exists():
        print(f"build the home first: bench/million.py --docs {args.docs} --build-only")
        return 2
    trees = {"baseline": args.baseline.resolve(), "ours": ROOT}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    print(f"documents: {args.docs}, cores: {os.cpu_count()}, load: {os.getloadavg()[0]:.1f}")
    for repeat in range(args.repeats):
        order = list(trees) if repeat % 2 == 0 else list(reversed(trees))
        for name in order:
            tree = trees[name]
            env = dict(os.environ, PYTHONPATH=f"{tree / 'src'}{os.pathsep}{ROOT / 'bench'}")
            worker = subprocess.run(
                [sys.executable, __file__, "--worker", "--docs", str(args.docs),
                 "--rounds", str(args.rounds), "--new", str(args.new)],
                env=env, capture_output=True, text=True,
            )  # fmt: skip
            if worker.returncode:
                raise SystemExit(f"{name}: the in-process run failed\n{worker.stderr}")
            row = json.loads(worker.stdout.strip().splitlines()[-1])
            # Each server is a new process: the same new queries are new to each.
            row |= server(tree, home, args.rounds, new, args.clients, args.seconds)
            row["load"] = round(os.getloadavg()[0], 1)
            results[name].append(row)
            print(name, json.dumps(row), flush=True)
    print("\n| measure | baseline p50 | ours p50 | ours / baseline |\n|---|---:|---:|---:|")
    for key in results["ours"][0]:
        base = statistics.median(r[key] for r in results["baseline"])
        ours = statistics.median(r[key] for r in results["ours"])
        ratio = f"{ours / base:.2f}" if base else ""
        print(f"| {key} | {base:g} | {ours:g} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
